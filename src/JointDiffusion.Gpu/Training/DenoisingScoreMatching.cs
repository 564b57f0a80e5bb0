using JointDiffusion.Gpu.Autodiff;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Nn;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Training;

/// <summary>
/// The denoising score-matching loss of NCSNV2.md §4 (the same in ermongroup, score_sde and joint-diffusion):
/// L = mean_b ½ Σ_{c,h,w} (s(x0_b + σ_b z_b, σ_b)·σ_b + z_b)².
/// </summary>
public static class DenoisingScoreMatching
{
    /// <summary>
    /// Evaluates the loss on a batch and accumulates ∂L/∂θ into <paramref name="gradients"/> (parameter tensor →
    /// gradient tensor; zero them first). Returns L (this synchronises with the device).
    /// </summary>
    public static float LossAndGradients(Ncsnv2 net, Tensor x0, Tensor z, ReadOnlySpan<float> sigma, IReadOnlyDictionary<Tensor, Tensor> gradients)
    {
        var backend = net.Backend;
        int b = x0.Shape.N;
        if (z.Shape != x0.Shape || sigma.Length != b)
        {
            throw new ArgumentException($"DSM needs z shaped like x0 {x0.Shape} and one σ per sample; got z {z.Shape} and {sigma.Length} σ.");
        }

        var inv = new float[b];
        var sigmaOverB = new float[b];
        for (int i = 0; i < b; i++)
        {
            inv[i] = 1f / sigma[i];
            sigmaOverB[i] = sigma[i] / b;
        }

        using var sigmaT = backend.FromHost(sigma, new Shape(b));
        using var invT = backend.FromHost(inv, new Shape(b));
        using var sigmaOverBT = backend.FromHost(sigmaOverB, new Shape(b));
        using var xNoisy = backend.Allocate(x0.Shape);
        using var residual = backend.Allocate(x0.Shape);
        using var tape = new Tape(backend);

        // x = x0 + σ z
        backend.Copy(x0, xNoisy);
        backend.AxpyPerSample(1f, sigmaT, z, xNoisy);
        var s = net.Forward(tape.Input(xNoisy, false), invT, ParameterBinding.Trainable(tape, gradients));

        // r = s·σ + z; L = (1/B) Σ ½ r²; ∂L/∂s = r·σ/B
        backend.ScalePerSample(s.Value, sigmaT, residual);
        backend.Axpy(1f, z, residual);
        float loss = 0.5f * backend.Dot(residual, residual) / b;
        backend.ScalePerSample(residual, sigmaOverBT, residual);
        tape.Backward(s, residual);
        return loss;
    }
}
