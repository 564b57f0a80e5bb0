using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Tests.Reference;
using static JointDiffusion.Gpu.Tests.Reference.ReferenceOps;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>
/// Conv2d forward, backward-data and backward-weight/bias of every backend against the double reference
/// (whose backward is checked by central differences in <see cref="ReferenceOpsTests"/>).
/// </summary>
/// <remarks>
/// Tolerance: each output is a float sum of K products, so it is compared with
/// <see cref="ArrayAssert.SumTolerance"/>(Σ|terms|, K) = 2·√K·u·Σ|terms|, the magnitudes Σ|terms| being the same
/// reference op applied to |inputs|. With accumulate, the added initial value is one more term.
/// Outputs start as NaN where an op overwrites: an overwriting op must not read them.
/// </remarks>
[Collection(BackendCollection.Name)]
public sealed class Conv2dTests(BackendFixture fixture)
{
    /// <summary>One convolution geometry.</summary>
    public sealed record Case(int N, int Cin, int Cout, int H, int W, int K, int Pad, int Dil, bool Bias)
    {
        /// <summary>Output height.</summary>
        public int Ho => ConvOutputSize(H, K, Pad, Dil);

        /// <summary>Output width.</summary>
        public int Wo => ConvOutputSize(W, K, Pad, Dil);

        /// <inheritdoc/>
        public override string ToString() => $"x[{N},{Cin},{H},{W}] w[{Cout},{Cin},{K},{K}] pad {Pad} dil {Dil}{(Bias ? " +b" : string.Empty)}";
    }

    private static readonly Case[] SimdCases =
    [
        new(2, 3, 5, 9, 7, 3, 1, 1, true),     // cin = 3 (RGB), odd sizes, batch 2
        new(1, 1, 4, 8, 8, 3, 1, 1, false),    // cin = 1 (grey), no bias
        new(2, 6, 6, 8, 10, 3, 2, 2, true),    // dilation 2, pad 2
        new(1, 5, 7, 12, 11, 3, 4, 4, true),   // dilation 4, pad 4 (res4 of NCSNv2)
        new(1, 3, 2, 5, 5, 3, 4, 4, true),     // dilated taps mostly in the padding
        new(3, 7, 3, 6, 5, 1, 0, 1, true),     // 1×1 shortcut conv
        new(1, 3, 2, 1, 1, 3, 1, 1, true),     // 1×1 image: only the centre tap is inside
        new(2, 17, 33, 13, 11, 3, 1, 1, true), // channel counts off every vector width
        new(2, 32, 48, 20, 20, 3, 1, 1, true), // a realistic block
        new(1, 4, 3, 7, 9, 3, 0, 1, true),     // no padding: output smaller than input
        new(1, 3, 4, 9, 8, 5, 2, 1, false),    // 5×5 kernel
        new(5, 6, 9, 16, 16, 3, 1, 1, true),   // odd batch of NCSNv2-sized planes
        new(2, 5, 6, 40, 36, 3, 1, 1, true),   // planes of many pixel vectors
        // Weight gradient with the output channels in the lanes (AVX-512, ≥ 16 outputs): SimdConvWeightGradient.
        new(3, 11, 16, 9, 10, 1, 0, 1, true),  // 1×1, one vector of outputs: a group's 9 pairs span input channels
        new(2, 5, 32, 12, 12, 3, 2, 2, true),  // dilation 2, one two-vector block
        new(1, 3, 20, 9, 8, 5, 2, 1, false),   // 5×5 (25 taps: groups straddle channels), 20 outputs: 12 padding lanes
        new(3, 4, 48, 30, 34, 3, 1, 1, true),  // 48 outputs = a two-vector and a one-vector block; pixel chunks of a few rows
        new(1, 64, 64, 16, 16, 3, 1, 1, false), // 64 pair groups: several per work item, several items per block
        new(2, 20, 37, 16, 13, 1, 0, 1, true), // 1×1 as a matrix product (SimdConv1x1): two 96-pixel runs and a 16-pixel one, 37 rows
    ];

    private static readonly Case[] IlgpuCases =
    [
        new(2, 3, 5, 7, 5, 3, 1, 1, true),
        new(1, 1, 4, 8, 8, 3, 1, 1, false),
        new(2, 4, 6, 8, 6, 3, 2, 2, true),
        new(1, 3, 2, 8, 7, 3, 4, 4, true),
        new(2, 5, 3, 5, 7, 1, 0, 1, true),
        new(1, 2, 3, 6, 5, 3, 0, 1, true),
    ];

