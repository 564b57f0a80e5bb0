using JointDiffusion.Gpu.Tests.Reference;
using static JointDiffusion.Gpu.Tests.Reference.ReferenceOps;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>Fill, copy, add, affine, axpy and their per-sample forms of every backend against the double reference.</summary>
/// <remarks>
/// Tolerance: each output is at most three float operations on float inputs (products then a sum, possibly fused),
/// each with relative error ≤ u, so |error| ≤ 3u·Σ|terms| (the sum of the absolute values of what is added); 4u
/// leaves room for the reference's own double rounding near the bound. Fill and copy are exact.
/// Shapes: batch 3 with per-sample lengths around vector widths; on SIMD also a tensor above the parallel threshold.
/// </remarks>
[Collection(BackendCollection.Name)]
public sealed class ElementwiseTests(BackendFixture fixture)
{
    /// <summary>(backend, N, elements per sample).</summary>
    public static TheoryData<string, int, int> Cases => new()
    {
        { BackendFixture.Simd, 1, 1 }, { BackendFixture.Simd, 3, 37 }, { BackendFixture.Simd, 3, 40_001 },
        { BackendFixture.IlgpuCpu, 1, 1 }, { BackendFixture.IlgpuCpu, 3, 37 },
    };

    private static double[] Tol(params double[][] terms) =>
        Enumerable.Range(0, terms[0].Length).Select(i => 4 * ArrayAssert.FloatEps * terms.Sum(t => Math.Abs(t[i]))).ToArray();

    [Theory]
    [MemberData(nameof(Cases))]
    public void FillAndCopy_AreExact(string backendName, int n, int per)
    {
        var backend = fixture.Get(backendName);
        var x = RandomArrays.Uniform(1200, n * per);
        using var tx = backend.Upload(x, n, per);
        using var ty = backend.Filled(-2.5f, n, per);
        Assert.All(ty.ToArray(), v => Assert.Equal(-2.5f, v));

        backend.Copy(tx, ty);
        ArrayAssert.Close(x, ty.ToDoubles(), 0.0, $"{backendName} copy");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Add_MatchesReference_AlsoInPlace(string backendName, int n, int per)
    {
        var backend = fixture.Get(backendName);
        var a = RandomArrays.Uniform(1210, n * per);
        var b = RandomArrays.Uniform(1211, n * per);
        using var ta = backend.Upload(a, n, per);
        using var tb = backend.Upload(b, n, per);
        using var ty = backend.Filled(float.NaN, n, per);

        backend.Add(ta, tb, ty);
        backend.Add(ta, tb, ta);

        ArrayAssert.Close(Add(a, b), ty.ToDoubles(), Tol(a, b), $"{backendName} add");
        ArrayAssert.Close(Add(a, b), ta.ToDoubles(), Tol(a, b), $"{backendName} add into a");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void AffineAndScale_MatchReference_AlsoInPlace(string backendName, int n, int per)
    {
        var backend = fixture.Get(backendName);
        var x = RandomArrays.Uniform(1220, n * per);
        using var tx = backend.Upload(x, n, per);
        using var ty = backend.Filled(float.NaN, n, per);
        using var tz = backend.Filled(float.NaN, n, per);

        backend.Affine(tx, 2f, -1f, ty);   // the NCSNv2 input map 2x − 1
        backend.Scale(tx, -0.75f, tz);
        backend.Affine(tx, 0.5f, 0.25f, tx);

        ArrayAssert.Close(Affine(x, 2, -1), ty.ToDoubles(), Tol(Affine(x, 2, 0), Enumerable.Repeat(1.0, x.Length).ToArray()), $"{backendName} affine");
        ArrayAssert.Close(Affine(x, -0.75, 0), tz.ToDoubles(), Tol(Affine(x, -0.75, 0)), $"{backendName} scale");
        ArrayAssert.Close(Affine(x, 0.5, 0.25), tx.ToDoubles(), Tol(Affine(x, 0.5, 0), Enumerable.Repeat(0.25, x.Length).ToArray()), $"{backendName} affine in place");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Axpy_MatchesReference(string backendName, int n, int per)
    {
        var backend = fixture.Get(backendName);
        var x = RandomArrays.Uniform(1230, n * per);
        var y = RandomArrays.Uniform(1231, n * per);
        using var tx = backend.Upload(x, n, per);
        using var ty = backend.Upload(y, n, per);

        backend.Axpy(-1.5f, tx, ty);

        ArrayAssert.Close(Axpy(-1.5, x, y), ty.ToDoubles(), Tol(y, Affine(x, -1.5, 0)), $"{backendName} axpy");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void PerSampleScaleAndAxpy_MatchReference(string backendName, int n, int per)
    {
        var backend = fixture.Get(backendName);
        var x = RandomArrays.Uniform(1240, n * per);
        var y = RandomArrays.Uniform(1241, n * per);
        var s = RandomArrays.Uniform(1242, n, 0.1, 3);
        using var tx = backend.Upload(x, n, per);
        using var ty = backend.Upload(y, n, per);
        using var ts = backend.Upload(s, n);
        using var tscaled = backend.Filled(float.NaN, n, per);
        using var tinPlace = backend.Upload(x, n, per);

        backend.ScalePerSample(tx, ts, tscaled);
        backend.ScalePerSample(tinPlace, ts, tinPlace);
        backend.AxpyPerSample(0.5f, ts, tx, ty);

        var scaled = ScalePerSample(x, s, per);
        ArrayAssert.Close(scaled, tscaled.ToDoubles(), Tol(scaled), $"{backendName} scale per sample");
        ArrayAssert.Close(scaled, tinPlace.ToDoubles(), Tol(scaled), $"{backendName} scale per sample in place");
        // alpha·s[n]·x: two products, then the sum with y.
        ArrayAssert.Close(AxpyPerSample(0.5, s, x, y, per), ty.ToDoubles(), Tol(y, scaled, Affine(scaled, 0.5, 0)), $"{backendName} axpy per sample");
    }
}
