using JointDiffusion.Gpu.Tests.Reference;
using static JointDiffusion.Gpu.Tests.Reference.ReferenceOps;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>ELU forward and backward (from the input and from the output) of every backend against the double reference.</summary>
/// <remarks>
/// Tolerance: exp is accurate to a few ulp in float, and exp(x) − 1 adds one rounding of size u·max(1, exp(x)),
/// so |error| ≤ 4u·(1 + |y|) forward and 4u·|dx| backward (dy·exp(x): one multiply after exp); x &gt; 0 is a copy.
/// The backward from the output takes ELU'(x) = y + 1 for y ≤ 0 from the backend's own y = exp(x) − 1 + δ with
/// |δ| ≤ 4u·(1 + |y|) ≤ 8u (y ∈ [−1, 0]): the slope carries that 8u absolute error, then y + 1 and the product with dy
/// add a rounding each, so |error| ≤ 8u·|dy| + 2u·|dx| to first order, against the true derivative dy·exp(x). Where
/// exp(x) &lt; 8u the slope may come out 0 (y rounds to −1); that is inside the bound. A y rounded above 0 for x ≤ 0
/// takes slope 1 where the truth is exp(x) &gt; 1 − 8u, also inside it. For x &gt; 0, y = x and the slope is exactly 1.
/// Accumulating adds one rounding of u·(|initial| + |dx|).
/// </remarks>
[Collection(BackendCollection.Name)]
public sealed class EluTests(BackendFixture fixture)
{
    /// <summary>(backend, length): lengths around vector widths, and above the SIMD backend's parallel threshold.</summary>
    public static TheoryData<string, int> Cases => new()
    {
        { BackendFixture.Simd, 1 }, { BackendFixture.Simd, 37 }, { BackendFixture.Simd, 100_003 },
        { BackendFixture.IlgpuCpu, 1 }, { BackendFixture.IlgpuCpu, 37 }, { BackendFixture.IlgpuCpu, 300 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Elu_MatchesReference(string backendName, int length)
    {
        var backend = fixture.Get(backendName);
        // [−6, 3): covers the saturated negative tail, the region near 0 and the identity part.
        var x = RandomArrays.Uniform(800, length, -6, 3);
        using var tx = backend.Upload(x, length);
        using var ty = backend.Filled(float.NaN, length);
        using var inPlace = backend.Upload(x, length);

        backend.Elu(tx, ty);
        backend.Elu(inPlace, inPlace);

        var expected = Elu(x);
        var tol = expected.Select(v => 4 * ArrayAssert.FloatEps * (1 + Math.Abs(v))).ToArray();
        ArrayAssert.Close(expected, ty.ToDoubles(), tol, $"{backendName} ELU");
        ArrayAssert.Close(expected, inPlace.ToDoubles(), tol, $"{backendName} ELU in place");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EluBackward_MatchesReference(string backendName, int length)
    {
        var backend = fixture.Get(backendName);
        var x = RandomArrays.Uniform(810, length, -6, 3);
        var dy = RandomArrays.Uniform(811, length);
        var initial = RandomArrays.Uniform(812, length);
        using var tx = backend.Upload(x, length);
        using var tdy = backend.Upload(dy, length);
        using var tdx = backend.Filled(float.NaN, length);
        using var tacc = backend.Upload(initial, length);

        backend.EluBackward(tx, tdy, tdx, accumulate: false);
        backend.EluBackward(tx, tdy, tacc, accumulate: true);

        var expected = EluBackward(x, dy);
        ArrayAssert.Close(expected, tdx.ToDoubles(), expected.Select(v => 4 * ArrayAssert.FloatEps * Math.Abs(v)).ToArray(), $"{backendName} ELU dx");
        ArrayAssert.Close(Add(initial, expected), tacc.ToDoubles(),
            expected.Select((v, i) => 4 * ArrayAssert.FloatEps * (Math.Abs(v) + Math.Abs(initial[i]))).ToArray(), $"{backendName} ELU dx accumulate");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EluBackwardFromOutput_MatchesTheTrueDerivative(string backendName, int length)
    {
        var backend = fixture.Get(backendName);
        var x = RandomArrays.Uniform(820, length, -6, 3);
        var dy = RandomArrays.Uniform(821, length);
        var initial = RandomArrays.Uniform(822, length);
        using var tx = backend.Upload(x, length);
        using var ty = backend.Filled(float.NaN, length);
        using var tdy = backend.Upload(dy, length);
        using var tdx = backend.Filled(float.NaN, length);
        using var tacc = backend.Upload(initial, length);

        backend.Elu(tx, ty);
        backend.EluBackwardFromOutput(ty, tdy, tdx, accumulate: false);
        backend.EluBackwardFromOutput(ty, tdy, tacc, accumulate: true);

        var expected = EluBackward(x, dy);
        var tol = expected.Select((v, i) => ArrayAssert.FloatEps * (8 * Math.Abs(dy[i]) + 2 * Math.Abs(v))).ToArray();
        ArrayAssert.Close(expected, tdx.ToDoubles(), tol, $"{backendName} ELU dx from y");
        ArrayAssert.Close(Add(initial, expected), tacc.ToDoubles(),
            tol.Select((t, i) => t + 2 * ArrayAssert.FloatEps * (Math.Abs(expected[i]) + Math.Abs(initial[i]))).ToArray(), $"{backendName} ELU dx from y accumulate");
    }
}

/// <summary>
/// The SIMD backend's single-precision exp (<c>SimdExp</c>) behind ELU at the ends of its range, and the backward from
/// ELU's output on the values it gives there.
/// </summary>
public sealed class SimdEluExtremesTests
{
    [Fact]
    public void Elu_HandlesTheEndsOfTheRange_AndPropagatesNaN()
    {
        // 32 values, so whole 16-float vectors take the fast exp path.
        float[] x =
        [
            0f, -0f, -1e-30f, -1e-8f, -1e-3f, -0.25f, -0.5f, -1f, -2f, -10f, -20f, -80f, -87f, -87.3f, -88f, -100f,
            -1e30f, float.NegativeInfinity, float.NaN, 1e-8f, 1f, 100f, float.PositiveInfinity, -0.3465736f,
            0.3465736f, -5.5f, -7.25f, -15f, -30f, -40f, -50f, -60f,
        ];
        using var backend = new JointDiffusion.Gpu.Backends.Simd.SimdBackend();
        using var tx = backend.Upload(x.Select(v => (double)v).ToArray(), x.Length);
        using var ty = backend.Filled(float.NaN, x.Length);
        using var tdy = backend.Upload(Enumerable.Repeat(1.0, x.Length).ToArray(), x.Length);
        using var tdx = backend.Filled(float.NaN, x.Length);
        using var tdxFromY = backend.Filled(float.NaN, x.Length);
        backend.Elu(tx, ty);
        backend.EluBackward(tx, tdy, tdx, accumulate: false);
        backend.EluBackwardFromOutput(ty, tdy, tdxFromY, accumulate: false);
        var y = ty.ToArray();
        var dx = tdx.ToArray();
        var dxFromY = tdxFromY.ToArray();
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            if (double.IsNaN(v))
            {
                Assert.True(float.IsNaN(y[i]) && float.IsNaN(dx[i]) && float.IsNaN(dxFromY[i]),
                    "ELU must carry NaN through (the sampler's divergence check relies on it)");
                continue;
            }

            double expected = v > 0 ? v : Math.Exp(v) - 1, slope = v > 0 ? 1 : Math.Exp(v);
            Assert.True(Math.Abs(y[i] - expected) <= 4 * ArrayAssert.FloatEps * (1 + Math.Abs(expected)) || (double.IsInfinity(v) && y[i] == expected),
                $"ELU({v}) = {y[i]}, expected {expected}");
            Assert.True(Math.Abs(dx[i] - slope) <= 4 * ArrayAssert.FloatEps * slope + 1e-37, $"ELU'({v}) = {dx[i]}, expected {slope}");
            // From y the slope is y + 1, with y's absolute error of 8u (EluTests' remarks): −∞ and the saturated tail give 0.
            Assert.True(Math.Abs(dxFromY[i] - slope) <= ArrayAssert.FloatEps * (8 + 2 * slope), $"ELU'({v}) from y = {y[i]}: {dxFromY[i]}, expected {slope}");
        }
    }
}
