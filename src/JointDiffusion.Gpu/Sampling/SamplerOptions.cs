using JointDiffusion.Gpu.Sampling.Rules;

namespace JointDiffusion.Gpu.Sampling;

/// <summary>Settings of one posterior-sampling run (Algorithm 1).</summary>
public sealed record SamplerOptions
{
    /// <summary>Reverse-diffusion steps T (≥ 1).</summary>
    public int Steps { get; init; } = 300;

    /// <summary>The final time ε of the reverse SDE (0 &lt; ε &lt; 1).</summary>
    public double Epsilon { get; init; } = 1e-3;

    /// <summary>The data-consistency rule.</summary>
    public IDataConsistencyRule Rule { get; init; } = new PigdmRule();

    /// <summary>Signal step weight λ (≥ 0).</summary>
    public float Lambda { get; init; } = 1f;

    /// <summary>Noise step weight κ (≥ 0; unused in single-prior mode).</summary>
    public float Kappa { get; init; } = 1f;

    /// <summary>The noise gain b of y = A x + b n (&gt; 0 in joint mode).</summary>
    public float NoiseGain { get; init; } = 1f;

    /// <summary>Std of additional white measurement noise σ_y (≥ 0); the whole noise model in single-prior mode.</summary>
    public float SigmaY { get; init; }

    /// <summary>Posterior samples per observation K (≥ 1).</summary>
    public int SamplesPerObservation { get; init; } = 1;

    /// <summary>Seed of every random stream (initial states and diffusion noise).</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>
    /// Optional seed per observation (one for each of the <c>count</c> observations of a call). Observation o then
    /// draws every random number from its own streams, exactly as a call with that one observation and
    /// <see cref="Seed"/> = ObservationSeeds[o] would, so its result does not depend on which other observations
    /// share the batch. Null (the default): one set of streams of <see cref="Seed"/> for the whole batch.
    /// </summary>
    public IReadOnlyList<ulong>? ObservationSeeds { get; init; }

    /// <summary>
    /// Return the Tweedie estimate at t = ε (x + β_ε² s(x, ε), the posterior mean given x_ε; the default, as
    /// DESIGN.md fixes) instead of the raw final state x_ε.
    /// </summary>
    public bool ReturnTweedieEstimate { get; init; } = true;

    /// <summary>
    /// In joint mode, evaluate the signal and noise networks (and their Jacobian products) at the same time where the
    /// backend gains from it (<see cref="Backends.ComputeBackend.RunConcurrently{TWork}"/>: on the CPU one network per
    /// core, for batches too small to fill the cores one network at a time). The results are the same bit for bit
    /// either way. Default on.
    /// </summary>
    public bool ConcurrentNetworks { get; init; } = true;

    /// <summary>How often (in steps) the state is checked for NaN/Inf; 0 checks only at the end.</summary>
    public int DivergenceCheckInterval { get; init; } = 25;

    /// <summary>Throws an <see cref="ArgumentException"/> naming every invalid option.</summary>
    public void Validate(bool joint)
    {
        var problems = new List<string>();
        if (Steps < 1)
        {
            problems.Add($"steps must be ≥ 1 (got {Steps})");
        }

        if (!(Epsilon > 0 && Epsilon < 1))
        {
            problems.Add($"ε must lie in (0, 1) (got {Epsilon})");
        }

        if (!(Lambda >= 0) || float.IsInfinity(Lambda))
        {
            problems.Add($"λ must be finite and ≥ 0 (got {Lambda})");
        }

        if (joint && (!(Kappa >= 0) || float.IsInfinity(Kappa)))
        {
            problems.Add($"κ must be finite and ≥ 0 (got {Kappa})");
        }

        if (joint && (!(NoiseGain > 0) || float.IsInfinity(NoiseGain)))
        {
            problems.Add($"the noise gain b must be finite and > 0 (got {NoiseGain})");
        }

        if (!(SigmaY >= 0) || float.IsInfinity(SigmaY))
        {
            problems.Add($"σ_y must be finite and ≥ 0 (got {SigmaY})");
        }

        if (!joint && SigmaY == 0 && Rule is PigdmRule)
        {
            problems.Add("single-prior ΠGDM needs σ_y > 0 (the noise model is white noise of std σ_y)");
        }

        if (SamplesPerObservation < 1)
        {
            problems.Add($"samples per observation must be ≥ 1 (got {SamplesPerObservation})");
        }

        if (DivergenceCheckInterval < 0)
        {
            problems.Add($"the divergence check interval must be ≥ 0 (got {DivergenceCheckInterval})");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid sampler options: " + string.Join("; ", problems) + ".");
        }
    }
}
