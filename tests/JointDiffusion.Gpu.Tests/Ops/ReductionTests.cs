using JointDiffusion.Gpu.Tests.Reference;
using static JointDiffusion.Gpu.Tests.Reference.ReferenceOps;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>Sum, dot and per-sample L2 norm of every backend against the double reference.</summary>
/// <remarks>
/// Tolerance: a K-term float reduction, SumTolerance(Σ|terms|, K) = 2·√K·u·Σ|terms| (see <see cref="ArrayAssert.SumTolerance"/>),
/// plus u·Σ|terms| for the products of dot and norm. A norm is √(Σx²): its relative error is half that of Σx².
/// </remarks>
[Collection(BackendCollection.Name)]
public sealed class ReductionTests(BackendFixture fixture)
{
    /// <summary>(backend, N, elements per sample).</summary>
    public static TheoryData<string, int, int> Cases => new()
    {
        { BackendFixture.Simd, 1, 1 }, { BackendFixture.Simd, 3, 37 }, { BackendFixture.Simd, 2, 150_001 },
        { BackendFixture.IlgpuCpu, 1, 1 }, { BackendFixture.IlgpuCpu, 3, 37 }, { BackendFixture.IlgpuCpu, 2, 1_000 },
    };

    private static double Tol(double magnitude, int terms) => (2 * Math.Sqrt(terms) + 2) * ArrayAssert.FloatEps * magnitude;

    [Theory]
    [MemberData(nameof(Cases))]
    public void SumAndDot_MatchReference(string backendName, int n, int per)
    {
        var backend = fixture.Get(backendName);
        // An offset of 0.3 keeps the sums away from 0, so that a relative comparison is meaningful too.
        var a = RandomArrays.Uniform(1300, n * per, -0.7, 1.3);
        var b = RandomArrays.Uniform(1301, n * per);
        using var ta = backend.Upload(a, n, per);
        using var tb = backend.Upload(b, n, per);
        using var tresult = backend.Filled(float.NaN, 1);

        backend.Sum(ta, tresult);
        double sumDevice = tresult.ToDoubles()[0];
        double sumHost = backend.Sum(ta);
        backend.Dot(ta, tb, tresult);
        double dotDevice = tresult.ToDoubles()[0];
        double dotHost = backend.Dot(ta, tb);

        int k = n * per;
        double sumTol = Tol(RandomArrays.Abs(a).Sum(), k), dotTol = Tol(Dot(RandomArrays.Abs(a), RandomArrays.Abs(b)), k);
        ArrayAssert.Close([Sum(a), Sum(a), Dot(a, b), Dot(a, b)], [sumDevice, sumHost, dotDevice, dotHost],
            [sumTol, sumTol, dotTol, dotTol], $"{backendName} sum, sum (host), dot, dot (host)");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void NormPerSample_MatchesReference(string backendName, int n, int per)
    {
        var backend = fixture.Get(backendName);
        var x = RandomArrays.Uniform(1310, n * per);
        using var tx = backend.Upload(x, n, per);
        using var tresult = backend.Filled(float.NaN, n);

        backend.NormPerSample(tx, tresult);

        var expected = NormPerSample(x, n);
        ArrayAssert.Close(expected, tresult.ToDoubles(), expected.Select(v => Tol(v, per)).ToArray(), $"{backendName} norm per sample");
    }
}
