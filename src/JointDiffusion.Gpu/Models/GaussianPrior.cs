using System.Globalization;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Tensors;
using MathNet.Numerics.LinearAlgebra;

namespace JointDiffusion.Gpu.Models;

/// <summary>
/// A Gaussian prior N(μ, C) whose diffused score is exact: x_σ ~ N(μ, C + σ² I), so
/// s(x, σ) = −(C + σ² I)⁻¹ (x − μ), with the symmetric Jacobian −(C + σ² I)⁻¹. C is either a per-element
/// std map (diagonal) or a full covariance (small images), eigendecomposed once on the host:
/// C = V diag(λ) Vᵀ, so (C + σ² I)⁻¹ = V diag(1/(λ + σ²)) Vᵀ costs two matrix–vector products per use.
/// </summary>
/// <remarks>
/// A product feature (noise with a known covariance, such as the paper's sinusoidal-variance noise, needs
/// no network) and the sampler's exact test oracle. Safetensors: <c>__metadata__.arch = gaussian</c>,
/// tensors <c>mean</c> (any shape, e.g. [C,H,W]) and either <c>std</c> (same shape) or <c>cov</c> [d, d].
/// </remarks>
public sealed class GaussianPrior : IScoreModel
{
    private readonly Tensor _mean;
    private readonly Tensor? _eigenvectors;
    private readonly double[] _variances;
    private readonly int[] _shape;

    private GaussianPrior(ComputeBackend backend, int[] shape, float[] mean, double[] variances, float[]? eigenvectors)
    {
        Backend = backend;
        _shape = shape;
        _variances = variances;
        _mean = backend.FromHost(mean, new Shape(mean.Length));
        if (eigenvectors is not null)
        {
            _eigenvectors = backend.FromHost(eigenvectors, new Shape(mean.Length, mean.Length));
        }
    }

    /// <summary>A prior with independent elements: mean and standard deviation maps of the same shape.</summary>
    public static GaussianPrior Diagonal(ComputeBackend backend, int[] shape, float[] mean, float[] std)
    {
        int d = CheckShape(shape, mean, "mean");
        if (std.Length != d)
        {
            throw new ArgumentException($"Gaussian prior: std has {std.Length} values but the mean has {d}.");
        }

        if (std.Any(s => !(s >= 0f) || float.IsInfinity(s)))
        {
            throw new ArgumentException("Gaussian prior: every std must be finite and ≥ 0.");
        }

        return new GaussianPrior(backend, [.. shape], mean, [.. std.Select(s => (double)s * s)], null);
    }

    /// <summary>A prior with a full covariance [d, d] (symmetric positive semi-definite; d = mean length).</summary>
    public static GaussianPrior FullCovariance(ComputeBackend backend, int[] shape, float[] mean, double[,] covariance)
    {
        int d = CheckShape(shape, mean, "mean");
        if (covariance.GetLength(0) != d || covariance.GetLength(1) != d)
        {
            throw new ArgumentException($"Gaussian prior: the covariance is [{covariance.GetLength(0)}, {covariance.GetLength(1)}] but the mean has {d} values.");
        }

        var c = Matrix<double>.Build.DenseOfArray(covariance);
        double asymmetry = (c - c.Transpose()).InfinityNorm();
        if (!double.IsFinite(asymmetry) || asymmetry > 1e-6 * Math.Max(1.0, c.InfinityNorm()))
        {
            throw new ArgumentException("Gaussian prior: the covariance must be finite and symmetric.");
        }

        var evd = (0.5 * (c + c.Transpose())).Evd(Symmetricity.Symmetric);
        var lambda = evd.EigenValues.Select(v => v.Real).ToArray();
        if (lambda.Min() < -1e-6 * Math.Max(1.0, lambda.Max()))
        {
            throw new ArgumentException($"Gaussian prior: the covariance is not positive semi-definite (smallest eigenvalue {lambda.Min():G3}).");
        }

        var v = evd.EigenVectors;
        var eigenvectors = new float[d * d];
        for (int i = 0; i < d; i++)
        {
            for (int j = 0; j < d; j++)
            {
                eigenvectors[i * d + j] = (float)v[i, j];
            }
        }

        return new GaussianPrior(backend, [.. shape], mean, [.. lambda.Select(l => Math.Max(l, 0.0))], eigenvectors);
    }

