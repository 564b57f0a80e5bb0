using System.Globalization;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Backends.Simd;
using JointDiffusion.Gpu.Tests.Reference;
using Xunit.Abstractions;
using static JointDiffusion.Gpu.Tests.Reference.ReferenceOps;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>
/// The SIMD backend's Winograd F(4x4, 3x3) convolutions (forward, backward-data, backward-weight) against the double
/// reference, on shapes that exercise ragged tiles, ragged channel vectors, dilation, cropping and accumulation. The
/// algorithm is called directly, so every shape runs through it whatever the backend's channel thresholds; the
/// dispatch and the transformed-filter cache have their own tests at the end.
/// </summary>
/// <remarks>
/// Tolerance: <see cref="Factor"/>·u·max(Σ|terms| over the output's group), a group being one output plane (forward,
/// backward-data) or one 3x3 kernel (backward-weight). Winograd's rounding errors scale with the whole tile, not with
/// one output's own terms: the transforms mix the 6x6 inputs of a tile (scaled by up to 8 in Bᵀ and Aᵀ) and the
/// exact cancellations that remove an output's foreign inputs leave rounding residue of the tile's size; an output
/// whose own terms are tiny (one that only sees zero padding, a tap that only meets the border) carries its tile's
/// error. Measured worst cases on these shapes (the tests' output) are at most ~40·u relative to each output's own
/// Σ|terms| where that is not tiny. A dropped, duplicated or misplaced term errs by about Σ|terms|/K (K = 9·channels ≤
/// 600 here), ≥ 1.6e-3 of it, 200x above the bound.
/// </remarks>
public sealed class SimdWinogradTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>Bound on |error| / (u·group maximum of Σ|terms|).</summary>
    private const double Factor = 128;

    private readonly SimdBackend _backend = new(winograd: true);

    public sealed record Case(int N, int Cin, int Cout, int H, int W, int Pad, int Dil)
    {
        public int Ho => ConvOutputSize(H, 3, Pad, Dil);

        public int Wo => ConvOutputSize(W, 3, Pad, Dil);

        public override string ToString() => $"x[{N},{Cin},{H},{W}] w[{Cout},{Cin},3,3] pad {Pad} dil {Dil}";
    }

    private static readonly Case[] Cases =
    [
        new(2, 16, 16, 8, 8, 1, 1),     // whole tiles, one vector of channels
        new(1, 17, 33, 13, 11, 1, 1),   // ragged tiles and channel vectors
        new(2, 32, 48, 20, 20, 1, 1),   // 2 + 1 output vectors
        new(3, 16, 64, 6, 6, 1, 1),     // a 4-vector block, batch 3
        new(1, 16, 20, 14, 14, 2, 2),   // dilation 2, ragged residue classes
        new(1, 24, 16, 16, 16, 4, 4),   // dilation 4 (NCSNv2's res4)
        new(1, 16, 16, 5, 5, 4, 4),     // dilated taps mostly in the padding
        new(1, 16, 16, 9, 7, 0, 1),     // no padding
        new(1, 3, 5, 7, 9, 1, 1),       // fewer channels than a vector
        new(1, 20, 16, 10, 9, 3, 1),    // pad > reach: backward-data crops
        new(1, 16, 16, 1, 1, 1, 1),     // a 1x1 image
        new(2, 64, 32, 16, 16, 1, 1),   // an NCSNv2 block shape
        new(2, 16, 20, 18, 37, 1, 1),   // four-tile rows (whole and ragged), a 2-row bottom edge, a lone tile
        new(8, 32, 32, 32, 32, 1, 1),   // NCSNv2 ngf 32 at batch 8: 512 tiles, 22 blocks
        new(8, 64, 64, 16, 16, 4, 4),   // ... its dilated 64-channel layers
        new(1, 64, 80, 12, 12, 1, 1),   // weight gradient by points (≤ 64 tiles, ≥ 64 channels): 9 tiles, 4 + 1 output vectors
        new(2, 96, 64, 16, 16, 2, 2),   // ... 32 tiles, dilation 2
    ];

    public static TheoryData<int> CaseIndices => new(Enumerable.Range(0, Cases.Length));

    [Fact]
    public void Winograd_IsUsedOnThisMachine()
    {
        // The CI machines have AVX-512; elsewhere the backend falls back to the direct kernels and says so.
        Assert.Equal(SimdWinograd.Supported, _backend.UsesWinograd);
        Assert.Equal(SimdWinograd.Supported, _backend.Description.Contains("Winograd", StringComparison.Ordinal));
        Assert.False(new SimdBackend(winograd: false).UsesWinograd);
    }

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void WinogradForward_MatchesReference(int index)
    {
        SkipUnlessSupported();
        var c = Cases[index];
        var x = RandomArrays.Uniform(10 + index, c.N * c.Cin * c.H * c.W);
        var w = RandomArrays.Uniform(20 + index, c.Cout * c.Cin * 9);
        var b = RandomArrays.Uniform(30 + index, c.Cout);
        var y = Filled(float.NaN, c.N * c.Cout * c.Ho * c.Wo);

        SimdWinograd.Correlate(Floats(x), c.N, c.Cin, c.H, c.W, c.Pad, Floats(w), transposedRotated: false, c.Cout, c.Dil, Floats(b), y,
            accumulate: false, filters: null);

        var expected = Conv2d(x, w, b, c.N, c.Cin, c.H, c.W, c.Cout, 3, c.Pad, c.Dil);
        var magnitude = Conv2d(RandomArrays.Abs(x), RandomArrays.Abs(w), RandomArrays.Abs(b), c.N, c.Cin, c.H, c.W, c.Cout, 3, c.Pad, c.Dil);
        Check(expected, Doubles(y), magnitude, c.Ho * c.Wo, $"forward {c}");
    }

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void WinogradBackwardData_MatchesReference(int index)
    {
        SkipUnlessSupported();
        var c = Cases[index];
        var w = RandomArrays.Uniform(40 + index, c.Cout * c.Cin * 9);
        var dy = RandomArrays.Uniform(50 + index, c.N * c.Cout * c.Ho * c.Wo);
        var initial = RandomArrays.Uniform(60 + index, c.N * c.Cin * c.H * c.W);
        var dx = Filled(float.NaN, c.N * c.Cin * c.H * c.W);
        var accumulated = Floats(initial);

        // As SimdConv2d.BackwardData: the forward correlation of dy, padded by 2·dil − pad, with the weights turned.
        foreach (var (target, accumulate) in new[] { (dx, false), (accumulated, true) })
        {
            SimdWinograd.Correlate(Floats(dy), c.N, c.Cout, c.Ho, c.Wo, 2 * c.Dil - c.Pad, Floats(w), transposedRotated: true, c.Cin, c.Dil, null,
                target, accumulate, filters: null);
        }

        var expected = Conv2dBackwardData(dy, w, c.N, c.Cin, c.H, c.W, c.Cout, 3, c.Pad, c.Dil);
        var magnitude = Conv2dBackwardData(RandomArrays.Abs(dy), RandomArrays.Abs(w), c.N, c.Cin, c.H, c.W, c.Cout, 3, c.Pad, c.Dil);
        Check(expected, Doubles(dx), magnitude, c.H * c.W, $"backward-data {c}");
        Check(Add(initial, expected), Doubles(accumulated), Add(RandomArrays.Abs(initial), magnitude), c.H * c.W, $"backward-data accumulate {c}");
    }

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void WinogradBackwardWeight_MatchesReference(int index)
    {
        SkipUnlessSupported();
        var c = Cases[index];
        var x = RandomArrays.Uniform(70 + index, c.N * c.Cin * c.H * c.W);
        var dy = RandomArrays.Uniform(80 + index, c.N * c.Cout * c.Ho * c.Wo);
        var initial = RandomArrays.Uniform(90 + index, c.Cout * c.Cin * 9);
        var dw = Filled(float.NaN, c.Cout * c.Cin * 9);
        var accumulated = Floats(initial);

        SimdWinograd.WeightGradient(Floats(x), Floats(dy), dw, c.N, c.Cin, c.H, c.W, c.Cout, c.Pad, c.Dil, accumulate: false);
        SimdWinograd.WeightGradient(Floats(x), Floats(dy), accumulated, c.N, c.Cin, c.H, c.W, c.Cout, c.Pad, c.Dil, accumulate: true);

        var expected = Conv2dBackwardWeight(x, dy, c.N, c.Cin, c.H, c.W, c.Cout, 3, c.Pad, c.Dil);
        var magnitude = Conv2dBackwardWeight(RandomArrays.Abs(x), RandomArrays.Abs(dy), c.N, c.Cin, c.H, c.W, c.Cout, 3, c.Pad, c.Dil);
        Check(expected, Doubles(dw), magnitude, 9, $"backward-weight {c}");
        Check(Add(initial, expected), Doubles(accumulated), Add(RandomArrays.Abs(initial), magnitude), 9, $"backward-weight accumulate {c}");
    }

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void WinogradBackwardWeight_FromKeptPacks_IsBitIdentical(int index)
    {
        // The weight gradient reading x as the forward packed it and dy as backward-data packed it gives the very bits of
        // the one that packs both itself; a pack of other arrays (or another geometry) is not used.
        SkipUnlessSupported();
        var c = Cases[index];
        var x = Floats(RandomArrays.Uniform(100 + index, c.N * c.Cin * c.H * c.W));
        var w = Floats(RandomArrays.Uniform(110 + index, c.Cout * c.Cin * 9));
        var dy = Floats(RandomArrays.Uniform(120 + index, c.N * c.Cout * c.Ho * c.Wo));
        var packedX = new SimdPackedSource();
        var packedDy = new SimdPackedSource();
        try
        {
            SimdWinograd.Correlate(x, c.N, c.Cin, c.H, c.W, c.Pad, w, transposedRotated: false, c.Cout, c.Dil, null,
                new float[c.N * c.Cout * c.Ho * c.Wo], accumulate: false, filters: null, keepSource: packedX);
            SimdWinograd.Correlate(dy, c.N, c.Cout, c.Ho, c.Wo, 2 * c.Dil - c.Pad, w, transposedRotated: true, c.Cin, c.Dil, null,
                new float[c.N * c.Cin * c.H * c.W], accumulate: false, filters: null, keepSource: packedDy);
            var tiling = new SimdWinogradTiling(c.N, c.H, c.W, c.Pad, c.Dil);
            Assert.True(packedX.Holds(x, tiling, c.Cin));
            Assert.False(packedX.Holds(x.ToArray(), tiling, c.Cin));
            Assert.False(packedX.Holds(x, new SimdWinogradTiling(c.N, c.H, c.W, c.Pad + 1, c.Dil), c.Cin));

            var own = new float[c.Cout * c.Cin * 9];
            var kept = new float[own.Length];
            SimdWinograd.WeightGradient(x, dy, own, c.N, c.Cin, c.H, c.W, c.Cout, c.Pad, c.Dil, accumulate: false);
            SimdWinograd.WeightGradient(x, dy, kept, c.N, c.Cin, c.H, c.W, c.Cout, c.Pad, c.Dil, accumulate: false, packedX, packedDy);
            Assert.Equal(own, kept);

            // Other tensors are packed anew, not read from packs of x and dy.
            var x2 = Floats(RandomArrays.Uniform(130 + index, x.Length));
            var dy2 = Floats(RandomArrays.Uniform(140 + index, dy.Length));
            var expected2 = new float[own.Length];
            var other = new float[own.Length];
            SimdWinograd.WeightGradient(x2, dy2, expected2, c.N, c.Cin, c.H, c.W, c.Cout, c.Pad, c.Dil, accumulate: false);
            SimdWinograd.WeightGradient(x2, dy2, other, c.N, c.Cin, c.H, c.W, c.Cout, c.Pad, c.Dil, accumulate: false, packedX, packedDy);
            Assert.Equal(expected2, other);

            // And the packs are what it read above: with the kept x zeroed, the gradient becomes zero.
            packedX.Buffer.Slice(0, packedX.Buffer.Array.Length - packedX.Buffer.Offset).Clear();
            var fromZeros = new float[own.Length];
            SimdWinograd.WeightGradient(x, dy, fromZeros, c.N, c.Cin, c.H, c.W, c.Cout, c.Pad, c.Dil, accumulate: false, packedX, packedDy);
            Assert.All(fromZeros, g => Assert.Equal(0f, g));
        }
        finally
        {
            packedX.Release();
            packedDy.Release();
        }
    }

    [Fact]
    public void Winograd_IsDeterministic()
    {
        SkipUnlessSupported();
        var c = Cases[2];
        var x = Floats(RandomArrays.Uniform(1, c.N * c.Cin * c.H * c.W));
        var w = Floats(RandomArrays.Uniform(2, c.Cout * c.Cin * 9));
        var y1 = Filled(0, c.N * c.Cout * c.Ho * c.Wo);
        var y2 = Filled(1, c.N * c.Cout * c.Ho * c.Wo);
        SimdWinograd.Correlate(x, c.N, c.Cin, c.H, c.W, c.Pad, w, false, c.Cout, c.Dil, null, y1, false, null);
        SimdWinograd.Correlate(x, c.N, c.Cin, c.H, c.W, c.Pad, w, false, c.Cout, c.Dil, null, y2, false, null);
        Assert.Equal(y1, y2);
    }

    [Fact]
    public void FilterCache_ServesTheSameResults_AndNeverStaleFilters()
    {
        SkipUnlessSupported();
        var c = new Case(2, 32, 48, 12, 10, 1, 1);
        var cache = new SimdWinogradFilterCache();
        var x = Floats(RandomArrays.Uniform(3, c.N * c.Cin * c.H * c.W));
        var w = Floats(RandomArrays.Uniform(4, c.Cout * c.Cin * 9));
        float[] Run(SimdWinogradFilterCache? filters, bool rotated)
        {
            var y = Filled(float.NaN, c.N * c.Cout * c.Ho * c.Wo);
            if (rotated)
            {
                // Backward-data: the same weight array, read turned; dy drawn afresh.
                y = Filled(float.NaN, c.N * c.Cin * c.H * c.W);
                SimdWinograd.Correlate(Floats(RandomArrays.Uniform(5, c.N * c.Cout * c.Ho * c.Wo)), c.N, c.Cout, c.Ho, c.Wo, 2 * c.Dil - c.Pad, w, true,
                    c.Cin, c.Dil, null, y, false, filters);
                return y;
            }

            SimdWinograd.Correlate(x, c.N, c.Cin, c.H, c.W, c.Pad, w, false, c.Cout, c.Dil, null, y, false, filters);
            return y;
        }

        var uncached = Run(null, rotated: false);
        Assert.Equal(uncached, Run(cache, rotated: false)); // first use fills the entry
        Assert.Equal(uncached, Run(cache, rotated: false)); // second use reads it
        Assert.True(cache.Bytes > 0);
        Assert.Equal(Run(null, rotated: true), Run(cache, rotated: true)); // the other orientation has its own entry

        w[17] += 0.5f; // an in-place update, as an optimizer step makes
        Assert.Equal(Run(null, rotated: false), Run(cache, rotated: false));
        Assert.NotEqual(uncached, Run(cache, rotated: false));
    }

    [Fact]
    public async Task FilterCache_UnderConcurrentUse_GivesTheSequentialResults()
    {
        // Four threads convolve different inputs with the same weights through one cache, both orientations, while
        // a fifth keeps changing a second weight array that shares the cache: every result must equal the one
        // computed alone, bit for bit.
        SkipUnlessSupported();
        var c = new Case(2, 32, 32, 12, 12, 1, 1);
        var cache = new SimdWinogradFilterCache();
        var w = Floats(RandomArrays.Uniform(8, c.Cout * c.Cin * 9));
        var other = Floats(RandomArrays.Uniform(9, c.Cout * c.Cin * 9));
        var inputs = Enumerable.Range(0, 4).Select(k => Floats(RandomArrays.Uniform(20 + k, c.N * c.Cin * c.H * c.W))).ToArray();
        float[] Run(float[] x, float[] weights, bool rotated, SimdWinogradFilterCache? filters)
        {
            var y = new float[c.N * c.Cout * c.Ho * c.Wo];
            SimdWinograd.Correlate(x, c.N, c.Cin, c.H, c.W, c.Pad, weights, rotated, c.Cout, c.Dil, null, y, false, filters);
            return y;
        }

        var expected = inputs.Select(x => (Run(x, w, false, null), Run(x, w, true, null))).ToArray();
        using var stop = new CancellationTokenSource();
        var churn = Task.Run(() =>
        {
            for (int k = 0; !stop.IsCancellationRequested; k++)
            {
                other[k % other.Length] += 1e-3f;
                Run(inputs[0], other, k % 2 == 0, cache);
            }
        });
        var workers = Enumerable.Range(0, 4).Select(k => Task.Run(() =>
        {
            for (int r = 0; r < 15; r++)
            {
                Assert.Equal(expected[k].Item1, Run(inputs[k], w, false, cache));
                Assert.Equal(expected[k].Item2, Run(inputs[k], w, true, cache));
            }
        })).ToArray();
        await Task.WhenAll(workers);
        await stop.CancelAsync();
        await churn;
    }

    [Fact]
    public void Backend_RoutesWideConvolutionsThroughWinograd()
    {
        // 32 channels, 3x3: the backend's Winograd path; its results match the direct backend's to Winograd's accuracy
        // and are not bitwise equal to them (they would be if the direct kernels had run).
        SkipUnlessSupported();
        Assert.True(SimdWinograd.Applies(3, 32, 32, 4, 12, 12, 1)); // 4 × 3 × 3 = 36 tiles
        Assert.True(SimdWinograd.Applies(3, 16, 32, 8, 32, 32, 1)); // 16 channels: the fewest
        Assert.False(SimdWinograd.Applies(3, 8, 32, 8, 32, 32, 1)); // too few channels
        Assert.False(SimdWinograd.Applies(3, 32, 3, 8, 32, 32, 1)); // the last layer's 3 outputs
        Assert.False(SimdWinograd.Applies(1, 64, 64, 8, 32, 32, 1)); // not 3x3
        Assert.False(SimdWinograd.Applies(3, 128, 128, 1, 16, 16, 1)); // 16 tiles
        Assert.True(SimdWinograd.Applies(3, 64, 64, 2, 16, 16, 1)); // 2 × 4 × 4 = 32 tiles
        using var direct = new SimdBackend(winograd: false);
        var c = new Case(4, 32, 32, 12, 12, 1, 1); // 4 × 3 × 3 = 36 tiles
        var x = RandomArrays.Uniform(6, c.N * c.Cin * c.H * c.W);
        var w = RandomArrays.Uniform(7, c.Cout * c.Cin * 9);
        float[] Forward(ComputeBackend backend)
        {
            using var tx = backend.Upload(x, c.N, c.Cin, c.H, c.W);
            using var tw = backend.Upload(w, c.Cout, c.Cin, 3, 3);
            using var ty = backend.Filled(float.NaN, c.N, c.Cout, c.Ho, c.Wo);
            backend.Conv2dForward(tx, tw, null, ty, new Conv2dSpec(c.Pad, c.Dil));
            return ty.ToArray();
        }

        var viaWinograd = Forward(_backend);
        var viaDirect = Forward(direct);
        Assert.NotEqual(viaDirect, viaWinograd);
        var magnitude = Conv2d(RandomArrays.Abs(x), RandomArrays.Abs(w), null, c.N, c.Cin, c.H, c.W, c.Cout, 3, c.Pad, c.Dil);
        Check(Conv2d(x, w, null, c.N, c.Cin, c.H, c.W, c.Cout, 3, c.Pad, c.Dil), viaWinograd.Select(v => (double)v).ToArray(), magnitude,
            c.Ho * c.Wo, $"backend forward {c}");
    }

    private static void SkipUnlessSupported() =>
        Assert.True(SimdWinograd.Supported, "no AVX-512 here: the Winograd kernels are not used on this machine (the direct ones are)");

    private static float[] Floats(double[] values) => values.Select(v => (float)v).ToArray();

    private static double[] Doubles(float[] values) => values.Select(v => (double)v).ToArray();

    private static float[] Filled(float value, int length) => Enumerable.Repeat(value, length).ToArray();

    /// <summary>
    /// Asserts |error_i| ≤ Factor·u·G_i, G_i the largest magnitude in element i's group (consecutive runs of
    /// <paramref name="group"/> elements); reports the worst error / (u·G_i) and, where the own magnitude is at least
    /// a tenth of G_i, the worst error / (u·magnitude_i).
    /// </summary>
    private void Check(double[] expected, double[] actual, double[] magnitude, int group, string what)
    {
        var bound = new double[expected.Length];
        double worstGroup = 0, worstOwn = 0;
        for (int start = 0; start < expected.Length; start += group)
        {
            double largest = magnitude.AsSpan(start, group).ToArray().Max();
            for (int i = start; i < start + group; i++)
            {
                double error = Math.Abs(actual[i] - expected[i]) / ArrayAssert.FloatEps;
                bound[i] = Factor * ArrayAssert.FloatEps * largest;
                worstGroup = Math.Max(worstGroup, error / largest);
                if (magnitude[i] >= 0.1 * largest)
                {
                    worstOwn = Math.Max(worstOwn, error / magnitude[i]);
                }
            }
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{what}: worst |error| = {worstGroup:F1}·u·(group max Σ|terms|), {worstOwn:F1}·u·own Σ|terms|"));
        ArrayAssert.Close(expected, actual, bound, what);
    }

    public void Dispose() => _backend.Dispose();
}
