using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Tensors;
using JointDiffusion.Gpu.Tests.Reference;
using static JointDiffusion.Gpu.Tests.Reference.ReferenceOps;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>
/// InstanceNorm2dPlus forward (output and saved stats) and backward (dx, dα, dγ, dβ) of every backend against
/// the double reference.
/// </summary>
/// <remarks>
/// Tolerance, norm-wise: 2·√(HW + C)·u·κ·‖ref‖∞. The backend reduces over HW (plane statistics) and over C
/// (statistics of the channel means), so the stats carry a relative error ≈ √(HW + C)·u; the normalisations
/// amplify input rounding by κ = max over planes of (|x|max + |μ|)·r plus max over samples of (|μ|max + |m|)·q,
/// r = 1/√(s²+ε) and q = 1/√(v+ε) (the relative error of x − μ is u·(|x| + |μ|)/|x − μ|). The factor 2 is headroom
/// for the few float operations per element (measured errors on SIMD are ≤ 5% of this bound). The parameter gradients sum N·HW terms and get √(N·HW + C).
/// Inputs have channel offsets in [−1, 1) and scales in [0.5, 2) (κ ≈ 10), plus one case with scales
/// [0.003, 0.012) where s² ≈ ε, so that the ε = 1e-5 of the instance normalisation matters at O(1).
/// </remarks>
[Collection(BackendCollection.Name)]
public sealed class InstanceNorm2dPlusTests(BackendFixture fixture)
{
    /// <summary>One input geometry; <paramref name="ScaleLo"/> is the smallest per-plane input scale.</summary>
    public sealed record Case(int N, int C, int H, int W, double ScaleLo)
    {
        /// <summary>Elements per plane.</summary>
        public int Hw => H * W;

        /// <inheritdoc/>
        public override string ToString() => $"x[{N},{C},{H},{W}] scale≥{ScaleLo}";
    }

    /// <summary>
    /// Every (backend, N, C, H, W, smallest scale): full shapes on SIMD, tiny ones on the ILGPU CPU simulator. Rows are
    /// primitives so that xunit lists one test per row and <c>--filter DisplayName~ilgpu-cpu</c> selects a backend.
    /// </summary>
    public static TheoryData<string, int, int, int, int, double> Cases => new()
    {
        { BackendFixture.Simd, 2, 3, 8, 8, 0.5 },
        { BackendFixture.Simd, 1, 5, 7, 9, 0.5 },
        { BackendFixture.Simd, 3, 2, 4, 4, 0.5 },      // C = 2, the smallest allowed
        { BackendFixture.Simd, 2, 10, 32, 32, 0.5 },
        { BackendFixture.Simd, 1, 67, 16, 16, 0.5 },   // C not a multiple of any vector width
        { BackendFixture.Simd, 2, 4, 6, 6, 0.003 },    // s² ≈ ε
        { BackendFixture.IlgpuCpu, 2, 3, 8, 8, 0.5 },
        { BackendFixture.IlgpuCpu, 1, 5, 7, 5, 0.5 },
        { BackendFixture.IlgpuCpu, 2, 2, 4, 4, 0.5 },
        { BackendFixture.IlgpuCpu, 1, 4, 6, 6, 0.003 },
    };

    private static (double[] X, double[] Alpha, double[] Gamma, double[] Beta) Inputs(Case c, int seed) => (
        RandomArrays.ChannelOffsetScaled(seed, c.N, c.C, c.Hw, c.ScaleLo, 4 * c.ScaleLo),
        RandomArrays.Uniform(seed + 1, c.C, 0.5, 1.5),
        RandomArrays.Uniform(seed + 2, c.C, 0.5, 1.5),
        RandomArrays.Uniform(seed + 3, c.C));

    /// <summary>A case's x, α, γ, β on a backend, disposed together.</summary>
    private sealed class Uploaded(ComputeBackend backend, Case c, double[] x, double[] alpha, double[] gamma, double[] beta) : IDisposable
    {
        public Tensor X { get; } = backend.Upload(x, c.N, c.C, c.H, c.W);

