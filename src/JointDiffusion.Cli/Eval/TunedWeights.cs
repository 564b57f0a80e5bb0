namespace JointDiffusion.Cli.Eval;

/// <summary>
/// The λ/κ each data-consistency rule uses by default, per experiment, as found by <c>jointdiff tune</c> on
/// validation images (never the eval images) at T = 300. Experiments not tuned use the rule's general default,
/// which is the mnist-on-fashion value. The tune logs behind these numbers are in docs/tuning/.
/// </summary>
internal static class TunedWeights
{
    private static readonly Dictionary<(string Experiment, string Rule), (float Lambda, float Kappa)> Table = new()
    {
        // jointdiff tune --experiment mnist-on-fashion --rule pigdm --n 5 (docs/tuning/mnist-on-fashion-pigdm.json)
        [("mnist-on-fashion", "pigdm")] = (1.9f, 1.13f),

        // jointdiff tune --experiment mnist-on-fashion --rule dps --n 5 (docs/tuning/mnist-on-fashion-dps.json)
        [("mnist-on-fashion", "dps")] = (1.75f, 2.125f),
    };

    /// <summary>
    /// The general default of a rule (used by <c>denoise</c> and for untuned experiments): the mnist-on-fashion
    /// tuned value where there is one, else λ = κ = 5 for DPS and 1 for the others.
    /// </summary>
    public static (float Lambda, float Kappa) Default(string rule) =>
        Table.TryGetValue(("mnist-on-fashion", rule), out var w) ? w : rule == "dps" ? (5f, 5f) : (1f, 1f);

    /// <summary>The tuned λ/κ of a rule for an experiment, else <see cref="Default"/>.</summary>
    public static (float Lambda, float Kappa) For(string experiment, string rule) =>
        Table.TryGetValue((experiment, rule), out var w) ? w : Default(rule);

    /// <summary>
    /// The λ/κ of a rule for an experiment: tuned where there are tuned values; for an untuned projection rule
    /// half its stability limit λ(‖A‖² + b²) &lt; 2, capped at 1 (the projection diverges at the limit: at a = b = 1
    /// the general λ = 1 sits on it); else <see cref="Default"/>.
    /// </summary>
    public static (float Lambda, float Kappa) For(Experiment e, string rule)
    {
        if (IsTuned(e.Name, rule) || rule != "projection")
        {
            return For(e.Name, rule);
        }

        double a2 = e.Matrix is null
            ? e.SignalGain!.Value * (double)e.SignalGain.Value
            : new JointDiffusion.Gpu.Baselines.FistaLasso(e.Matrix, e.M, 1, 32, 32).Lipschitz / 1.01;
        float w = (float)Math.Round(Math.Min(1.0, 1.0 / (a2 + e.NoiseGain * (double)e.NoiseGain)), 3);
        return (w, w);
    }

    /// <summary>Whether the experiment has tuned values for the rule.</summary>
    public static bool IsTuned(string experiment, string rule) => Table.ContainsKey((experiment, rule));
}
