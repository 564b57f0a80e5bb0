using ILGPU;

namespace JointDiffusion.Kernels;

/// <summary>ELU (α = 1) forward and backward, one thread per element.</summary>
public static class EluKernels
{
    /// <summary>y = x if x &gt; 0 else exp(x) − 1 (y may be x).</summary>
    public static void Forward(Index1D index, ArrayView<float> x, ArrayView<float> y)
    {
        int i = index;
        if (i < y.IntLength)
        {
            float v = x[i];
            y[i] = v > 0f ? v : MathF.Exp(v) - 1f;
        }
    }

    /// <summary>dx (+)= dy·ELU'(x) with ELU'(x) = 1 for x &gt; 0 else exp(x); <paramref name="accumulate"/> ≠ 0 adds.</summary>
    public static void Backward(Index1D index, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dx, int accumulate)
    {
        int i = index;
        if (i < dx.IntLength)
        {
            float v = x[i];
            float d = v > 0f ? dy[i] : dy[i] * MathF.Exp(v);
            dx[i] = accumulate != 0 ? dx[i] + d : d;
        }
    }

    /// <summary>
    /// dx (+)= dy·ELU'(x) from the output y = ELU(x): ELU'(x) = 1 where y &gt; 0, else y + 1 (= exp(x)), no exp;
    /// <paramref name="accumulate"/> ≠ 0 adds. A NaN y fails the comparison and gives dy·NaN.
    /// </summary>
    public static void BackwardFromOutput(Index1D index, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int accumulate)
    {
        int i = index;
        if (i < dx.IntLength)
        {
            float v = y[i];
            float d = v > 0f ? dy[i] : dy[i] * (v + 1f);
            dx[i] = accumulate != 0 ? dx[i] + d : d;
        }
    }
}