        public Tensor Alpha { get; } = backend.Upload(alpha, c.C);

        public Tensor Gamma { get; } = backend.Upload(gamma, c.C);

        public Tensor Beta { get; } = backend.Upload(beta, c.C);

        public void Dispose()
        {
            X.Dispose();
            Alpha.Dispose();
            Gamma.Dispose();
            Beta.Dispose();
        }
    }

    /// <summary>κ of the remarks, from the reference stats.</summary>
    private static double Condition(double[] x, double[] stats, Case c)
    {
        int per = 2 * c.C + 2;
        double plane = 0, means = 0;
        for (int b = 0; b < c.N; b++)
        {
            double muMax = 0;
            for (int ch = 0; ch < c.C; ch++)
            {
                double mu = stats[b * per + ch], r = stats[b * per + c.C + ch];
                double xMax = x.Skip((b * c.C + ch) * c.Hw).Take(c.Hw).Max(Math.Abs);
                plane = Math.Max(plane, (xMax + Math.Abs(mu)) * r);
                muMax = Math.Max(muMax, Math.Abs(mu));
            }

            means = Math.Max(means, (muMax + Math.Abs(stats[b * per + 2 * c.C])) * stats[b * per + 2 * c.C + 1]);
        }

        return plane + means;
    }

    private static double[] NormTolerance(double[] expected, int terms, double kappa)
    {
        double tol = 2 * Math.Sqrt(terms) * ArrayAssert.FloatEps * kappa * expected.Max(Math.Abs);
        return Enumerable.Repeat(tol, expected.Length).ToArray();
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void InstanceNorm2dPlus_MatchesReference(string backendName, int n, int channels, int h, int w, double scaleLo)
    {
        var c = new Case(n, channels, h, w, scaleLo);
        var backend = fixture.Get(backendName);
        var (x, alpha, gamma, beta) = Inputs(c, 500);
        using var inputs = new Uploaded(backend, c, x, alpha, gamma, beta);
        var (tx, ta, tg, tb) = (inputs.X, inputs.Alpha, inputs.Gamma, inputs.Beta);
        using var ty = backend.Filled(float.NaN, c.N, c.C, c.H, c.W);
        using var tstats = backend.Filled(float.NaN, c.N, 2 * c.C + 2);

        backend.InstanceNorm2dPlus(tx, ta, tg, tb, ty, tstats);

        var stats = InstanceNorm2dPlusStats(x, c.N, c.C, c.H, c.W);
        double kappa = Condition(x, stats, c);
        var expected = InstanceNorm2dPlus(x, alpha, gamma, beta, c.N, c.C, c.H, c.W);
        ArrayAssert.Close(expected, ty.ToDoubles(), NormTolerance(expected, c.Hw + c.C, kappa), $"{backendName} IN++ y {c}");

        // Stats layout (InstanceNormStats): μ, r, m, q per sample; compared group by group, each norm-wise.
        var got = tstats.ToDoubles();
        int per = 2 * c.C + 2;
        foreach (var (start, length, name) in new[] { (0, c.C, "mu"), (c.C, c.C, "rstd"), (2 * c.C, 1, "m"), (2 * c.C + 1, 1, "q") })
        {
            var idx = Enumerable.Range(0, c.N).SelectMany(b => Enumerable.Range(b * per + start, length)).ToArray();
            var e = idx.Select(i => stats[i]).ToArray();
            ArrayAssert.Close(e, idx.Select(i => got[i]).ToArray(), NormTolerance(e, c.Hw + c.C, kappa), $"{backendName} IN++ stats {name} {c}");
        }
    }

    /// <summary>
    /// With elu: true, y = ELU(IN++(x)). ELU is 1-Lipschitz, so the norm's error (<see cref="NormTolerance"/>) reaches y
    /// at most unchanged, and ELU's own evaluation adds 4u·(1 + |y|) (EluTests' remarks). The stats are the norm's,
    /// computed as without the ELU: bit for bit those of the plain forward.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void InstanceNorm2dPlusElu_MatchesEluOfReference(string backendName, int n, int channels, int h, int w, double scaleLo)
    {
        var c = new Case(n, channels, h, w, scaleLo);
        var backend = fixture.Get(backendName);
        var (x, alpha, gamma, beta) = Inputs(c, 550);
        using var inputs = new Uploaded(backend, c, x, alpha, gamma, beta);
        var (tx, ta, tg, tb) = (inputs.X, inputs.Alpha, inputs.Gamma, inputs.Beta);
        using var ty = backend.Filled(float.NaN, c.N, c.C, c.H, c.W);
        using var tstats = backend.Filled(float.NaN, c.N, 2 * c.C + 2);
        using var plain = backend.Filled(float.NaN, c.N, c.C, c.H, c.W);
        using var plainStats = backend.Filled(float.NaN, c.N, 2 * c.C + 2);

        backend.InstanceNorm2dPlus(tx, ta, tg, tb, ty, tstats, elu: true);
        backend.InstanceNorm2dPlus(tx, ta, tg, tb, plain, plainStats);

        double kappa = Condition(x, InstanceNorm2dPlusStats(x, c.N, c.C, c.H, c.W), c);
        var norm = InstanceNorm2dPlus(x, alpha, gamma, beta, c.N, c.C, c.H, c.W);
        var expected = Elu(norm);
        var tol = NormTolerance(norm, c.Hw + c.C, kappa).Select((t, i) => t + 4 * ArrayAssert.FloatEps * (1 + Math.Abs(expected[i]))).ToArray();
        ArrayAssert.Close(expected, ty.ToDoubles(), tol, $"{backendName} ELU(IN++) y {c}");
        Assert.Equal(plainStats.ToArray(), tstats.ToArray());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void InstanceNorm2dPlusBackward_MatchesReference(string backendName, int n, int channels, int h, int w, double scaleLo)
    {
        var c = new Case(n, channels, h, w, scaleLo);
        var backend = fixture.Get(backendName);
        var (x, alpha, gamma, beta) = Inputs(c, 600);
        var dy = RandomArrays.Uniform(604, x.Length);
        var initX = RandomArrays.Uniform(605, x.Length);
        var initA = RandomArrays.Uniform(606, c.C);
        var initG = RandomArrays.Uniform(607, c.C);
        var initB = RandomArrays.Uniform(608, c.C);
        using var inputs = new Uploaded(backend, c, x, alpha, gamma, beta);
        var (tx, ta, tg, tb) = (inputs.X, inputs.Alpha, inputs.Gamma, inputs.Beta);
        using var tdy = backend.Upload(dy, c.N, c.C, c.H, c.W);
        using var ty = backend.Allocate(tx.Shape);
        using var tstats = backend.Allocate(new(c.N, 2 * c.C + 2));
        backend.InstanceNorm2dPlus(tx, ta, tg, tb, ty, tstats);
        using var tdx = backend.Filled(float.NaN, c.N, c.C, c.H, c.W);
        using var tda = backend.Filled(float.NaN, c.C);
        using var tdg = backend.Filled(float.NaN, c.C);
        using var tdb = backend.Filled(float.NaN, c.C);
        using var accX = backend.Upload(initX, c.N, c.C, c.H, c.W);
        using var accA = backend.Upload(initA, c.C);
        using var accG = backend.Upload(initG, c.C);
        using var accB = backend.Upload(initB, c.C);

        backend.InstanceNorm2dPlusBackward(tx, tdy, ta, tg, tstats, tdx, tda, tdg, tdb, accumulate: false);
        backend.InstanceNorm2dPlusBackward(tx, tdy, ta, tg, tstats, accX, accA, accG, accB, accumulate: true);

        double kappa = Condition(x, InstanceNorm2dPlusStats(x, c.N, c.C, c.H, c.W), c);
        var (dx, da, dg, db) = InstanceNorm2dPlusBackward(x, dy, alpha, gamma, c.N, c.C, c.H, c.W);
        int planeTerms = c.Hw + c.C, paramTerms = c.N * c.Hw + c.C;
        ArrayAssert.Close(dx, tdx.ToDoubles(), NormTolerance(dx, planeTerms, kappa), $"{backendName} IN++ dx {c}");
        ArrayAssert.Close(da, tda.ToDoubles(), NormTolerance(da, paramTerms, kappa), $"{backendName} IN++ dalpha {c}");
        ArrayAssert.Close(dg, tdg.ToDoubles(), NormTolerance(dg, paramTerms, kappa), $"{backendName} IN++ dgamma {c}");
        ArrayAssert.Close(db, tdb.ToDoubles(), NormTolerance(db, paramTerms, kappa), $"{backendName} IN++ dbeta {c}");

        // Accumulating adds to the initial values; the tolerance grows by the rounding of that one addition.
        foreach (var (init, grad, got, terms, name) in new[]
        {
            (initX, dx, accX, planeTerms, "dx"), (initA, da, accA, paramTerms, "dalpha"),
            (initG, dg, accG, paramTerms, "dgamma"), (initB, db, accB, paramTerms, "dbeta"),
        })
        {
            var tol = NormTolerance(grad, terms, kappa).Select((t, i) => t + 2 * ArrayAssert.FloatEps * (Math.Abs(init[i]) + Math.Abs(grad[i]))).ToArray();
            ArrayAssert.Close(Add(init, grad), got.ToDoubles(), tol, $"{backendName} IN++ {name} accumulate {c}");
        }
    }

    [Theory]
    [MemberData(nameof(BackendFixture.Names), MemberType = typeof(BackendFixture))]
    public void InstanceNorm2dPlusBackward_ComputesEachRequestedGradientAlone(string backendName)
    {
        // Each of dx, dα, dγ, dβ requested on its own (the others null) must equal the full computation.
        var backend = fixture.Get(backendName);
        var c = new Case(2, 3, 4, 5, 0.5);
        var (x, alpha, gamma, beta) = Inputs(c, 700);
        var dy = RandomArrays.Uniform(704, x.Length);
        using var inputs = new Uploaded(backend, c, x, alpha, gamma, beta);
        var (tx, ta, tg, tb) = (inputs.X, inputs.Alpha, inputs.Gamma, inputs.Beta);
        using var tdy = backend.Upload(dy, c.N, c.C, c.H, c.W);
        using var ty = backend.Allocate(tx.Shape);
        using var tstats = backend.Allocate(new(c.N, 2 * c.C + 2));
        backend.InstanceNorm2dPlus(tx, ta, tg, tb, ty, tstats);

        var (dx, da, dg, db) = InstanceNorm2dPlusBackward(x, dy, alpha, gamma, c.N, c.C, c.H, c.W);
        double kappa = Condition(x, InstanceNorm2dPlusStats(x, c.N, c.C, c.H, c.W), c);
        for (int which = 0; which < 4; which++)
        {
            using var t = which == 0 ? backend.Filled(float.NaN, c.N, c.C, c.H, c.W) : backend.Filled(float.NaN, c.C);
            backend.InstanceNorm2dPlusBackward(tx, tdy, ta, tg, tstats,
                which == 0 ? t : null, which == 1 ? t : null, which == 2 ? t : null, which == 3 ? t : null, accumulate: false);
            var expected = new[] { dx, da, dg, db }[which];
            int terms = which == 0 ? c.Hw + c.C : c.N * c.Hw + c.C;
            ArrayAssert.Close(expected, t.ToDoubles(), NormTolerance(expected, terms, kappa), $"{backendName} IN++ gradient {which} alone");
        }
    }
}
