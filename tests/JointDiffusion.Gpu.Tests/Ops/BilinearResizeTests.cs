using JointDiffusion.Gpu.Tests.Reference;
using static JointDiffusion.Gpu.Tests.Reference.ReferenceOps;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>Bilinear resize (align_corners = true) and its adjoint of every backend against the double reference.</summary>
/// <remarks>
/// Tolerance: a backend computes the source coordinate dst·(in − 1)/(out − 1) in float, an absolute error up to
/// ≈ 2u·in, which moves the interpolation weight by as much; with the four-term weighted sum this gives
/// |error| ≤ 2u·(in + 2)·Σ|weight·value| per output, used as 4u·(max(h, w) + 2)·Σ|terms| (the adjoint scatters up to
/// ⌈out/in⌉² such terms into one input, a sum bounded by the same Σ|terms|, plus the initial value when accumulating).
/// </remarks>
[Collection(BackendCollection.Name)]
public sealed class BilinearResizeTests(BackendFixture fixture)
{
    /// <summary>(backend, N, C, H, W, Ho, Wo).</summary>
    public static TheoryData<string, int, int, int, int, int, int> Cases => new()
    {
        { BackendFixture.Simd, 2, 3, 16, 16, 32, 32 },  // NCSNv2 refine4: 2× upsampling
        { BackendFixture.Simd, 1, 2, 7, 5, 7, 5 },      // same size: identity
        { BackendFixture.Simd, 1, 3, 9, 8, 4, 3 },      // downsampling
        { BackendFixture.Simd, 2, 2, 5, 3, 11, 1 },     // output width 1: source coordinate 0
        { BackendFixture.Simd, 1, 2, 1, 4, 3, 9 },      // input height 1
        { BackendFixture.IlgpuCpu, 2, 3, 4, 4, 8, 8 },
        { BackendFixture.IlgpuCpu, 1, 2, 5, 3, 5, 3 },
        { BackendFixture.IlgpuCpu, 1, 3, 7, 6, 3, 1 },
        { BackendFixture.IlgpuCpu, 1, 2, 1, 3, 4, 7 },
    };

    private static double[] Tolerance(double[] magnitude, int h, int w, double[]? initial = null) =>
        magnitude.Select((m, i) => 4 * ArrayAssert.FloatEps * (Math.Max(h, w) + 2) * (m + (initial is null ? 0 : Math.Abs(initial[i])))).ToArray();

    [Theory]
    [MemberData(nameof(Cases))]
    public void BilinearResize_MatchesReference(string backendName, int n, int c, int h, int w, int ho, int wo)
    {
        var backend = fixture.Get(backendName);
        var x = RandomArrays.Uniform(1100, n * c * h * w);
        using var tx = backend.Upload(x, n, c, h, w);
        using var ty = backend.Filled(float.NaN, n, c, ho, wo);

        backend.BilinearResize(tx, ty);

        var magnitude = BilinearResize(RandomArrays.Abs(x), n, c, h, w, ho, wo);
        ArrayAssert.Close(BilinearResize(x, n, c, h, w, ho, wo), ty.ToDoubles(), Tolerance(magnitude, h, w),
            $"{backendName} resize [{h},{w}]→[{ho},{wo}]");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void BilinearResizeBackward_MatchesReference(string backendName, int n, int c, int h, int w, int ho, int wo)
    {
        var backend = fixture.Get(backendName);
        var dy = RandomArrays.Uniform(1110, n * c * ho * wo);
        var initial = RandomArrays.Uniform(1111, n * c * h * w);
        using var tdy = backend.Upload(dy, n, c, ho, wo);
        using var tdx = backend.Filled(float.NaN, n, c, h, w);
        using var tacc = backend.Upload(initial, n, c, h, w);

        backend.BilinearResizeBackward(tdy, tdx, accumulate: false);
        backend.BilinearResizeBackward(tdy, tacc, accumulate: true);

        var expected = BilinearResizeBackward(dy, n, c, h, w, ho, wo);
        var magnitude = BilinearResizeBackward(RandomArrays.Abs(dy), n, c, h, w, ho, wo);
        ArrayAssert.Close(expected, tdx.ToDoubles(), Tolerance(magnitude, h, w), $"{backendName} resize dx [{h},{w}]→[{ho},{wo}]");
        ArrayAssert.Close(Add(initial, expected), tacc.ToDoubles(), Tolerance(magnitude, h, w, initial),
            $"{backendName} resize dx accumulate [{h},{w}]→[{ho},{wo}]");
    }
}
