using JointDiffusion.Gpu.Tensors;
using JointDiffusion.Gpu.Tests.Reference;
using static JointDiffusion.Gpu.Tests.Reference.ReferenceOps;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>The batched matrix–vector product A·x and Aᵀ·x of every backend against the double reference.</summary>
/// <remarks>
/// Tolerance: each output sums K = (per-sample length of x) float products, so its error is that of a K-term float
/// sum, <see cref="ArrayAssert.SumTolerance"/> = (2√K + 1)·u·Σ|terms|, plus u·Σ|terms| for rounding the products
/// themselves; Σ|terms| of output (b, r) is (|A|·|x|)[b, r], computed with the reference.
/// Shapes: m and k of 1, 7, 33, 70 (below, at and across vector widths of 4, 8 and 16 floats, with tails), batch
/// up to 3; on SIMD also products above the parallel threshold, one with few rows and a large batch so that the
/// batch is split across threads.
/// </remarks>
[Collection(BackendCollection.Name)]
public sealed class LinearAlgebraTests(BackendFixture fixture)
{
    /// <summary>(backend, N, m, k, transpose).</summary>
    public static TheoryData<string, int, int, int, bool> Cases
    {
        get
        {
            var data = new TheoryData<string, int, int, int, bool>();
            foreach (bool transpose in new[] { false, true })
            {
                foreach (var (n, m, k) in new[] { (1, 1, 1), (3, 7, 33), (2, 70, 7), (1, 1, 70), (3, 33, 1) })
                {
                    data.Add(BackendFixture.Simd, n, m, k, transpose);
                    data.Add(BackendFixture.IlgpuCpu, n, m, k, transpose);
                }

                foreach (var (n, m, k) in new[] { (3, 257, 1030), (40, 3, 300), (40, 300, 3) })
                {
                    data.Add(BackendFixture.Simd, n, m, k, transpose);
                }
            }

            return data;
        }
    }

    /// <summary>The tolerance of the remarks for y = op(A)·x, from the reference applied to |A| and |x|.</summary>
    private static double[] Tol(double[] a, int m, int k, double[] x, int n, bool transpose)
    {
        var magnitude = MatVec(RandomArrays.Abs(a), m, k, RandomArrays.Abs(x), n, transpose);
        var sum = ArrayAssert.SumTolerance(magnitude, transpose ? m : k);
        return sum.Select((t, i) => t + ArrayAssert.FloatEps * magnitude[i]).ToArray();
    }

