namespace JointDiffusion.Gpu.Sampling;

/// <summary>Thrown when the sampler's state becomes NaN or infinite; the message names the step and what to try.</summary>
public sealed class SamplerDivergedException(int step, int steps, string rule, float lambda, float kappa)
    : Exception($"The sampler diverged (NaN or Inf in the state) by step {step} of {steps} with rule {rule}, λ = {lambda}, κ = {kappa}. " +
        "Try smaller λ/κ (ΠGDM is only stable while (λa² + κb²)/(a² + b²) < 2) or more steps.")
{
    /// <summary>The step (1-based) at which the divergence was found.</summary>
    public int Step { get; } = step;
}
