using ILGPU;

namespace JointDiffusion.Kernels;

/// <summary>
/// Hyper-parameters of one Adam step (Kingma &amp; Ba 2015, as PyTorch's torch.optim.Adam without weight decay),
/// with the bias corrections 1 − β1^t and 1 − β2^t of step t precomputed on the host.
/// </summary>
/// <param name="LearningRate">lr.</param>
/// <param name="Beta1">β1.</param>
/// <param name="Beta2">β2.</param>
/// <param name="Epsilon">ε added to √v̂.</param>
/// <param name="Correction1">1 − β1^t.</param>
/// <param name="Correction2">1 − β2^t.</param>
public readonly record struct AdamStep(float LearningRate, float Beta1, float Beta2, float Epsilon, float Correction1, float Correction2)
{
    /// <summary>Step <paramref name="t"/> (1-based) with the given settings.</summary>
    public static AdamStep At(long t, float learningRate, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f) =>
        new(learningRate, beta1, beta2, epsilon, (float)(1 - Math.Pow(beta1, t)), (float)(1 - Math.Pow(beta2, t)));
}

/// <summary>Optimizer kernels: the fused Adam update, one thread per parameter.</summary>
public static class OptimizerKernels
{
    /// <summary>
    /// m ← β1 m + (1 − β1) g; v ← β2 v + (1 − β2) g²; p ← p − lr · (m / c1) / (√(v / c2) + ε).
    /// </summary>
    public static void AdamUpdate(Index1D index, ArrayView<float> parameter, ArrayView<float> gradient, ArrayView<float> m, ArrayView<float> v, AdamStep step)
    {
        int i = index;
        if (i < parameter.IntLength)
        {
            float g = gradient[i];
            float mi = step.Beta1 * m[i] + (1f - step.Beta1) * g;
            float vi = step.Beta2 * v[i] + (1f - step.Beta2) * g * g;
            m[i] = mi;
            v[i] = vi;
            parameter[i] -= step.LearningRate * (mi / step.Correction1) / (MathF.Sqrt(vi / step.Correction2) + step.Epsilon);
        }
    }
}