    /// <summary>Loads a prior saved with <c>arch = gaussian</c>: <c>mean</c> and <c>std</c> or <c>cov</c>.</summary>
    public static GaussianPrior Load(ComputeBackend backend, string path)
    {
        var file = SafetensorsReader.Read(path).RequireFinite();
        string name = Path.GetFileName(path);
        if (!file.Metadata.TryGetValue("arch", out var arch) || arch != "gaussian")
        {
            throw new InvalidDataException($"{name}: not a Gaussian prior (__metadata__.arch is '{arch ?? "absent"}', expected 'gaussian').");
        }

        var mean = file.GetTensor("mean");
        bool hasStd = file.TryGetTensor("std", out var std);
        bool hasCov = file.TryGetTensor("cov", out var cov);
        if (hasStd == hasCov)
        {
            throw new InvalidDataException($"{name}: a Gaussian prior needs exactly one of 'std' and 'cov'.");
        }

        try
        {
            if (hasStd)
            {
                if (!std!.Shape.SequenceEqual(mean.Shape))
                {
                    throw new InvalidDataException($"{name}: 'std' {std.ShapeText} must have the shape of 'mean' {mean.ShapeText}.");
                }

                return Diagonal(backend, mean.Shape, mean.Data, std.Data);
            }

            int d = mean.Data.Length;
            if (cov!.Shape.Length != 2 || cov.Shape[0] != d || cov.Shape[1] != d)
            {
                throw new InvalidDataException($"{name}: 'cov' {cov.ShapeText} must be [{d}, {d}] for a mean of {d} values.");
            }

            var c = new double[d, d];
            for (int i = 0; i < d; i++)
            {
                for (int j = 0; j < d; j++)
                {
                    c[i, j] = cov.Data[i * d + j];
                }
            }

            return FullCovariance(backend, mean.Shape, mean.Data, c);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{name}: {e.Message}", e);
        }
    }

    /// <inheritdoc/>
    public ComputeBackend Backend { get; }

    /// <summary>The shape of one sample (the mean's shape).</summary>
    public IReadOnlyList<int> SampleShape => _shape;

    /// <summary>Elements per sample.</summary>
    public int Dimension => _variances.Length;

    /// <summary>Whether the covariance is a full matrix (else diagonal).</summary>
    public bool IsFullCovariance => _eigenvectors is not null;

    /// <summary>Metadata that marks a saved prior.</summary>
    public static IReadOnlyDictionary<string, string> FileMetadata => new Dictionary<string, string> { ["arch"] = "gaussian" };

    /// <inheritdoc/>
    public void CheckInput(Shape shape)
    {
        if (shape.PerSample != Dimension || !shape.ToArray().Skip(1).Where(d => d != 1).SequenceEqual(_shape.Where(d => d != 1)))
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"This Gaussian prior models samples of shape [{string.Join(", ", _shape)}]; got a batch {shape}."));
        }
    }

    /// <inheritdoc/>
    public ScoreEvaluation Evaluate(Tensor x, ReadOnlySpan<float> sigma, bool needVjp)
    {
        CheckInput(x.Shape);
        if (sigma.Length != x.Shape.N)
        {
            throw new ArgumentException($"Need one σ per sample: {x.Shape.N} sample(s) but {sigma.Length} σ value(s).");
        }

        float s0 = sigma[0];
        foreach (float s in sigma)
        {
            // One precision vector per evaluation: a batch shares its noise level (the sampler's case).
            if (s != s0)
            {
                throw new ArgumentException("A Gaussian prior evaluates a batch that shares one σ.");
            }
        }

        var weights = new float[Dimension];
        for (int i = 0; i < weights.Length; i++)
        {
            weights[i] = (float)(-1.0 / (_variances[i] + (double)s0 * s0));
        }

        var w = Backend.FromHost(weights, new Shape(Dimension));
        var score = Backend.Allocate(x.Shape);
        Backend.AddBroadcast(x, -1f, _mean, score);
        ApplyPrecision(w, score, score);
        return new GaussianEvaluation(this, w, score);
    }

    /// <summary>Frees the device tensors.</summary>
    public void Dispose()
    {
        _mean.Dispose();
        _eigenvectors?.Dispose();
    }

    /// <summary>result = −(C + σ² I)⁻¹ v, with <paramref name="w"/> = −1/(λ + σ²) in the eigenbasis.</summary>
    private void ApplyPrecision(Tensor w, Tensor v, Tensor result)
    {
        if (_eigenvectors is null)
        {
            Backend.MultiplyBroadcast(v, w, result);
            return;
        }

        using var t = Backend.Allocate(v.Shape);
        Backend.MatVec(_eigenvectors, v, t, transpose: true);
        Backend.MultiplyBroadcast(t, w, t);
        Backend.MatVec(_eigenvectors, t, result, transpose: false);
    }

    private static int CheckShape(int[] shape, float[] mean, string what)
    {
        if (shape.Length is < 1 or > 3 || shape.Any(d => d < 1))
        {
            throw new ArgumentException($"Gaussian prior: the sample shape must have 1 to 3 positive dimensions; got [{string.Join(", ", shape)}].");
        }

        long d = shape.Aggregate(1L, (a, b) => a * b);
        if (d != mean.Length)
        {
            throw new ArgumentException($"Gaussian prior: the {what} has {mean.Length} values but the shape [{string.Join(", ", shape)}] needs {d}.");
        }

        if (mean.Any(m => !float.IsFinite(m)))
        {
            throw new ArgumentException($"Gaussian prior: the {what} must be finite.");
        }

        return (int)d;
    }

    private sealed class GaussianEvaluation(GaussianPrior prior, Tensor weights, Tensor score) : ScoreEvaluation
    {
        public override Tensor Score => score;

        public override void Vjp(Tensor v, Tensor result) => prior.ApplyPrecision(weights, v, result);

        protected override void Dispose(bool disposing)
        {
            weights.Dispose();
            score.Dispose();
        }
    }
}
