using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Sampling.Operators;

/// <summary>
/// A linear measurement operator A of y = A x + b n: batched apply and transpose, and the solve with
/// ΠGDM's covariance Σ_t = r_t² A Aᵀ + c I (c = q_t² b² + σ_y²) that every data-consistency step needs.
/// </summary>
public interface IMeasurementOperator : IDisposable
{
    /// <summary>Shape of one signal x (e.g. [C, H, W]).</summary>
    IReadOnlyList<int> SignalShape { get; }

    /// <summary>Shape of one measurement y (and of one structured-noise sample n).</summary>
    IReadOnlyList<int> MeasurementShape { get; }

    /// <summary>A short description for logs, e.g. "scale 0.5" or "compressed sensing 1024×2048".</summary>
    string Description { get; }

    /// <summary>y = A x for every batch item.</summary>
    void Apply(Tensor x, Tensor y);

    /// <summary>x = Aᵀ y for every batch item.</summary>
    void ApplyTranspose(Tensor y, Tensor x);

    /// <summary>
    /// result = (r² A Aᵀ + c I)⁺ e for every batch item (the pseudo-inverse: directions where the matrix
    /// is zero, such as masked pixels with c = 0, get zero). result may be e.
    /// </summary>
    void SolveCovariance(Tensor e, float r2, float c, Tensor result);
}
