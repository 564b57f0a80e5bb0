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

    /// <summary>Whether the experiment has tuned values for the rule.</summary>
    public static bool IsTuned(string experiment, string rule) => Table.ContainsKey((experiment, rule));
}