    /// <summary>
    /// Every (backend, case) pair: full shapes on SIMD, tiny ones on the ILGPU CPU simulator. Rows are primitives so
    /// that xunit lists one test per row and <c>--filter DisplayName~ilgpu-cpu</c> selects a backend.
    /// </summary>
    public static TheoryData<string, int, int, int, int, int, int, int, int, bool> Cases
    {
        get
        {
            var data = new TheoryData<string, int, int, int, int, int, int, int, int, bool>();
            foreach (var (backend, cases) in new[] { (BackendFixture.Simd, SimdCases), (BackendFixture.IlgpuCpu, IlgpuCases) })
            {
                foreach (var c in cases)
                {
                    data.Add(backend, c.N, c.Cin, c.Cout, c.H, c.W, c.K, c.Pad, c.Dil, c.Bias);
                }
            }

            return data;
        }
    }

    private static (double[] X, double[] W, double[] B, double[] Dy) Inputs(Case c, int seed) => (
        RandomArrays.Uniform(seed, c.N * c.Cin * c.H * c.W),
        RandomArrays.Uniform(seed + 1, c.Cout * c.Cin * c.K * c.K),
        RandomArrays.Uniform(seed + 2, c.Cout),
        RandomArrays.Uniform(seed + 3, c.N * c.Cout * c.Ho * c.Wo));

