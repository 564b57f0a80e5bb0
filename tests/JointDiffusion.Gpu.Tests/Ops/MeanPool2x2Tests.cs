using JointDiffusion.Gpu.Tests.Reference;
using static JointDiffusion.Gpu.Tests.Reference.ReferenceOps;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>2×2 mean pool forward and backward of every backend against the double reference.</summary>
/// <remarks>
/// Tolerance: forward is a 4-term float sum and an exact division by 4: SumTolerance(Σ|x|/4, 4). Backward is
/// dy/4, exact in float; accumulating adds one rounding, ≤ u·|initial + dy/4|, compared with 2u·(|initial| + |dy/4|)
/// (a measured error reached exactly u·(|initial| + |dy/4|) in a worst case).
/// </remarks>
[Collection(BackendCollection.Name)]
public sealed class MeanPool2x2Tests(BackendFixture fixture)
{
    /// <summary>(backend, N, C, H, W).</summary>
    public static TheoryData<string, int, int, int, int> Cases => new()
    {
        { BackendFixture.Simd, 1, 1, 2, 2 },
        { BackendFixture.Simd, 2, 3, 8, 6 },
        { BackendFixture.Simd, 3, 5, 64, 62 },
        { BackendFixture.Simd, 2, 4, 6, 32 },   // whole 16-output vectors, no scalar tail
        { BackendFixture.IlgpuCpu, 1, 1, 2, 2 },
        { BackendFixture.IlgpuCpu, 2, 3, 8, 6 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MeanPool2x2_MatchesReference(string backendName, int n, int c, int h, int w)
    {
        var backend = fixture.Get(backendName);
        var x = RandomArrays.Uniform(900, n * c * h * w);
        using var tx = backend.Upload(x, n, c, h, w);
        using var ty = backend.Filled(float.NaN, n, c, h / 2, w / 2);

        backend.MeanPool2x2(tx, ty);

        var magnitude = MeanPool2x2(RandomArrays.Abs(x), n, c, h, w);
        ArrayAssert.Close(MeanPool2x2(x, n, c, h, w), ty.ToDoubles(), ArrayAssert.SumTolerance(magnitude, 4), $"{backendName} mean pool");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MeanPool2x2Backward_MatchesReference(string backendName, int n, int c, int h, int w)
    {
        var backend = fixture.Get(backendName);
        var dy = RandomArrays.Uniform(910, n * c * (h / 2) * (w / 2));
        var initial = RandomArrays.Uniform(911, n * c * h * w);
        using var tdy = backend.Upload(dy, n, c, h / 2, w / 2);
        using var tdx = backend.Filled(float.NaN, n, c, h, w);
        using var tacc = backend.Upload(initial, n, c, h, w);

        backend.MeanPool2x2Backward(tdy, tdx, accumulate: false);
        backend.MeanPool2x2Backward(tdy, tacc, accumulate: true);

        var expected = MeanPool2x2Backward(dy, n, c, h, w);
        ArrayAssert.Close(expected, tdx.ToDoubles(), 0.0, $"{backendName} mean pool dx");
        ArrayAssert.Close(Add(initial, expected), tacc.ToDoubles(),
            expected.Select((v, i) => 2 * ArrayAssert.FloatEps * (Math.Abs(v) + Math.Abs(initial[i]))).ToArray(), $"{backendName} mean pool dx accumulate");
    }
}
