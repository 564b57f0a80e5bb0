using JointDiffusion.Gpu.Backends.Simd;
using JointDiffusion.Gpu.Tests.Reference;
using static JointDiffusion.Gpu.Tests.Reference.ReferenceOps;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>
/// Stride-1 K×K max pool (−∞ padding, first maximum wins ties) forward and backward of every backend against the
/// double reference, on tie-free inputs and on inputs with many exact ties.
/// </summary>
/// <remarks>
/// Tolerance: forward selects an input, so it is exact. Backward sums the dy of every window whose maximum is a
/// given pixel (at most K² terms, plus the initial value when accumulating): SumTolerance(Σ|terms|, K² + 1).
/// </remarks>
[Collection(BackendCollection.Name)]
public sealed class MaxPool2dTests(BackendFixture fixture)
{
    /// <summary>(backend, N, C, H, W, K, ties).</summary>
    public static TheoryData<string, int, int, int, int, int, bool> Cases => new()
    {
        { BackendFixture.Simd, 2, 3, 9, 7, 5, false },  // NCSNv2's CRP pool
        { BackendFixture.Simd, 2, 3, 9, 7, 5, true },
        { BackendFixture.Simd, 1, 2, 3, 2, 5, false },  // image smaller than the window
        { BackendFixture.Simd, 1, 4, 6, 6, 3, true },
        { BackendFixture.Simd, 1, 2, 5, 4, 1, false },  // K = 1: identity
        { BackendFixture.Simd, 2, 16, 32, 32, 5, true },
        { BackendFixture.IlgpuCpu, 2, 3, 7, 6, 5, false },
        { BackendFixture.IlgpuCpu, 2, 3, 7, 6, 5, true },
        { BackendFixture.IlgpuCpu, 1, 2, 3, 2, 5, false },
        { BackendFixture.IlgpuCpu, 1, 2, 5, 4, 3, true },
    };

    private static double[] Input(int seed, int length, bool ties) =>
        ties ? RandomArrays.FewLevels(seed, length, 3) : RandomArrays.DistinctPermutation(seed, length, 1e-3);

