using ILGPU;

namespace JointDiffusion.Kernels;

/// <summary>Counter-based Gaussian noise: element i is <see cref="Philox.Gaussian"/>(seed, offset + i), as on every backend.</summary>
public static class RandomKernels
{
    /// <summary>y[i] = Philox.Gaussian(seed, offset + i).</summary>
    public static void Gaussian(Index1D index, ArrayView<float> y, ulong seed, ulong offset)
    {
        int i = index;
        if (i < y.IntLength)
        {
            y[i] = Philox.Gaussian(seed, offset + (ulong)i);
        }
    }
}
