namespace JointDiffusion.Gpu.Sampling.Rules;

/// <summary>
/// Projection (Song et al. 2021, Appendix A.2): the observation is diffused to the current time with the
/// same noise as this step's diffusion, ŷ_t = y + β_t (A z_x + b z_n), and x += λ Aᵀ (ŷ_t − A x_t − b n_t),
/// n += κ b (ŷ_t − A x_t − b n_t). No Jacobians. Single-prior mode: ŷ_t = y + β_t A z_x.
/// </summary>
public sealed class ProjectionRule : IDataConsistencyRule
{
    /// <inheritdoc/>
    public string Name => "projection";

    /// <inheritdoc/>
    public bool NeedsJacobian => false;

    /// <inheritdoc/>
    public void Apply(DataConsistencyStep step)
    {
        var backend = step.Backend;
        // Residual = y − A x_t − b n_t, then + β_t (A z_x + b z_n).
        step.ComputeResidual(step.X, step.N);
        step.Operator.Apply(step.ZX, step.MeasurementScratch);
        backend.Axpy(step.Beta, step.MeasurementScratch, step.Residual);
        if (step.Joint)
        {
            backend.Axpy(step.Beta * step.NoiseGain, step.ZN!, step.Residual);
        }

        step.Operator.ApplyTranspose(step.Residual, step.SignalScratch);
        backend.Axpy(step.Lambda, step.SignalScratch, step.X);
        if (step.Joint)
        {
            backend.Axpy(step.Kappa * step.NoiseGain, step.Residual, step.N!);
        }
    }
}