    [Theory]
    [MemberData(nameof(Cases))]
    public void MaxPool2d_MatchesReference(string backendName, int n, int c, int h, int w, int k, bool ties)
    {
        var backend = fixture.Get(backendName);
        var x = Input(1000, n * c * h * w, ties);
        using var tx = backend.Upload(x, n, c, h, w);
        using var ty = backend.Filled(float.NaN, n, c, h, w);

        backend.MaxPool2d(tx, ty, k);

        ArrayAssert.Close(MaxPool2d(x, n, c, h, w, k), ty.ToDoubles(), 0.0, $"{backendName} max pool k={k} ties={ties}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MaxPool2dBackward_MatchesReference(string backendName, int n, int c, int h, int w, int k, bool ties)
    {
        var backend = fixture.Get(backendName);
        var x = Input(1010, n * c * h * w, ties);
        var dy = RandomArrays.Uniform(1011, x.Length);
        var initial = RandomArrays.Uniform(1012, x.Length);
        using var tx = backend.Upload(x, n, c, h, w);
        using var tdy = backend.Upload(dy, n, c, h, w);
        using var tdx = backend.Filled(float.NaN, n, c, h, w);
        using var tacc = backend.Upload(initial, n, c, h, w);

        backend.MaxPool2dBackward(tx, tdy, tdx, k, accumulate: false);
        backend.MaxPool2dBackward(tx, tdy, tacc, k, accumulate: true);

        var expected = MaxPool2dBackward(x, dy, n, c, h, w, k);
        var magnitude = MaxPool2dBackward(x, RandomArrays.Abs(dy), n, c, h, w, k);
        ArrayAssert.Close(expected, tdx.ToDoubles(), ArrayAssert.SumTolerance(magnitude, k * k), $"{backendName} max pool dx k={k} ties={ties}");
        ArrayAssert.Close(Add(initial, expected), tacc.ToDoubles(),
            ArrayAssert.SumTolerance(Add(RandomArrays.Abs(initial), magnitude), k * k + 1), $"{backendName} max pool dx accumulate k={k} ties={ties}");
    }

    /// <summary>
    /// (N, C, H, W, K, input) for the SIMD kernel at each vector width: rows narrower than, equal to, and not a
    /// multiple of the vector; windows larger than the plane; and inputs with −∞ (where the padding must not win).
    /// </summary>
    public static TheoryData<int, int, int, int, int, string> WidthCases => new()
    {
        { 1, 2, 5, 1, 5, "distinct" },
        { 1, 2, 3, 3, 5, "ties" },
        { 2, 3, 9, 7, 5, "ties" },
        { 1, 2, 6, 13, 5, "distinct" },
        { 2, 2, 16, 16, 5, "ties" },
        { 1, 2, 5, 17, 5, "distinct" },
        { 1, 3, 32, 32, 5, "ties" },
        { 1, 2, 7, 20, 3, "ties" },
        { 1, 3, 8, 24, 5, "minus-infinity" },
        { 1, 2, 4, 16, 7, "minus-infinity" },
    };

    private static double[] WidthInput(string kind, int length, int planeLength) => kind switch
    {
        "distinct" => RandomArrays.DistinctPermutation(1020, length, 1e-3),
        "ties" => RandomArrays.FewLevels(1021, length, 3),
        // The first plane all −∞ (every window's first real pixel must win, never the padding), the others a
        // third −∞ among few levels.
        _ => RandomArrays.FewLevels(1022, length, 3).Select((v, i) => i < planeLength || i % 9 < 3 ? double.NegativeInfinity : v).ToArray(),
    };

    [Theory]
    [MemberData(nameof(WidthCases))]
    public void SimdMaxPool_EveryVectorWidth_MatchesReference(int n, int c, int h, int w, int k, string kind)
    {
        var x = WidthInput(kind, n * c * h * w, h * w);
        var dy = RandomArrays.Uniform(1023, x.Length);
        var initial = RandomArrays.Uniform(1024, x.Length);
        var expectedY = MaxPool2d(x, n, c, h, w, k);
        var expectedDx = MaxPool2dBackward(x, dy, n, c, h, w, k);
        var tolerance = ArrayAssert.SumTolerance(MaxPool2dBackward(x, RandomArrays.Abs(dy), n, c, h, w, k), k * k);
        var accTolerance = ArrayAssert.SumTolerance(Add(RandomArrays.Abs(initial), MaxPool2dBackward(x, RandomArrays.Abs(dy), n, c, h, w, k)), k * k + 1);
        float[] xf = [.. x.Select(v => (float)v)], dyf = [.. dy.Select(v => (float)v)];
        foreach (int bits in new[] { 128, 256, 512 })
        {
            var y = Enumerable.Repeat(float.NaN, x.Length).ToArray();
            SimdMaxPool.Run(xf, y, null, n * c, h, w, k / 2, accumulate: false, bits);
            // Exact, and −∞ == −∞ (ArrayAssert.Close would see ∞ − ∞ = NaN).
            Assert.Equal(expectedY, y.Select(v => (double)v).ToArray());

            var dx = Enumerable.Repeat(float.NaN, x.Length).ToArray();
            SimdMaxPool.Run(xf, dx, dyf, n * c, h, w, k / 2, accumulate: false, bits);
            ArrayAssert.Close(expectedDx, [.. dx.Select(v => (double)v)], tolerance, $"{bits}-bit max pool dx {h}x{w} k={k} {kind}");

            float[] acc = [.. initial.Select(v => (float)v)];
            SimdMaxPool.Run(xf, acc, dyf, n * c, h, w, k / 2, accumulate: true, bits);
            ArrayAssert.Close(Add(initial, expectedDx), [.. acc.Select(v => (double)v)], accTolerance, $"{bits}-bit max pool dx accumulate {h}x{w} k={k} {kind}");
        }
    }

    /// <summary>
    /// NaN propagates as in PyTorch: a window holding NaN outputs NaN, and its gradient goes to the first NaN in
    /// row-major window order (the ILGPU kernel stops at the first NaN; the SIMD one keeps a NaN against all later
    /// candidates). Checked on every backend and, for SIMD, every vector width.
    /// </summary>
    [Theory]
    [MemberData(nameof(BackendFixture.Names), MemberType = typeof(BackendFixture))]
    public void MaxPool2d_NaN_WinsItsWindows_FirstNaNTakesTheGradient(string backendName)
    {
        const int h = 6, w = 9, k = 5;
        var x = RandomArrays.FewLevels(1030, h * w, 3);
        foreach (int nan in new[] { 3, 4, 14, 30, 31, 52 })
        {
            x[nan] = double.NaN;
        }

        var dy = RandomArrays.Uniform(1031, x.Length);
        var (expectedY, expectedDx) = NaNAwareReference(x, dy, h, w, k);
        var backend = fixture.Get(backendName);
        using var tx = backend.Upload(x, 1, 1, h, w);
        using var tdy = backend.Upload(dy, 1, 1, h, w);
        using var ty = backend.Filled(0f, 1, 1, h, w);
        using var tdx = backend.Filled(0f, 1, 1, h, w);
        backend.MaxPool2d(tx, ty, k);
        backend.MaxPool2dBackward(tx, tdy, tdx, k, accumulate: false);
        AssertNaNAware(expectedY, expectedDx, ty.ToDoubles(), tdx.ToDoubles(), backendName);

        if (backendName == BackendFixture.Simd)
        {
            float[] xf = [.. x.Select(v => (float)v)], dyf = [.. dy.Select(v => (float)v)];
            foreach (int bits in new[] { 128, 256, 512 })
            {
                float[] y = new float[x.Length], dx = new float[x.Length];
                SimdMaxPool.Run(xf, y, null, 1, h, w, k / 2, accumulate: false, bits);
                SimdMaxPool.Run(xf, dx, dyf, 1, h, w, k / 2, accumulate: false, bits);
                AssertNaNAware(expectedY, expectedDx, [.. y.Select(v => (double)v)], [.. dx.Select(v => (double)v)], $"{bits}-bit");
            }
        }
    }

    /// <summary>Forward and backward of one plane with the first NaN in row-major window order as the winner.</summary>
    private static (double[] Y, double[] Dx) NaNAwareReference(double[] x, double[] dy, int h, int w, int k)
    {
        int r = k / 2;
        var y = new double[x.Length];
        var dx = new double[x.Length];
        for (int i = 0; i < h; i++)
        {
            for (int j = 0; j < w; j++)
            {
                int best = -1;
                for (int p = Math.Max(0, i - r); p <= Math.Min(h - 1, i + r) && !(best >= 0 && double.IsNaN(x[best])); p++)
                {
                    for (int q = Math.Max(0, j - r); q <= Math.Min(w - 1, j + r); q++)
                    {
                        if (best < 0 || x[p * w + q] > x[best] || double.IsNaN(x[p * w + q]))
                        {
                            best = p * w + q;
                            if (double.IsNaN(x[best]))
                            {
                                break;
                            }
                        }
                    }
                }

                y[i * w + j] = x[best];
                dx[best] += dy[i * w + j];
            }
        }

        return (y, dx);
    }

    private static void AssertNaNAware(double[] expectedY, double[] expectedDx, double[] y, double[] dx, string what)
    {
        for (int i = 0; i < y.Length; i++)
        {
            Assert.True(double.IsNaN(expectedY[i]) ? double.IsNaN(y[i]) : y[i] == expectedY[i], $"{what}: y[{i}] = {y[i]}, expected {expectedY[i]}");
        }

        // Each dx sums at most K² = 25 terms of |dy| ≤ 1.
        ArrayAssert.Close(expectedDx, dx, 25 * 2 * ArrayAssert.FloatEps * 25, $"{what} max pool dx with NaN");
    }
}
