namespace JointDiffusion.Gpu.Sampling.Rules;

/// <summary>
/// A data-consistency (DC) rule of Algorithm 1: moves x_t (and n_t) towards agreement with the observation
/// before the unconditional reverse-diffusion step. One rule per file; the sampler picks one by name.
/// </summary>
public interface IDataConsistencyRule
{
    /// <summary>The rule's name: "pigdm", "dps" or "projection".</summary>
    string Name { get; }

    /// <summary>Whether the rule needs vector–Jacobian products of the scores (ΠGDM, DPS) or not (projection).</summary>
    bool NeedsJacobian { get; }

    /// <summary>Updates <see cref="DataConsistencyStep.X"/> and <see cref="DataConsistencyStep.N"/> in place.</summary>
    void Apply(DataConsistencyStep step);
}
