using JointDiffusion.Gpu.Tests.Reference;
using JointDiffusion.Kernels;
using MathNet.Numerics.Distributions;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>Counter-based Gaussian fill: the Philox.Gaussian stream element by element, and standard normal statistics.</summary>
[Collection(BackendCollection.Name)]
public sealed class FillGaussianTests(BackendFixture fixture)
{
    /// <summary>(backend, length, offset): offsets not a multiple of 4 start mid-block and mid Box–Muller pair.</summary>
    public static TheoryData<string, int, ulong> Cases => new()
    {
        { BackendFixture.Simd, 1, 0 }, { BackendFixture.Simd, 1_001, 3 }, { BackendFixture.Simd, 70_001, (1UL << 32) + 5 },
        { BackendFixture.IlgpuCpu, 1, 0 }, { BackendFixture.IlgpuCpu, 257, 3 }, { BackendFixture.IlgpuCpu, 64, (1UL << 32) + 5 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void FillGaussian_MatchesPhiloxStreamAtOffset(string backendName, int length, ulong offset)
    {
        // Tolerance: every backend evaluates the same float formula (Box–Muller on 24-bit uniforms); only the
        // accuracy of log, sqrt, cos and sin may differ between math libraries (ILGPU maps them to its own or the
        // device's, a few ulp). An angle error of 2π·2u and a radius error of 4u, times the radius ρ ≤ 5.9, bound the
        // difference by 5.9·(4π + 4)·u ≈ 100u; the tolerance is 128u ≈ 7.6e-6 absolute.
        var backend = fixture.Get(backendName);
        const ulong seed = 0x5EED_1234_ABCDUL;
        using var t = backend.Filled(float.NaN, length);

        backend.FillGaussian(t, seed, offset);

        var expected = ReferenceOps.Gaussian(length, seed, offset);
        ArrayAssert.Close(expected, t.ToDoubles(), 128 * ArrayAssert.FloatEps,
            $"{backendName} Gaussian fill, offset {offset}");
    }

    /// <summary>
    /// A seed per block: block o is the Philox stream of its own seed from the offset, as a fill of that block alone
    /// would give (same tolerance as above); the seeds' high halves matter (two seeds differ only there).
    /// </summary>
    [Theory]
    [InlineData(BackendFixture.Simd, 3, 4_001, 7UL)]
    [InlineData(BackendFixture.Simd, 5, 20_000, (1UL << 32) + 5)]
    [InlineData(BackendFixture.IlgpuCpu, 3, 37, 7UL)]
    public void FillGaussianBlocks_GivesEachBlockItsSeedsStream(string backendName, int count, int block, ulong offset)
    {
        var backend = fixture.Get(backendName);
        ulong[] seeds = [.. Enumerable.Range(0, count).Select(o => 0x5EED_0000_0000UL * (ulong)(o % 2 + 1) + (ulong)(o / 2))];
        using var tseeds = backend.FromHost(JointDiffusion.Gpu.Backends.ComputeBackend.SeedBits(seeds), new(2 * count));
        using var t = backend.Filled(float.NaN, count * block);

        backend.FillGaussianBlocks(t, tseeds, offset);

        var got = t.ToDoubles();
        for (int o = 0; o < count; o++)
        {
            ArrayAssert.Close(ReferenceOps.Gaussian(block, seeds[o], offset), got.AsSpan(o * block, block).ToArray(), 128 * ArrayAssert.FloatEps,
                $"{backendName} block {o} of {count}");
        }
    }

    [Fact]
    public void FillGaussianBlocks_RefusesSeedsThatDoNotSplitTheTensor()
    {
        var backend = fixture.Get(BackendFixture.Simd);
        using var t = backend.Filled(0f, 10);
        using var odd = backend.Filled(0f, 3);
        using var three = backend.Filled(0f, 6);
        Assert.Contains("two floats per block", Assert.Throws<ArgumentException>(() => backend.FillGaussianBlocks(t, odd, 0)).Message);
        Assert.Contains("does not split into 3 equal blocks", Assert.Throws<ArgumentException>(() => backend.FillGaussianBlocks(t, three, 0)).Message);
    }

    [Fact]
    public void FillGaussian_HasStandardNormalStatistics()
    {
        // n = 2^17 samples from one fixed seed. Under N(0, 1) the sample mean has sd 1/√n = 0.0028, the sample
        // variance sd √(2/n) = 0.0039, skewness sd √(6/n) = 0.0068, excess kurtosis sd √(24/n) = 0.0135 and the
        // lag-1 correlation sd 1/√n; every bound below is 5 sd (a false alarm has probability < 1e-6 per check).
        // The Kolmogorov–Smirnov distance to Φ exceeds √(ln(2/α)/(2n)) with probability α; α = 1e-6 gives 0.0075.
        // The 24-bit uniforms cap |g| at 5.9 (tail mass 4e-9), invisible at this n.
        var backend = fixture.Get(BackendFixture.Simd);
        const int n = 1 << 17;
        using var t = backend.Allocate(new(n));
        backend.FillGaussian(t, seed: 20250101, offset: 0);
        var g = t.ToDoubles();

        double mean = g.Average();
        double variance = g.Sum(v => (v - mean) * (v - mean)) / (n - 1);
        double sd = Math.Sqrt(variance);
        double skew = g.Average(v => Math.Pow((v - mean) / sd, 3));
        double kurtosis = g.Average(v => Math.Pow((v - mean) / sd, 4)) - 3;
        double lag1 = Enumerable.Range(0, n - 1).Average(i => (g[i] - mean) * (g[i + 1] - mean)) / variance;
        var sorted = g.Order().ToArray();
        double ks = Enumerable.Range(0, n).Max(i =>
        {
            double cdf = Normal.CDF(0, 1, sorted[i]);
            return Math.Max(Math.Abs(cdf - (double)i / n), Math.Abs(cdf - (i + 1.0) / n));
        });

        Assert.InRange(mean, -5 / Math.Sqrt(n), 5 / Math.Sqrt(n));
        Assert.InRange(variance, 1 - 5 * Math.Sqrt(2.0 / n), 1 + 5 * Math.Sqrt(2.0 / n));
        Assert.InRange(skew, -5 * Math.Sqrt(6.0 / n), 5 * Math.Sqrt(6.0 / n));
        Assert.InRange(kurtosis, -5 * Math.Sqrt(24.0 / n), 5 * Math.Sqrt(24.0 / n));
        Assert.InRange(lag1, -5 / Math.Sqrt(n), 5 / Math.Sqrt(n));
        Assert.InRange(ks, 0, Math.Sqrt(Math.Log(2 / 1e-6) / (2 * n)));
    }

    [Fact]
    public void PhiloxStreams_DifferBySeedAndOffset()
    {
        // Different seeds (and the same seed at different offsets) must give unrelated numbers: over 4096 values the
        // correlation of independent streams has sd 1/64, so |ρ| < 5/64.
        const int n = 4096;
        var a = ReferenceOps.Gaussian(n, 1, 0);
        var b = ReferenceOps.Gaussian(n, 2, 0);
        var c = ReferenceOps.Gaussian(n, 1, n);
        Assert.InRange(ReferenceOps.Dot(a, b) / n, -5.0 / 64, 5.0 / 64);
        Assert.InRange(ReferenceOps.Dot(a, c) / n, -5.0 / 64, 5.0 / 64);
        Assert.Equal(Philox.Gaussian(1, 7), (float)ReferenceOps.Gaussian(1, 1, 7)[0]);
    }
}
