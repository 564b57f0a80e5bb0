using JointDiffusion.Kernels;

namespace JointDiffusion.Gpu.Data;

/// <summary>
/// The random draws of one noise image: draw <c>j</c> of image <c>index</c> is Philox4x32-10 under a key made
/// from (seed, stream) at counter <c>index · 2³² + j</c>, so every image is reproducible from (seed, index)
/// alone, in any order and on any thread. Each generator draws from its own stream tag, so one seed shared by
/// stacked generators (channel choice, then translation) still gives independent draws.
/// </summary>
internal readonly struct NoiseRandom
{
    private readonly ulong _key;
    private readonly ulong _counterBase;

    /// <summary>The draws of image <paramref name="index"/> under <paramref name="seed"/> on stream <paramref name="stream"/>.</summary>
    public NoiseRandom(ulong seed, ulong stream, int index)
    {
        _key = SplitMix64(seed ^ SplitMix64(stream));
        _counterBase = (ulong)(uint)index << 32;
    }

    /// <summary>Draw <paramref name="j"/> as a uniform number in (0, 1) with 24 random bits.</summary>
    public double Uniform(int j) => Philox.Uniform(_key, _counterBase | (uint)j);

    /// <summary>Draw <paramref name="j"/> as a uniform number in [<paramref name="low"/>, <paramref name="high"/>].</summary>
    public double Uniform(int j, double low, double high) => low + ((high - low) * Uniform(j));

    /// <summary>
    /// A uniform integer in [0, <paramref name="n"/>) from draws <paramref name="j"/> and <paramref name="j"/> + 1:
    /// their 2 × 24 bits (a little under 48 random bits, as float rounding merges neighbours in the upper half of
    /// each 24-bit range) reduced modulo n, so the bias is of order n / 2⁴⁶: negligible for any image count.
    /// </summary>
    public int Below(int j, int n)
    {
        ulong high = (ulong)(Uniform(j) * 16777216.0);
        ulong low = (ulong)(Uniform(j + 1) * 16777216.0);
        return (int)(((high << 24) | low) % (ulong)n);
    }

    // SplitMix64 finaliser (Steele et al. 2014): spreads a seed and a small stream tag over all 64 key bits.
    private static ulong SplitMix64(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
