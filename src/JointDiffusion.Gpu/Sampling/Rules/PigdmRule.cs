namespace JointDiffusion.Gpu.Sampling.Rules;

/// <summary>
/// ΠGDM (Song et al. 2023) in the joint form of section 3.2: with r_t² = q_t² = β_t²/(β_t² + 1),
/// Σ_t = r_t² A Aᵀ + (q_t² b² + σ_y²) I and e = Σ_t⁻¹ (y − A x0|t − b n0|t),
/// x += λ r_t² J_xᵀ Aᵀ e and n += κ q_t² J_nᵀ (b e), with J the Jacobians of the Tweedie estimates (true
/// vector–Jacobian products). Single-prior mode drops n and uses Σ_t = r_t² A Aᵀ + σ_y² I.
/// </summary>
public sealed class PigdmRule : IDataConsistencyRule
{
    /// <inheritdoc/>
    public string Name => "pigdm";

    /// <inheritdoc/>
    public bool NeedsJacobian => true;

    /// <inheritdoc/>
    public void Apply(DataConsistencyStep step)
    {
        var backend = step.Backend;
        float r2 = step.Beta2 / (step.Beta2 + 1f);
        float c = (step.Joint ? r2 * step.NoiseGain * step.NoiseGain : 0f) + step.SigmaY * step.SigmaY;
        step.ComputeTweedie();
        step.ComputeResidual(step.X0, step.N0);
        var e = step.MeasurementScratch;
        step.Operator.SolveCovariance(step.Residual, r2, c, e);

        step.Operator.ApplyTranspose(e, step.SignalScratch);
        if (!step.Joint)
        {
            step.TweedieVjp(step.SignalScore, step.SignalScratch, step.SignalScratch2);
            backend.Axpy(step.Lambda * r2, step.SignalScratch2, step.X);
            return;
        }

        backend.Scale(e, step.NoiseGain, step.NoiseScratch!);
        step.TweedieVjpBoth();
        backend.Axpy(step.Lambda * r2, step.SignalScratch2, step.X);
        backend.Axpy(step.Kappa * r2, step.NoiseScratch2!, step.N!);
    }
}
