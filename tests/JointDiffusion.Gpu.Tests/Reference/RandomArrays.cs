namespace JointDiffusion.Gpu.Tests.Reference;

/// <summary>
/// Seeded random test inputs. Every value is representable in float32, so a backend that receives the data
/// as float sees exactly the numbers the double reference uses.
/// </summary>
public static class RandomArrays
{
    /// <summary>Values uniform in [lo, hi).</summary>
    public static double[] Uniform(int seed, int length, double lo = -1.0, double hi = 1.0)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (double)(float)(lo + (hi - lo) * rng.NextDouble())).ToArray();
    }

    /// <summary>Values uniform in ±[margin, 1): no value within <paramref name="margin"/> of 0 (for kinks at 0).</summary>
    public static double[] AwayFromZero(int seed, int length, double margin)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, length)
            .Select(_ => (double)(float)((rng.Next(2) == 0 ? -1 : 1) * (margin + (1 - margin) * rng.NextDouble())))
            .ToArray();
    }

    /// <summary>
    /// A random permutation of 0, spacing, 2·spacing, …: all values distinct with gaps of
    /// <paramref name="spacing"/>, so no max-pool window has a tie and a perturbation smaller than the gap
    /// cannot change a window's argmax.
    /// </summary>
    public static double[] DistinctPermutation(int seed, int length, double spacing)
    {
        var rng = new Random(seed);
        var values = Enumerable.Range(0, length).Select(i => (double)(float)(i * spacing - length * spacing / 2)).ToArray();
        rng.Shuffle(values);
        return values;
    }

    /// <summary>Small integers in [0, levels): many exact ties, to pin down the first-maximum rule.</summary>
    public static double[] FewLevels(int seed, int length, int levels)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (double)rng.Next(levels)).ToArray();
    }

    /// <summary>
    /// NCHW input for InstanceNorm++: plane (b, c) is offset_bc + scale_bc·u with offset in [−1, 1), scale in
    /// [scaleLo, scaleHi) and u uniform in [−1, 1). Distinct channel offsets keep the variance of the channel means
    /// O(1), so mhat is well conditioned; a small scale makes ε matter in the instance normalisation.
    /// </summary>
    public static double[] ChannelOffsetScaled(int seed, int n, int c, int hw, double scaleLo, double scaleHi)
    {
        var rng = new Random(seed);
        var x = new double[n * c * hw];
        for (int plane = 0; plane < n * c; plane++)
        {
            double offset = 2 * rng.NextDouble() - 1, scale = scaleLo + (scaleHi - scaleLo) * rng.NextDouble();
            for (int i = 0; i < hw; i++)
            {
                x[plane * hw + i] = (float)(offset + scale * (2 * rng.NextDouble() - 1));
            }
        }

        return x;
    }

    /// <summary>Elementwise absolute values: the magnitudes that bound floating-point error of sums of products.</summary>
    public static double[] Abs(double[] x) => x.Select(Math.Abs).ToArray();
}
