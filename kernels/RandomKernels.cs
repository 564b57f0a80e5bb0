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

    /// <summary>
    /// y[i] = Philox.Gaussian(seed_o, offset + i − o·block) with o = i / block and seed_o the 64-bit value whose low and
    /// high halves are the bit patterns of seeds[2o] and seeds[2o + 1].
    /// </summary>
    public static void GaussianBlocks(Index1D index, ArrayView<float> y, ArrayView<float> seeds, int block, ulong offset)
    {
        int i = index;
        if (i < y.IntLength)
        {
            int o = i / block;
            ulong seed = (uint)Interop.FloatAsInt(seeds[2 * o]) | ((ulong)(uint)Interop.FloatAsInt(seeds[2 * o + 1]) << 32);
            y[i] = Philox.Gaussian(seed, offset + (ulong)(i - o * block));
        }
    }
}
