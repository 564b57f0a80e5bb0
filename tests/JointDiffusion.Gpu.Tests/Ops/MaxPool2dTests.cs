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
}
