using System.Globalization;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Sampling.Operators;

/// <summary>
/// A diagonal operator y = g ⊙ x with a gain per element: the identity (g = 1), a scalar gain
/// ("y = 0.5x + 0.5n" is g = 0.5, b = 0.5) and inpainting masks (g ∈ {0, 1}). A Aᵀ = diag(g²), so the ΠGDM
/// solve is elementwise: 1/(r² g_i² + c).
/// </summary>
/// <remarks>
/// The solve's weights change every step (with r²). When g² takes at most <see cref="MaxLevels"/> values (a scalar
/// gain: one; a mask: two) they are built on the device from one scalar per level, Σ_k w_k·[g_i² = level k], with
/// 0/1 level indicators made once: exactly one term is non-zero per element, so the weights are bit-identical to
/// the host formula and no step uploads anything. Other gains compute the weights on the host and upload them.
/// </remarks>
public sealed class DiagonalOperator : IMeasurementOperator
{
    private readonly ComputeBackend _backend;
    private readonly double[] _gainSquared;
    private readonly Tensor _gain;
    private readonly float[] _weights;
    private readonly Tensor _weightsDevice;
    private readonly int[] _shape;
    private readonly double[] _levels;
    private readonly float[] _levelWeights;
    private readonly Tensor[] _levelIndicators;

    private DiagonalOperator(ComputeBackend backend, int[] shape, float[] gain, string description)
    {
        _backend = backend;
        _shape = shape;
        _gainSquared = [.. gain.Select(g => (double)g * g)];
        _gain = backend.FromHost(gain, new Shape(gain.Length));
        _weights = new float[gain.Length];
        _weightsDevice = backend.Allocate(new Shape(gain.Length));
        Description = description;
        var levels = _gainSquared.Distinct().Take(MaxLevels + 1).ToArray();
        _levels = levels.Length <= MaxLevels ? levels : [];
        _levelWeights = new float[_levels.Length];
        // One level (a scalar gain) needs no indicator: the solve is then a plain scale.
        _levelIndicators = _levels.Length > 1
            ? [.. _levels.Select(level => backend.FromHost([.. _gainSquared.Select(g2 => g2 == level ? 1f : 0f)], new Shape(gain.Length)))]
            : [];
    }

    /// <summary>Most distinct values of g² for which the solve's weights are built on the device.</summary>
    public const int MaxLevels = 4;

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
    /// <remarks>Thread-safe: the weight buffers are shared, so calls are serialised (samplers on several threads
    /// may share one operator); ops of a device run in order, so a later call cannot overwrite the weights before
    /// an earlier call's multiply has used them.</remarks>
    public void SolveCovariance(Tensor e, float r2, float c, Tensor result)
    {
        lock (_weights)
        {
            SolveCovarianceLocked(e, r2, c, result);
        }
    }

    private void SolveCovarianceLocked(Tensor e, float r2, float c, Tensor result)
    {
        bool levelsFinite = _levels.Length > 0;
        for (int k = 0; k < _levels.Length; k++)
        {
            _levelWeights[k] = Weight(r2 * _levels[k] + c);
            levelsFinite &= float.IsFinite(_levelWeights[k]);
        }

        if (_levels.Length == 1 && levelsFinite)
        {
            _backend.Scale(e, _levelWeights[0], result);
            return;
        }

        if (levelsFinite)
        {
            // Σ_k w_k·I_k: an infinite w_k would give ∞·0 = NaN, hence the host path below for those.
            _backend.Scale(_levelIndicators[0], _levelWeights[0], _weightsDevice);
            for (int k = 1; k < _levels.Length; k++)
            {
                _backend.Axpy(_levelWeights[k], _levelIndicators[k], _weightsDevice);
            }
        }
        else
        {
            for (int i = 0; i < _weights.Length; i++)
            {
                _weights[i] = Weight(r2 * _gainSquared[i] + c);
            }

            _backend.Upload(_weights, _weightsDevice);
        }

        _backend.MultiplyBroadcast(e, _weightsDevice, result);
    }

    /// <summary>1/s, and 0 where s = 0 (the pseudo-inverse).</summary>
    private static float Weight(double s) => s > 0 ? (float)(1.0 / s) : 0f;

    /// <summary>Frees the device tensors.</summary>
    public void Dispose()
    {
        _gain.Dispose();
        _weightsDevice.Dispose();
        foreach (var indicator in _levelIndicators)
        {
            indicator.Dispose();
        }
    }
}
