using System.Globalization;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Sampling.Operators;

/// <summary>
/// A diagonal operator y = g ⊙ x with a gain per element: the identity (g = 1), a scalar gain
/// ("y = 0.5x + 0.5n" is g = 0.5, b = 0.5) and inpainting masks (g ∈ {0, 1}). A Aᵀ = diag(g²), so the ΠGDM
/// solve is elementwise: 1/(r² g_i² + c).
/// </summary>
public sealed class DiagonalOperator : IMeasurementOperator
{
    private readonly ComputeBackend _backend;
    private readonly double[] _gainSquared;
    private readonly Tensor _gain;
    private readonly float[] _weights;
    private readonly Tensor _weightsDevice;
    private readonly int[] _shape;

    private DiagonalOperator(ComputeBackend backend, int[] shape, float[] gain, string description)
    {
        _backend = backend;
        _shape = shape;
        _gainSquared = [.. gain.Select(g => (double)g * g)];
        _gain = backend.FromHost(gain, new Shape(gain.Length));
        _weights = new float[gain.Length];
        _weightsDevice = backend.Allocate(new Shape(gain.Length));
        Description = description;
    }

    /// <summary>y = a·x.</summary>
    public static DiagonalOperator Scalar(ComputeBackend backend, int[] signalShape, float gain)
    {
        if (!float.IsFinite(gain) || gain == 0f)
        {
            throw new ArgumentException($"The operator gain must be finite and non-zero; got {gain}.");
        }

        int d = signalShape.Aggregate(1, (a, b) => a * b);
        return new DiagonalOperator(backend, [.. signalShape], Enumerable.Repeat(gain, d).ToArray(),
            gain == 1f ? "identity" : string.Create(CultureInfo.InvariantCulture, $"scale {gain}"));
    }

    /// <summary>y = m ⊙ x with a 0/1 (or any non-negative) mask of the signal's shape.</summary>
    public static DiagonalOperator Mask(ComputeBackend backend, int[] signalShape, float[] mask)
    {
        int d = signalShape.Aggregate(1, (a, b) => a * b);
        if (mask.Length != d)
        {
            throw new ArgumentException($"The mask has {mask.Length} values but the signal [{string.Join(", ", signalShape)}] has {d}.");
        }

        if (mask.Any(m => !(m >= 0f) || float.IsInfinity(m)))
        {
            throw new ArgumentException("Mask values must be finite and ≥ 0.");
        }

        int kept = mask.Count(m => m > 0f);
        return new DiagonalOperator(backend, [.. signalShape], [.. mask], $"mask keeping {kept} of {d} values");
    }

    /// <inheritdoc/>
    public IReadOnlyList<int> SignalShape => _shape;

    /// <inheritdoc/>
    public IReadOnlyList<int> MeasurementShape => _shape;

    /// <inheritdoc/>
    public string Description { get; }

    /// <inheritdoc/>
    public void Apply(Tensor x, Tensor y) => _backend.MultiplyBroadcast(x, _gain, y);

    /// <inheritdoc/>
    public void ApplyTranspose(Tensor y, Tensor x) => _backend.MultiplyBroadcast(y, _gain, x);

    /// <inheritdoc/>
    public void SolveCovariance(Tensor e, float r2, float c, Tensor result)
    {
        for (int i = 0; i < _weights.Length; i++)
        {
            double s = r2 * _gainSquared[i] + c;
            _weights[i] = s > 0 ? (float)(1.0 / s) : 0f;
        }

        _backend.Upload(_weights, _weightsDevice);
        _backend.MultiplyBroadcast(e, _weightsDevice, result);
    }

    /// <summary>Frees the device tensors.</summary>
    public void Dispose()
    {
        _gain.Dispose();
        _weightsDevice.Dispose();
    }
}
