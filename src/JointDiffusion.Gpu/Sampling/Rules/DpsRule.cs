namespace JointDiffusion.Gpu.Sampling.Rules;

/// <summary>
/// DPS (Chung et al. 2022) in the joint form of Appendix A.1 with the authors' norm step: per batch item,
/// ρ = ‖y − A x0|t − b n0|t‖ (not squared, not summed over the batch), x −= λ ∇_x ρ and n −= κ ∇_n ρ, where
/// ∇_x ρ = −J_xᵀ Aᵀ (residual/ρ) and ∇_n ρ = −J_nᵀ b (residual/ρ).
/// </summary>
public sealed class DpsRule : IDataConsistencyRule
{
    /// <summary>Host buffer for the per-sample norms and their inverses, kept so that a step allocates nothing.</summary>
    /// <inheritdoc/>
    public string Name => "dps";

    /// <inheritdoc/>
    public bool NeedsJacobian => true;

    /// <inheritdoc/>
    public void Apply(DataConsistencyStep step)
    {
        var backend = step.Backend;
        step.ComputeTweedie();
        step.ComputeResidual(step.X0, step.N0);

        // residual/ρ per batch item; a zero residual has no gradient direction.
        // On the device: a GPU step then never waits for the host.
        backend.NormPerSample(step.Residual, step.PerSample);
        backend.ReciprocalOrZero(step.PerSample, step.PerSample);
        var direction = step.MeasurementScratch;
        backend.ScalePerSample(step.Residual, step.PerSample, direction);

        step.Operator.ApplyTranspose(direction, step.SignalScratch);
        if (!step.Joint)
        {
            step.TweedieVjp(step.SignalScore, step.SignalScratch, step.SignalScratch2);
            backend.Axpy(step.Lambda, step.SignalScratch2, step.X);
            return;
        }

        backend.Scale(direction, step.NoiseGain, step.NoiseScratch!);
        step.TweedieVjpBoth();
        backend.Axpy(step.Lambda, step.SignalScratch2, step.X);
        backend.Axpy(step.Kappa, step.NoiseScratch2!, step.N!);
    }
}
