using JointDiffusion.Gpu.Backends.Simd;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Sampling;
using JointDiffusion.Gpu.Sampling.Operators;
using JointDiffusion.Gpu.Sampling.Rules;
using MathNet.Numerics.LinearAlgebra;
using Xunit.Abstractions;

namespace JointDiffusion.Gpu.Tests.Sampling;

/// <summary>
/// Every DC rule on a problem with a closed-form posterior. Signal x ~ N(μx, Cx) on 8×8 pixels with a smooth
/// squared-exponential covariance; structured noise n ~ N(μn, Cn) with the paper's sinusoidal-variance rows
/// (std ∝ exp(sin(2πk/8)) for row k); y = A x + b n with A = 0.5·I, b = 0.5 and with a dense compressed-sensing
/// A (m = 32, d = 64), b = 1. With exact Gaussian scores the posterior is N(m, P),
/// P = (Cx⁻¹ + Aᵀ(b²Cn)⁻¹A)⁻¹, m = P(Cx⁻¹μx + Aᵀ(b²Cn)⁻¹(y − bμn)).
/// </summary>
public sealed class GaussianPosteriorTests(ITestOutputHelper output) : IDisposable
{
    private const int Side = 8, D = Side * Side;
    private static readonly int[] ImageShape = [1, Side, Side];
    private readonly SimdBackend _backend = new();

    public void Dispose() => _backend.Dispose();

    private sealed record Problem(Vector<double> MuX, Matrix<double> Cx, Vector<double> MuN, Matrix<double> Cn, Matrix<double> A, double B);

    private static Problem MakeProblem(bool compressedSensing, DenseOperator? cs)
    {
        var muX = Vector<double>.Build.Dense(D, i => 0.5 + 0.2 * Math.Sin(0.7 * (i % Side)) * Math.Cos(0.5 * (i / Side)));
        var cx = Matrix<double>.Build.Dense(D, D, (i, j) =>
        {
            double dy = i / Side - j / Side, dx = i % Side - j % Side;
            return 0.09 * Math.Exp(-(dx * dx + dy * dy) / (2 * 2.0 * 2.0)) + (i == j ? 0.005 : 0);
        });
        int m = compressedSensing ? D / 2 : D;
        var muN = Vector<double>.Build.Dense(m, i => 0.1);
        // Sinusoidal-variance noise: one std per row k of the image (per element for CS), ∝ exp(sin(2πk/8)).
        var cn = Matrix<double>.Build.DenseDiagonal(m, m, i =>
        {
            int k = compressedSensing ? i : i / Side;
            double s = 0.25 * Math.Exp(Math.Sin(2 * Math.PI * k / 8));
            return s * s;
        });
        Matrix<double> a;
        if (compressedSensing)
        {
            var host = cs!.Matrix.ToArray();
            a = Matrix<double>.Build.Dense(m, D, (i, j) => host[i * D + j]);
        }
        else
        {
            a = 0.5 * Matrix<double>.Build.DenseIdentity(D);
        }

        return new Problem(muX, cx, muN, cn, a, compressedSensing ? 1.0 : 0.5);
    }

    private static (Vector<double> Mean, Matrix<double> Cov) Posterior(Problem p, Vector<double> y)
    {
        var cxInv = p.Cx.Inverse();
        var noisePrecision = (p.B * p.B * p.Cn).Inverse();
        var cov = (cxInv + p.A.Transpose() * noisePrecision * p.A).Inverse();
        var mean = cov * (cxInv * p.MuX + p.A.Transpose() * noisePrecision * (y - p.B * p.MuN));
        return (mean, cov);
    }

