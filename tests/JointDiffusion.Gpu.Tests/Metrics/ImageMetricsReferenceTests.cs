using JointDiffusion.Gpu.Metrics;

namespace JointDiffusion.Gpu.Tests.Metrics;

/// <summary>
/// PSNR and SSIM against scikit-image 0.19.3 and gCNR against a NumPy histogram evaluation, on the images of
/// Fixtures/metrics (grey 32×32, grey 28×40, RGB 32×32, constant vs noisy, the minimum 11×13 with range 2;
/// three gCNR region pairs). The references were computed in float64 from the same float32 pixels the tests
/// read, so only summation order separates the two sides.
/// </summary>
public sealed class ImageMetricsReferenceTests
{
    public static TheoryData<string> Pairs => [.. MetricFixtures.PairNames];

    public static TheoryData<string> GcnrCases => [.. MetricFixtures.GcnrNames];

    [Fact]
    public void Fixtures_WereMadeWithScikitImage0193()
    {
        Assert.Equal("0.19.3", MetricFixtures.ScikitImageVersion);
        Assert.Equal(5, Pairs.Count);
        Assert.Equal(3, GcnrCases.Count);
    }

    [Theory]
    [MemberData(nameof(Pairs))]
    public void Psnr_MatchesScikitImage(string name)
    {
        var (estimate, truth, range, expected, _) = MetricFixtures.Pair(name);

        double psnr = ImageMetrics.Psnr(estimate, truth, range);

        // MSE is a sum of ≤ 3,072 exact double squares; NumPy (pairwise) and this loop (sequential) round
        // differently by at most ~n·2^-53 ≈ 3e-13 relative, and log10 keeps that relative size. 1e-9 leaves room
        // without hiding a real error (a one-pixel mistake moves PSNR by ≥ 1e-4 relative here).
        Assert.Equal(expected, psnr, expected * 1e-9);
    }

    [Theory]
    [MemberData(nameof(Pairs))]
    public void Ssim_MatchesScikitImage(string name)
    {
        var (estimate, truth, range, _, expected) = MetricFixtures.Pair(name);

        double ssim = ImageMetrics.Ssim(estimate, truth, range);

        // Both sides work in double on identical inputs; they differ by summation order only. The worst case is
        // the cancellation in σ² = E[x²] − μ² (|E[x²]| ≤ 1, so ~1e-16 absolute), divided by σx² + σy² + C2 ≥
        // C2 = 9e-4: ~1e-13 per map value (measured: ≤ 8e-15). 1e-10 is a thousand times that bound, and far
        // below what a float32 evaluation (~1e-7) or a setting error moves SSIM by on these images (measured
        // with NumPy: sample covariance ≥ 3e-5, kernel normalised by 1/(σ√(2π)) ≥ 4e-5, no crop ≥ 4.6e-3).
        Assert.Equal(expected, ssim, 1e-10);
    }

    [Theory]
    [MemberData(nameof(GcnrCases))]
    public void Gcnr_MatchesNumpyHistogramEvaluation(string name)
    {
        var (image, regionA, regionB, bins, expected) = MetricFixtures.GcnrCase(name);

        double gcnr = ImageMetrics.Gcnr(image, regionA, regionB, bins);

        // Same bin counts as numpy.histogram (same index rule); only the order of summing ≤ 256 minima of
        // count/n differs, ~1e-16 each. A single pixel in a different bin changes gCNR by ≥ 1/1468 ≈ 7e-4.
        Assert.Equal(expected, gcnr, 1e-12);
    }
}
