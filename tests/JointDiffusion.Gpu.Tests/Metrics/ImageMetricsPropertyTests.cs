using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Metrics;

namespace JointDiffusion.Gpu.Tests.Metrics;

/// <summary>Properties of PSNR, SSIM and gCNR that hold for any input, and the refusals.</summary>
public sealed class ImageMetricsPropertyTests
{
    private static float[] Uniform(int seed, int length)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, length).Select(_ => random.NextSingle())];
    }

    private static float[] Gaussian(int seed, int length, double mean)
    {
        var random = new Random(seed);
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            // Box–Muller; 1 - NextDouble() is in (0, 1], so the log is finite.
            double r = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble()));
            values[i] = (float)(mean + (r * Math.Cos(2 * Math.PI * random.NextDouble())));
        }

        return values;
    }

    [Fact]
    public void Psnr_OfIdenticalImages_IsPositiveInfinity()
    {
        float[] image = Uniform(1, 3 * 16 * 16);

        Assert.Equal(double.PositiveInfinity, ImageMetrics.Psnr(image, image));
    }

    [Fact]
    public void Psnr_OfConstantOffset_IsTenLog10RangeSquaredOverOffsetSquared()
    {
        // Multiples of 1/64 plus 1/4 are exact in float, so the MSE is exactly 1/16.
        float[] truth = [.. Enumerable.Range(0, 48).Select(i => i / 64f)];
        float[] estimate = [.. truth.Select(v => v + 0.25f)];

        Assert.Equal(10 * Math.Log10(16), ImageMetrics.Psnr(estimate, truth), 1e-12);
        Assert.Equal(10 * Math.Log10(4 * 16), ImageMetrics.Psnr(estimate, truth, dataRange: 2), 1e-12);
    }

    [Fact]
    public void Psnr_RefusesMismatchedEmptyOrBadRange()
    {
        Assert.Throws<ArgumentException>(() => ImageMetrics.Psnr(new float[4], new float[5]));
        Assert.Throws<ArgumentException>(() => ImageMetrics.Psnr([], []));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageMetrics.Psnr(new float[4], new float[4], 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageMetrics.Psnr(new float[4], new float[4], double.NaN));
        Assert.Throws<ArgumentException>(() => ImageMetrics.Psnr(new PlanarImage(1, 4, 6), new PlanarImage(1, 6, 4)));
    }

    [Fact]
    public void Ssim_OfIdenticalImages_IsExactlyOne()
    {
        // With x = y the numerator and denominator of eq. 13 are the same floating-point expression.
        float[] image = Uniform(2, 3 * 16 * 20);

        Assert.Equal(1.0, ImageMetrics.Ssim(image, image, 3, 16, 20));
    }

    [Fact]
    public void Ssim_IsSymmetric()
    {
        // Every term of eq. 13 is symmetric in x and y, and IEEE + and × commute, so the equality is exact.
        float[] a = Uniform(3, 2 * 13 * 17);
        float[] b = Uniform(4, 2 * 13 * 17);

        Assert.Equal(ImageMetrics.Ssim(a, b, 2, 13, 17), ImageMetrics.Ssim(b, a, 2, 13, 17));
    }

    [Fact]
    public void Ssim_OfRgb_IsMeanOfChannelSsims()
    {
        var estimate = new PlanarImage(Uniform(5, 3 * 12 * 15), 3, 12, 15);
        var truth = new PlanarImage(Uniform(6, 3 * 12 * 15), 3, 12, 15);
        double perChannel = 0;
        for (int c = 0; c < 3; c++)
        {
            perChannel += ImageMetrics.Ssim(estimate.Pixels.AsSpan(c * 180, 180), truth.Pixels.AsSpan(c * 180, 180), 1, 12, 15);
        }

        // Same per-channel values, summed in the same order; only the division by 3 may round differently.
        Assert.Equal(perChannel / 3, ImageMetrics.Ssim(estimate, truth), 1e-15);
    }

    [Fact]
    public void Ssim_FallsAsNoiseGrows()
    {
        float[] truth = [.. Enumerable.Range(0, 24 * 24).Select(i => 0.5f + (0.3f * MathF.Sin(i % 24 / 3f) * MathF.Cos(i / 24 / 4f)))];
        float[] noise = Gaussian(7, 24 * 24, 0);
        double[] ssims = [.. new[] { 0.01f, 0.05f, 0.2f }.Select(s =>
            ImageMetrics.Ssim([.. truth.Zip(noise, (t, n) => t + (s * n))], truth, 1, 24, 24))];

        Assert.True(ssims[0] < 1 && ssims[0] > ssims[1] && ssims[1] > ssims[2], string.Join(", ", ssims));
    }

    [Fact]
    public void Ssim_RefusesImagesSmallerThanTheWindow()
    {
        Assert.Throws<ArgumentException>(() => ImageMetrics.Ssim(new float[10 * 11], new float[10 * 11], 1, 10, 11));
        Assert.Throws<ArgumentException>(() => ImageMetrics.Ssim(new float[11 * 10], new float[11 * 10], 1, 11, 10));
        Assert.Throws<ArgumentException>(() => ImageMetrics.Ssim(new PlanarImage(3, 8, 8), new PlanarImage(3, 8, 8)));
        // 11×11 is the smallest accepted size (a one-pixel cropped map).
        Assert.Equal(1.0, ImageMetrics.Ssim(new float[121], new float[121], 1, 11, 11));
    }

    [Fact]
    public void Ssim_RefusesMismatchedLengthsAndBadArguments()
    {
        Assert.Throws<ArgumentException>(() => ImageMetrics.Ssim(new float[2 * 12 * 12], new float[12 * 12], 1, 12, 12));
        Assert.Throws<ArgumentException>(() => ImageMetrics.Ssim(new float[12 * 12], new float[12 * 12], 2, 12, 12));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageMetrics.Ssim(new float[12 * 12], new float[12 * 12], 0, 12, 12));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageMetrics.Ssim(new float[12 * 12], new float[12 * 12], 1, 12, 12, -1));
        Assert.Throws<ArgumentException>(() => ImageMetrics.Ssim(new PlanarImage(1, 12, 12), new PlanarImage(3, 12, 12)));
    }

    [Fact]
    public void Gcnr_OfTheSameValuesInBothRegions_IsZero()
    {
        // Region B holds region A's values in reverse order: identical histograms.
        float[] half = Uniform(8, 100);
        float[] image = [.. half, .. half.Reverse()];
        bool[] a = [.. Enumerable.Range(0, 200).Select(i => i < 100)];
        bool[] b = [.. a.Select(m => !m)];

        Assert.Equal(0.0, ImageMetrics.Gcnr(image, a, b));
    }

    [Fact]
    public void Gcnr_OfDisjointValueRanges_IsOne()
    {
        float[] image = [.. Uniform(9, 200).Select((v, i) => i < 100 ? 0.4f * v : 0.6f + (0.4f * v))];
        bool[] a = [.. Enumerable.Range(0, 200).Select(i => i < 100)];
        bool[] b = [.. a.Select(m => !m)];

        Assert.Equal(1.0, ImageMetrics.Gcnr(image, a, b));
        Assert.Equal(1.0, ImageMetrics.Gcnr(image, a, b, bins: 2));
    }

    [Fact]
    public void Gcnr_OfSamplesFromOneDistribution_IsSmallAndOfShiftedOnes_IsTheirOverlapComplement()
    {
        const int n = 20_000;
        float[] first = Gaussian(10, n, 0);
        float[] same = Gaussian(11, n, 0);
        float[] shifted = Gaussian(12, n, 1);
        bool[] a = [.. Enumerable.Range(0, 2 * n).Select(i => i < n)];
        bool[] b = [.. a.Select(m => !m)];

        // Histogram noise: E ½Σ|p̂A − p̂B| ≤ ½ · 0.8 · Σ_k sqrt(2 p_k / n) ≤ 0.4 · sqrt(2 · 64 / n) = 0.032.
        double sameGcnr = ImageMetrics.Gcnr([.. first, .. same], a, b, bins: 64);
        Assert.InRange(sameGcnr, 0.0, 0.08);

        // N(0,1) against N(1,1): 1 − OVL = 2Φ(1/2) − 1 = 0.3829; bin width ~0.14 and the noise above bias it
        // by a few hundredths at most.
        double shiftedGcnr = ImageMetrics.Gcnr([.. first, .. shifted], a, b, bins: 64);
        Assert.InRange(shiftedGcnr, 0.3829 - 0.04, 0.3829 + 0.06);
    }

    [Fact]
    public void Gcnr_PutsTheMaximumInTheLastBin()
    {
        // A = {0, 1}, B = {1}: both share the last bin (which includes hi), overlap ½.
        float[] image = [0f, 1f, 1f];

        Assert.Equal(0.5, ImageMetrics.Gcnr(image, [true, true, false], [false, false, true]));
    }

    [Fact]
    public void Gcnr_IsSymmetricInTheRegions()
    {
        float[] image = Uniform(13, 300);
        bool[] a = [.. image.Select((v, i) => i % 3 == 0 && v < 0.7f)];
        bool[] b = [.. image.Select((v, i) => i % 3 != 0 && v > 0.2f)];

        Assert.Equal(ImageMetrics.Gcnr(image, a, b), ImageMetrics.Gcnr(image, b, a));
    }

    [Fact]
    public void Gcnr_OfOneValueEverywhere_IsZero()
    {
        float[] image = [0.3f, 0.3f, 0.3f, 0.3f];

        Assert.Equal(0.0, ImageMetrics.Gcnr(image, [true, true, false, false], [false, false, true, true]));
    }

    [Fact]
    public void Gcnr_RefusesEmptyRegionsMismatchedMasksNonFiniteValuesAndNoBins()
    {
        float[] image = [0.1f, 0.2f, float.NaN, 0.4f];
        bool[] a = [true, false, false, false];
        bool[] b = [false, true, false, true];

        Assert.Throws<ArgumentException>(() => ImageMetrics.Gcnr(image, new bool[4], b));
        Assert.Throws<ArgumentException>(() => ImageMetrics.Gcnr(image, a, new bool[4]));
        Assert.Throws<ArgumentException>(() => ImageMetrics.Gcnr(image, a, new bool[3]));
        Assert.Throws<ArgumentException>(() => ImageMetrics.Gcnr(image, a, [false, false, true, false]));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageMetrics.Gcnr(image, a, b, bins: 0));
        // The NaN pixel is outside both regions, so it is not looked at.
        Assert.InRange(ImageMetrics.Gcnr(image, a, b), 0.0, 1.0);
    }
}
