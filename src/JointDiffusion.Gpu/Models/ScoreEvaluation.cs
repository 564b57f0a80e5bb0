using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Models;

/// <summary>
/// One evaluation of a score model at a batch x and noise level: the score, and (when asked for) vector–
/// Jacobian products Jᵀv of the score with respect to x at the same point. Dispose it to free what it holds.
/// </summary>
public abstract class ScoreEvaluation : IDisposable
{
    /// <summary>s(x, σ), shaped like x. Owned by the evaluation.</summary>
    public abstract Tensor Score { get; }

    /// <summary>result = (∂s/∂x)ᵀ v. A network evaluation allows one call; Gaussian ones allow any number.</summary>
    public abstract void Vjp(Tensor v, Tensor result);

    /// <summary>Frees the evaluation's tensors.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the evaluation's tensors.</summary>
    protected abstract void Dispose(bool disposing);
}
