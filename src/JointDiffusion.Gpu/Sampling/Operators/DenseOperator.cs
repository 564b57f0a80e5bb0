using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Tensors;
using JointDiffusion.Kernels;
using MathNet.Numerics.LinearAlgebra;

namespace JointDiffusion.Gpu.Sampling.Operators;

/// <summary>
/// A dense operator A [m, d], e.g. the random Gaussian compressed-sensing matrix of section 6.3. The ΠGDM
/// solve uses one host eigendecomposition A Aᵀ = U diag(μ) Uᵀ (MathNet), then on the device
/// Σ_t⁻¹ e = U diag(1/(r² μ_i + c)) Uᵀ e each step, the weights computed there too (no upload per step).
/// </summary>
public sealed class DenseOperator : IMeasurementOperator
{
    private readonly ComputeBackend _backend;
    private readonly Tensor _matrix;
    private readonly Tensor _u;
    /// <summary>Below this r² μ_i + c a direction counts as outside A's range (weight 0, the pseudo-inverse).</summary>
    private const float NullSpaceThreshold = 1e-12f;

    private readonly Tensor _mu;
    private readonly Tensor _weightsDevice;
    private readonly Lock _solveLock = new();
    private readonly int[] _signalShape;
    private Tensor? _rotated;

    /// <summary>Creates the operator from a row-major [m, d] matrix; d must equal the signal's element count.</summary>
    public DenseOperator(ComputeBackend backend, int[] signalShape, float[] matrix, int rows, string description)
    {
        int d = signalShape.Aggregate(1, (a, b) => a * b);
        if (rows < 1 || matrix.Length != (long)rows * d)
        {
            throw new ArgumentException($"A dense operator for a signal of {d} values needs an [m, {d}] matrix; got {matrix.Length} values for m = {rows}.");
        }

        if (matrix.Any(v => !float.IsFinite(v)))
        {
            throw new ArgumentException("The operator matrix must be finite.");
        }

        _backend = backend;
        _signalShape = [.. signalShape];
        MeasurementShape = [rows];
        Description = description;
        var a = Matrix<double>.Build.Dense(rows, d, (i, j) => matrix[i * d + j]);
        var evd = (a * a.Transpose()).Evd(Symmetricity.Symmetric);
        float[] mu = [.. evd.EigenValues.Select(v => (float)Math.Max(v.Real, 0.0))];
        var u = new float[rows * rows];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < rows; j++)
            {
                u[i * rows + j] = (float)evd.EigenVectors[i, j];
            }
        }

        _matrix = backend.FromHost(matrix, new Shape(rows, d));
        _u = backend.FromHost(u, new Shape(rows, rows));
        _mu = backend.FromHost(mu, new Shape(rows));
        _weightsDevice = backend.Allocate(new Shape(rows));
    }

    /// <summary>
    /// The compressed-sensing matrix of the paper: m = d / ratio rows, entries N(0, 1/m) drawn from the
    /// Philox stream of <paramref name="seed"/>, so a seed gives the same matrix everywhere.
    /// </summary>
    public static DenseOperator CompressedSensing(ComputeBackend backend, int[] signalShape, int ratio, ulong seed)
    {
        int d = signalShape.Aggregate(1, (a, b) => a * b);
        if (ratio < 1 || d / ratio < 1)
        {
            throw new ArgumentException($"Compressed sensing needs 1 ≤ d/m ≤ d; got d/m = {ratio} for d = {d}.");
        }

        int m = d / ratio;
        var matrix = new float[m * d];
        float scale = 1f / MathF.Sqrt(m);
        for (int i = 0; i < matrix.Length; i++)
        {
            matrix[i] = scale * Philox.Gaussian(seed, (ulong)i);
        }

        return new DenseOperator(backend, signalShape, matrix, m, $"compressed sensing {m}x{d} (seed {seed})");
    }

    /// <inheritdoc/>
    public IReadOnlyList<int> SignalShape => _signalShape;

    /// <inheritdoc/>
    public IReadOnlyList<int> MeasurementShape { get; }

    /// <inheritdoc/>
    public string Description { get; }

    /// <summary>The matrix A [m, d] on the device.</summary>
    public Tensor Matrix => _matrix;

    /// <inheritdoc/>
    public void Apply(Tensor x, Tensor y) => _backend.MatVec(_matrix, x, y, transpose: false);

    /// <inheritdoc/>
    public void ApplyTranspose(Tensor y, Tensor x) => _backend.MatVec(_matrix, y, x, transpose: true);

    /// <inheritdoc/>
    /// <remarks>Thread-safe: the per-call weights and the rotated buffer are shared, so calls are serialised
    /// (samplers on several threads may share one operator); ops of a device run in order, so a later call
    /// cannot overwrite the weights before an earlier call's multiply has used them.</remarks>
    public void SolveCovariance(Tensor e, float r2, float c, Tensor result)
    {
        lock (_solveLock)
        {
            SolveCovarianceLocked(e, r2, c, result);
        }
    }

    private void SolveCovarianceLocked(Tensor e, float r2, float c, Tensor result)
    {
        _backend.Affine(_mu, r2, c, _weightsDevice);
        _backend.ReciprocalOrZero(_weightsDevice, _weightsDevice, NullSpaceThreshold);
        if (_rotated is null || _rotated.Shape != e.Shape)
        {
            _rotated?.Dispose();
            _rotated = _backend.Allocate(e.Shape);
        }

        _backend.MatVec(_u, e, _rotated, transpose: true);
        _backend.MultiplyBroadcast(_rotated, _weightsDevice, _rotated);
        _backend.MatVec(_u, _rotated, result, transpose: false);
    }

    /// <summary>Frees the device tensors.</summary>
    public void Dispose()
    {
        _matrix.Dispose();
        _u.Dispose();
        _mu.Dispose();
        _weightsDevice.Dispose();
        _rotated?.Dispose();
    }
}