    [Fact]
    public void MatVecReference_MatchesHandComputedProducts()
    {
        double[] a = [1, 2, 3, 4, 5, 6];   // [[1, 2, 3], [4, 5, 6]]

        Assert.Equal([-2.0, -2.0, 6.0, 15.0], MatVec(a, 2, 3, [1, 0, -1, 1, 1, 1], 2, transpose: false));
        Assert.Equal([5.0, 7.0, 9.0, -4.0, -5.0, -6.0], MatVec(a, 2, 3, [1, 1, 0, -1], 2, transpose: true));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatVec_MatchesReference(string backendName, int n, int m, int k, bool transpose)
    {
        var backend = fixture.Get(backendName);
        int inLength = transpose ? m : k, outLength = transpose ? k : m;
        var a = RandomArrays.Uniform(1400, m * k);
        var x = RandomArrays.Uniform(1401, n * inLength);
        using var ta = backend.Upload(a, m, k);
        using var tx = backend.Upload(x, n, inLength);
        using var ty = backend.Filled(float.NaN, n, outLength);   // an unwritten element stays NaN and fails

        backend.MatVec(ta, tx, ty, transpose);

        ArrayAssert.Close(MatVec(a, m, k, x, n, transpose), ty.ToDoubles(), Tol(a, m, k, x, n, transpose),
            $"{backendName} {(transpose ? "Aᵀ" : "A")}·x, A [{m}, {k}], N {n}");
    }

    [Theory]
    [MemberData(nameof(BackendFixture.Names), MemberType = typeof(BackendFixture))]
    public void MatVec_MapsImageShapedSamples(string backendName)
    {
        // A [8, 16] measures images x [2, 1, 4, 4] (16 values each) into y [2, 8], and Aᵀ maps back to images.
        var backend = fixture.Get(backendName);
        var a = RandomArrays.Uniform(1410, 8 * 16);
        var x = RandomArrays.Uniform(1411, 2 * 16);
        var u = RandomArrays.Uniform(1412, 2 * 8);
        using var ta = backend.Upload(a, 8, 16);
        using var tx = backend.Upload(x, 2, 1, 4, 4);
        using var tu = backend.Upload(u, 2, 8);
        using var ty = backend.Filled(float.NaN, 2, 8);
        using var tback = backend.Filled(float.NaN, 2, 1, 4, 4);

        backend.MatVec(ta, tx, ty, transpose: false);
        backend.MatVec(ta, tu, tback, transpose: true);

        ArrayAssert.Close(MatVec(a, 8, 16, x, 2, false), ty.ToDoubles(), Tol(a, 8, 16, x, 2, false), $"{backendName} A·x");
        ArrayAssert.Close(MatVec(a, 8, 16, u, 2, true), tback.ToDoubles(), Tol(a, 8, 16, u, 2, true), $"{backendName} Aᵀ·u");
    }

    [Theory]
    [MemberData(nameof(BackendFixture.Names), MemberType = typeof(BackendFixture))]
    public void MatVec_ResultOfASampleDoesNotDependOnTheRestOfTheBatch(string backendName)
    {
        // A sampler's measurement of one image must not change with what else is in the batch: bit for bit.
        var backend = fixture.Get(backendName);
        const int m = 33, k = 70, n = 3;
        var a = RandomArrays.Uniform(1420, m * k);
        using var ta = backend.Upload(a, m, k);
        foreach (bool transpose in new[] { false, true })
        {
            int inLength = transpose ? m : k, outLength = transpose ? k : m;
            var x = RandomArrays.Uniform(1421, n * inLength);
            using var tx = backend.Upload(x, n, inLength);
            using var ty = backend.Allocate(new Shape(n, outLength));
            using var tone = backend.Upload(x.Skip(inLength).Take(inLength).ToArray(), 1, inLength);
            using var tyOne = backend.Allocate(new Shape(1, outLength));

            backend.MatVec(ta, tx, ty, transpose);
            backend.MatVec(ta, tone, tyOne, transpose);

            Assert.Equal(ty.ToArray().Skip(outLength).Take(outLength), tyOne.ToArray());
        }
    }

    [Theory]
    [MemberData(nameof(BackendFixture.Names), MemberType = typeof(BackendFixture))]
    public void MatVec_RejectsMismatchedShapesAndAliasing(string backendName)
    {
        var backend = fixture.Get(backendName);
        using var a = backend.Allocate(new Shape(3, 5));
        using var square = backend.Allocate(new Shape(4, 4));
        using var cube = backend.Allocate(new Shape(3, 5, 1));
        using var x = backend.Allocate(new Shape(2, 5));
        using var y = backend.Allocate(new Shape(2, 3));
        using var yWrong = backend.Allocate(new Shape(2, 4));
        using var yBatch = backend.Allocate(new Shape(3, 3));
        using var v = backend.Allocate(new Shape(2, 4));

        AssertRejected(() => backend.MatVec(cube, x, y, false), "matrix", "needs a matrix [m, k]", "[3, 5, 1]");
        AssertRejected(() => backend.MatVec(a, x, yWrong, false), "x", "A [3, 5] maps 5 values per sample to 3", "x [2, 5]", "y [2, 4]");
        AssertRejected(() => backend.MatVec(a, x, y, true), "x", "the transpose of A [3, 5] maps 3 values per sample to 5");
        AssertRejected(() => backend.MatVec(a, x, yBatch, false), "x", "y [3, 3]");
        AssertRejected(() => backend.MatVec(square, v, v, false), "y", "cannot write its result over its input");
    }

    [Theory]
    [MemberData(nameof(BackendFixture.Names), MemberType = typeof(BackendFixture))]
    public void BroadcastOps_RejectWeightsOfAnotherPerSampleLength(string backendName)
    {
        var backend = fixture.Get(backendName);
        using var x = backend.Allocate(new Shape(2, 3, 2, 2));
        using var w = backend.Allocate(new Shape(3, 4));
        using var wWrong = backend.Allocate(new Shape(2, 3, 2, 2));
        using var yWrong = backend.Allocate(new Shape(2, 12));

        AssertRejected(() => backend.MultiplyBroadcast(x, wWrong, x), "w", "[2, 3, 2, 2] has 24 values", "each batch item of [2, 3, 2, 2] has 12");
        AssertRejected(() => backend.AddBroadcast(x, 1f, wWrong, x), "w", "has 24 values", "has 12");
        AssertRejected(() => backend.MultiplyBroadcast(x, w, yWrong), "y", "[2, 12]", "must match [2, 3, 2, 2]");
    }

    private static void AssertRejected(Action call, string param, params string[] messageParts)
    {
        var e = Assert.ThrowsAny<ArgumentException>(call);
        Assert.Equal(param, e.ParamName);
        foreach (var part in messageParts)
        {
            Assert.Contains(part, e.Message, StringComparison.Ordinal);
        }
    }
}
