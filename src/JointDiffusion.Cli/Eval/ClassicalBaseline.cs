namespace JointDiffusion.Cli.Eval;

/// <summary>
/// The classical baseline of each experiment: LASSO in a Haar wavelet basis (FISTA) for compressed sensing,
/// non-local means on y / a for the denoising tasks. Neither knows anything of the structured noise.
/// </summary>
internal static class ClassicalBaseline
{
    /// <summary>A short description of the method and its settings.</summary>
    public static string Describe(Experiment e) => e.Matrix is null ? "non-local means on y/a" : "Haar LASSO (FISTA)";

    /// <summary>The estimates of every image (Count × D).</summary>
    public static float[] Estimate(Experiment e, CancellationToken cancellation)
    {
        cancellation.ThrowIfCancellationRequested();
        throw new NotImplementedException();
    }
}
