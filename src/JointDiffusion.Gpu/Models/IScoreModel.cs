using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Models;

/// <summary>
/// A score model of the diffused distribution: s(x, σ) ≈ ∇ log p_σ(x), where p_σ is the data distribution
/// convolved with N(0, σ² I). Implemented by the NCSNv2 network and by exact Gaussian priors.
/// </summary>
public interface IScoreModel : IDisposable
{
    /// <summary>The backend the model runs on.</summary>
    ComputeBackend Backend { get; }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the problem when a batch of this shape cannot be scored.</summary>
    void CheckInput(Shape shape);

    /// <summary>
    /// Evaluates the score at x with one σ per batch item. With <paramref name="needVjp"/> the evaluation
    /// keeps what <see cref="ScoreEvaluation.Vjp"/> needs.
    /// </summary>
    ScoreEvaluation Evaluate(Tensor x, ReadOnlySpan<float> sigma, bool needVjp);
}