    [Theory]
    [MemberData(nameof(Cases))]
    public void Conv2dForward_MatchesReference(string backendName, int n, int cin, int cout, int h, int width, int k, int pad, int dil, bool withBias)
    {
        var c = new Case(n, cin, cout, h, width, k, pad, dil, withBias);
        var backend = fixture.Get(backendName);
        var (x, w, b, _) = Inputs(c, 100);
        var bias = c.Bias ? b : null;
        using var tx = backend.Upload(x, c.N, c.Cin, c.H, c.W);
        using var tw = backend.Upload(w, c.Cout, c.Cin, c.K, c.K);
        using var tb = c.Bias ? backend.Upload(b, c.Cout) : null;
        using var ty = backend.Filled(float.NaN, c.N, c.Cout, c.Ho, c.Wo);

        backend.Conv2dForward(tx, tw, tb, ty, new Conv2dSpec(c.Pad, c.Dil));

        var expected = Conv2d(x, w, bias, c.N, c.Cin, c.H, c.W, c.Cout, c.K, c.Pad, c.Dil);
        var magnitude = Conv2d(RandomArrays.Abs(x), RandomArrays.Abs(w), bias is null ? null : RandomArrays.Abs(bias),
            c.N, c.Cin, c.H, c.W, c.Cout, c.K, c.Pad, c.Dil);
        ArrayAssert.Close(expected, ty.ToDoubles(), ArrayAssert.SumTolerance(magnitude, c.Cin * c.K * c.K + 1), $"{backendName} conv forward {c}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Conv2dBackwardData_MatchesReference(string backendName, int n, int cin, int cout, int h, int width, int k, int pad, int dil, bool withBias)
    {
        var c = new Case(n, cin, cout, h, width, k, pad, dil, withBias);
        var backend = fixture.Get(backendName);
        var (_, w, _, dy) = Inputs(c, 200);
        var initial = RandomArrays.Uniform(204, c.N * c.Cin * c.H * c.W);
        using var tw = backend.Upload(w, c.Cout, c.Cin, c.K, c.K);
        using var tdy = backend.Upload(dy, c.N, c.Cout, c.Ho, c.Wo);
        using var tdx = backend.Filled(float.NaN, c.N, c.Cin, c.H, c.W);
        using var tacc = backend.Upload(initial, c.N, c.Cin, c.H, c.W);
        var spec = new Conv2dSpec(c.Pad, c.Dil);

        backend.Conv2dBackwardData(tdy, tw, tdx, spec, accumulate: false);
        backend.Conv2dBackwardData(tdy, tw, tacc, spec, accumulate: true);

        var expected = Conv2dBackwardData(dy, w, c.N, c.Cin, c.H, c.W, c.Cout, c.K, c.Pad, c.Dil);
        var magnitude = Conv2dBackwardData(RandomArrays.Abs(dy), RandomArrays.Abs(w), c.N, c.Cin, c.H, c.W, c.Cout, c.K, c.Pad, c.Dil);
        int terms = c.Cout * c.K * c.K;
        ArrayAssert.Close(expected, tdx.ToDoubles(), ArrayAssert.SumTolerance(magnitude, terms), $"{backendName} conv dx {c}");
        ArrayAssert.Close(Add(initial, expected), tacc.ToDoubles(),
            ArrayAssert.SumTolerance(Add(RandomArrays.Abs(initial), magnitude), terms + 1), $"{backendName} conv dx accumulate {c}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Conv2dBackwardWeight_MatchesReference(string backendName, int n, int cin, int cout, int h, int width, int k, int pad, int dil, bool withBias)
    {
        var c = new Case(n, cin, cout, h, width, k, pad, dil, withBias);
        var backend = fixture.Get(backendName);
        var (x, _, _, dy) = Inputs(c, 300);
        var initialW = RandomArrays.Uniform(304, c.Cout * c.Cin * c.K * c.K);
        var initialB = RandomArrays.Uniform(305, c.Cout);
        using var tx = backend.Upload(x, c.N, c.Cin, c.H, c.W);
        using var tdy = backend.Upload(dy, c.N, c.Cout, c.Ho, c.Wo);
        using var tdw = backend.Filled(float.NaN, c.Cout, c.Cin, c.K, c.K);
        using var tdb = c.Bias ? backend.Filled(float.NaN, c.Cout) : null;
        using var taccW = backend.Upload(initialW, c.Cout, c.Cin, c.K, c.K);
        using var taccB = c.Bias ? backend.Upload(initialB, c.Cout) : null;
        var spec = new Conv2dSpec(c.Pad, c.Dil);

        backend.Conv2dBackwardWeight(tx, tdy, tdw, tdb, spec, accumulate: false);
        backend.Conv2dBackwardWeight(tx, tdy, taccW, taccB, spec, accumulate: true);

        int terms = c.N * c.Ho * c.Wo;
        var expectedW = Conv2dBackwardWeight(x, dy, c.N, c.Cin, c.H, c.W, c.Cout, c.K, c.Pad, c.Dil);
        var magnitudeW = Conv2dBackwardWeight(RandomArrays.Abs(x), RandomArrays.Abs(dy), c.N, c.Cin, c.H, c.W, c.Cout, c.K, c.Pad, c.Dil);
        ArrayAssert.Close(expectedW, tdw.ToDoubles(), ArrayAssert.SumTolerance(magnitudeW, terms), $"{backendName} conv dw {c}");
        ArrayAssert.Close(Add(initialW, expectedW), taccW.ToDoubles(),
            ArrayAssert.SumTolerance(Add(RandomArrays.Abs(initialW), magnitudeW), terms + 1), $"{backendName} conv dw accumulate {c}");
        if (c.Bias)
        {
            var expectedB = Conv2dBackwardBias(dy, c.N, c.Cout, c.Ho, c.Wo);
            var magnitudeB = Conv2dBackwardBias(RandomArrays.Abs(dy), c.N, c.Cout, c.Ho, c.Wo);
            ArrayAssert.Close(expectedB, tdb!.ToDoubles(), ArrayAssert.SumTolerance(magnitudeB, terms), $"{backendName} conv db {c}");
            ArrayAssert.Close(Add(initialB, expectedB), taccB!.ToDoubles(),
                ArrayAssert.SumTolerance(Add(RandomArrays.Abs(initialB), magnitudeB), terms + 1), $"{backendName} conv db accumulate {c}");
        }
    }

    [Theory]
    [MemberData(nameof(BackendFixture.Names), MemberType = typeof(BackendFixture))]
    public void Conv2dBackwardBias_WithoutWeightGradient_MatchesReference(string backendName)
    {
        // dw = null: the kernel size must not be needed for the bias gradient (it cannot be read from dw).
        var backend = fixture.Get(backendName);
        var c = new Case(2, 3, 4, 6, 5, 3, 2, 2, true);
        var (x, _, _, dy) = Inputs(c, 400);
        using var tx = backend.Upload(x, c.N, c.Cin, c.H, c.W);
        using var tdy = backend.Upload(dy, c.N, c.Cout, c.Ho, c.Wo);
        using var tdb = backend.Filled(float.NaN, c.Cout);

        backend.Conv2dBackwardWeight(tx, tdy, null, tdb, new Conv2dSpec(c.Pad, c.Dil), accumulate: false);

        var magnitude = Conv2dBackwardBias(RandomArrays.Abs(dy), c.N, c.Cout, c.Ho, c.Wo);
        ArrayAssert.Close(Conv2dBackwardBias(dy, c.N, c.Cout, c.Ho, c.Wo), tdb.ToDoubles(),
            ArrayAssert.SumTolerance(magnitude, c.N * c.Ho * c.Wo), $"{backendName} conv db only");
    }
}
