using JointDiffusion.Gpu.Tests.Reference;
using static JointDiffusion.Gpu.Tests.Reference.ReferenceOps;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>Fill, copy, add, affine, axpy, their per-sample forms and the broadcast multiply and add of every backend against the double reference.</summary>
/// <remarks>
/// Tolerance: each output is at most three float operations on float inputs (products then a sum, possibly fused),
/// each with relative error ≤ u, so |error| ≤ 3u·Σ|terms| (the sum of the absolute values of what is added); 4u
/// leaves room for the reference's own double rounding near the bound. Fill and copy are exact.
/// Shapes: batch 3 with per-sample lengths around vector widths; on SIMD also a tensor above the parallel threshold,
/// and for the broadcast ops many short samples above it, so that the parallel chunks start and end inside samples.
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

    /// <summary><see cref="Cases"/> plus 5000 samples of 7 elements (35 000 in all, above the SIMD parallel threshold).</summary>
    public static TheoryData<string, int, int> BroadcastCases
    {
        get
        {
            var data = Cases;
            data.Add(BackendFixture.Simd, 5000, 7);
            return data;
        }
    }

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
    [MemberData(nameof(BackendFixture.Names), MemberType = typeof(BackendFixture))]
    public void ReciprocalOrZero_InvertsPositivesAndZeroesTheRest_AlsoInPlace(string backendName)
    {
        // One correctly rounded division per positive element: exact to float rounding; zero, negatives and NaN give 0.
        var backend = fixture.Get(backendName);
        float[] x = [4f, 0.5f, 3f, 0f, -2f, float.NaN, 1e-30f, 7e30f, float.PositiveInfinity];
        using var tx = backend.FromHost(x, new Tensors.Shape(x.Length));
        using var ty = backend.Filled(float.NaN, x.Length);
        backend.ReciprocalOrZero(tx, ty);
        backend.ReciprocalOrZero(tx, tx);
        float[] expected = x.Select(v => v > 0f ? 1f / v : 0f).ToArray();
        Assert.Equal(expected, ty.ToArray());
        Assert.Equal(expected, tx.ToArray());

        // With a threshold: only values above it are inverted (the dense operator's null-space cut).
        using var tz = backend.FromHost(x, new Tensors.Shape(x.Length));
        backend.ReciprocalOrZero(tz, tz, threshold: 3f);
        Assert.Equal(x.Select(v => v > 3f ? 1f / v : 0f).ToArray(), tz.ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => backend.ReciprocalOrZero(tz, tz, threshold: -1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => backend.ReciprocalOrZero(tz, tz, threshold: float.NaN));
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

    [Theory]
    [MemberData(nameof(BroadcastCases))]
    public void MultiplyAndAddBroadcast_MatchReference_AlsoInPlace(string backendName, int n, int per)
    {
        var backend = fixture.Get(backendName);
        var x = RandomArrays.Uniform(1250, n * per);
        var w = RandomArrays.Uniform(1251, per, -2, 2);
        using var tx = backend.Upload(x, n, per);
        using var tw = backend.Upload(w, per);
        using var tproduct = backend.Filled(float.NaN, n, per);
        using var tsum = backend.Filled(float.NaN, n, per);
        using var tproductInPlace = backend.Upload(x, n, per);
        using var tsumInPlace = backend.Upload(x, n, per);

        backend.MultiplyBroadcast(tx, tw, tproduct);
        backend.MultiplyBroadcast(tproductInPlace, tw, tproductInPlace);
        backend.AddBroadcast(tx, -0.75f, tw, tsum);
        backend.AddBroadcast(tsumInPlace, -0.75f, tw, tsumInPlace);

        var product = MultiplyBroadcast(x, w);
        var sum = AddBroadcast(x, -0.75, w);
        // alpha·w[i]: one product, then the sum with x.
        var sumTol = Tol(x, MultiplyBroadcast(Enumerable.Repeat(-0.75, x.Length).ToArray(), w));
        ArrayAssert.Close(product, tproduct.ToDoubles(), Tol(product), $"{backendName} multiply broadcast");
        ArrayAssert.Close(product, tproductInPlace.ToDoubles(), Tol(product), $"{backendName} multiply broadcast in place");
        ArrayAssert.Close(sum, tsum.ToDoubles(), sumTol, $"{backendName} add broadcast");
        ArrayAssert.Close(sum, tsumInPlace.ToDoubles(), sumTol, $"{backendName} add broadcast in place");
    }

    [Theory]
    [MemberData(nameof(BackendFixture.Names), MemberType = typeof(BackendFixture))]
    public void BroadcastOps_ApplyAnImageShapedWeightToEverySample(string backendName)
    {
        // x [2, 3, 4, 5] with w [3, 4, 5]: element (b, c, i, j) meets w[c, i, j] in both samples.
        var backend = fixture.Get(backendName);
        var x = RandomArrays.Uniform(1260, 2 * 60);
        var w = RandomArrays.Uniform(1261, 60);
        using var tx = backend.Upload(x, 2, 3, 4, 5);
        using var tw = backend.Upload(w, 3, 4, 5);
        using var tproduct = backend.Filled(float.NaN, 2, 3, 4, 5);
        using var tsum = backend.Filled(float.NaN, 2, 3, 4, 5);

        backend.MultiplyBroadcast(tx, tw, tproduct);
        backend.AddBroadcast(tx, 2f, tw, tsum);

        var product = MultiplyBroadcast(x, w);
        ArrayAssert.Close(product, tproduct.ToDoubles(), Tol(product), $"{backendName} multiply broadcast");
        ArrayAssert.Close(AddBroadcast(x, 2, w), tsum.ToDoubles(), Tol(x, MultiplyBroadcast(Enumerable.Repeat(2.0, x.Length).ToArray(), w)), $"{backendName} add broadcast");
    }
}