    private static (Vector<double> X, Vector<double> Y) Draw(Problem p, int seed)
    {
        var rng = new Random(seed);
        Vector<double> Normal(int len) => Vector<double>.Build.Dense(len, _ =>
            Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        var x = p.MuX + p.Cx.Cholesky().Factor * Normal(D);
        var n = p.MuN + p.Cn.Cholesky().Factor * Normal(p.MuN.Count);
        return (x, p.A * x + p.B * n);
    }

    private (GaussianPrior Signal, GaussianPrior Noise) Priors(Problem p, int[] noiseShape)
    {
        var cx = new double[D, D];
        for (int i = 0; i < D; i++)
        {
            for (int j = 0; j < D; j++)
            {
                cx[i, j] = p.Cx[i, j];
            }
        }

        var signal = GaussianPrior.FullCovariance(_backend, ImageShape, [.. p.MuX.Select(v => (float)v)], cx);
        var noise = GaussianPrior.Diagonal(_backend, noiseShape, [.. p.MuN.Select(v => (float)v)],
            [.. p.Cn.Diagonal().Select(v => (float)Math.Sqrt(v))]);
        return (signal, noise);
    }

    /// <summary>
    /// Rule, operator, λ = κ, and the tolerances on the RMS mean error (in posterior stds) and RMS relative std
    /// error. K = 512 samples put the Monte-Carlo error near 1/√K ≈ 0.04 for the mean and 1/√(2K) ≈ 0.03 for
    /// the std. ΠGDM's r_t² = β²/(β²+1) assumes unit data variance, which leaves a known bias of 0.2–0.6
    /// posterior stds on priors far from unit variance (REFERENCE_RESULTS.md; 0.30 and 0.18 measured here).
    /// DPS (a fixed-length step along a diagonal-covariance likelihood gradient) and projection (matching x_t
    /// to a diffused copy of y, splitting the residual between x and n by λ and κ) are not exact samplers even
    /// for Gaussian priors: their bounds are measured values (DPS 0.14/0.34 mean, 0.09/0.10 std; projection
    /// 0.74/0.60 mean, 0.41/0.45 std, scalar/CS) with about 30% headroom, so that a regression shows. λ is
    /// chosen per case: projection's gradient step on ½‖ŷ − Ax − bn‖² is only stable for
    /// λ(‖A‖² + b²) &lt; 2, and ‖A‖² ≈ 5.8 for this CS matrix, hence 0.2 there.
    /// </summary>
    public static TheoryData<string, bool, float, double, double> Cases => new()
    {
        { "pigdm", false, 1f, 0.45, 0.2 },
        { "pigdm", true, 1f, 0.45, 0.2 },
        { "dps", false, 0.5f, 0.25, 0.15 },
        { "dps", true, 0.5f, 0.45, 0.15 },
        { "projection", false, 1f, 1.0, 0.55 },
        { "projection", true, 0.2f, 0.8, 0.6 },
    };

    private static IDataConsistencyRule Rule(string name) => name switch
    {
        "pigdm" => new PigdmRule(),
        "dps" => new DpsRule(),
        _ => new ProjectionRule(),
    };

    private IMeasurementOperator Operator(bool compressedSensing) => compressedSensing
        ? DenseOperator.CompressedSensing(_backend, ImageShape, 2, seed: 5)
        : DiagonalOperator.Scalar(_backend, ImageShape, 0.5f);

    [Theory]
    [MemberData(nameof(Cases))]
    public void JointSampler_RecoversGaussianPosterior(string rule, bool compressedSensing, float weight, double meanTolerance, double stdTolerance)
    {
        using var op = Operator(compressedSensing);
        var p = MakeProblem(compressedSensing, op as DenseOperator);
        var (signal, noise) = Priors(p, [.. op.MeasurementShape]);
        using var _s = signal;
        using var _n = noise;
        var (_, y) = Draw(p, seed: 11);
        var (mean, cov) = Posterior(p, y);

        const int K = 512;
        var options = new SamplerOptions
        {
            Steps = 300,
            Rule = Rule(rule),
            Lambda = weight,
            Kappa = weight,
            NoiseGain = (float)p.B,
            SamplesPerObservation = K,
            Seed = 3,
        };
        var result = new JointSampler(signal, noise, op).Sample([.. y.Select(v => (float)v)], 1, options);

        double meanErr = 0, stdErr = 0;
        for (int i = 0; i < D; i++)
        {
            double sd = Math.Sqrt(cov[i, i]);
            meanErr += Math.Pow((result.XMean[i] - mean[i]) / sd, 2);
            stdErr += Math.Pow(result.XStd[i] / sd - 1, 2);
        }

        meanErr = Math.Sqrt(meanErr / D);
        stdErr = Math.Sqrt(stdErr / D);
        output.WriteLine($"{rule} {(compressedSensing ? "CS" : "scalar")} λ=κ={weight}: mean error {meanErr:F3} posterior stds (RMS), std relative error {stdErr:F3}");
        Assert.True(meanErr < meanTolerance, $"mean error {meanErr:F3} posterior stds ≥ {meanTolerance}");
        Assert.True(stdErr < stdTolerance, $"std relative error {stdErr:F3} ≥ {stdTolerance}");
    }

    /// <summary>
    /// The point of the method: the joint sampler, which knows the noise's structure, against the single-prior
    /// baseline, which models it as white noise of the right average variance, on MSE of the posterior mean to
    /// the true x over 16 observations. The closed-form posterior mean (the MMSE estimate) is the floor.
    /// </summary>
    [Theory]
    [InlineData("pigdm", false, 1f)]
    [InlineData("pigdm", true, 1f)]
    [InlineData("dps", false, 0.5f)]
    [InlineData("dps", true, 0.5f)]
    [InlineData("projection", false, 1f)]
    [InlineData("projection", true, 0.2f)]
    public void JointRules_BeatTheirSinglePriorBaselines(string rule, bool compressedSensing, float weight)
    {
        using var op = Operator(compressedSensing);
        var p = MakeProblem(compressedSensing, op as DenseOperator);
        var (signal, noise) = Priors(p, [.. op.MeasurementShape]);
        using var _s = signal;
        using var _n = noise;
        const int B = 16, K = 8;
        int m = p.MuN.Count;
        var ys = new float[B * m];
        var truths = new List<Vector<double>>();
        double mmse = 0;
        for (int b = 0; b < B; b++)
        {
            var (x, y) = Draw(p, seed: 100 + b);
            truths.Add(x);
            for (int i = 0; i < m; i++)
            {
                ys[b * m + i] = (float)y[i];
            }

            mmse += (Posterior(p, y).Mean - x).PointwisePower(2).Average() / B;
        }

        var options = new SamplerOptions { Steps = 300, Rule = Rule(rule), Lambda = weight, Kappa = weight, NoiseGain = (float)p.B, SamplesPerObservation = K, Seed = 7 };
        double Mse(PosteriorSamples r) => Enumerable.Range(0, B).Average(b =>
            Enumerable.Range(0, D).Average(i => Math.Pow(r.XMean[b * D + i] - truths[b][i], 2)));

        double joint = Mse(new JointSampler(signal, noise, op).Sample(ys, B, options));
        // The baseline's white noise has the structured noise's average variance (scaled by b).
        float sigmaY = (float)(p.B * Math.Sqrt(p.Cn.Diagonal().Average()));
        double single = Mse(new JointSampler(signal, null, op).Sample(ys, B, options with { SigmaY = sigmaY }));
        output.WriteLine($"{rule} {(compressedSensing ? "CS" : "scalar")}: MSE joint {joint:F4}, single-prior {single:F4}, closed-form MMSE {mmse:F4}");
        // "A clear margin": the joint error at most 75% of the baseline's.
        Assert.True(joint < 0.75 * single, $"joint MSE {joint:F4} vs single-prior {single:F4}");
    }
}
