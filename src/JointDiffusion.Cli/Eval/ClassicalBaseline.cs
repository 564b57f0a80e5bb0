using System.Globalization;
using JointDiffusion.Gpu.Baselines;

namespace JointDiffusion.Cli.Eval;

/// <summary>
/// The classical baseline of each experiment: LASSO in a Haar wavelet basis (FISTA, μ = 0.01·max|Aᵀy|, 300
/// iterations) for compressed sensing, non-local means (5x5 patches, 11x11 search, h = 0.8·σ) on y / a for the
/// denoising tasks, told the noise level the single-prior baselines assume (σ = σ_y / a, the rms of b·n / a): a
/// blind σ̂ from the finest wavelet band sees almost nothing of smooth digit strokes and leaves y unchanged.
/// Neither knows anything of the structured noise beyond its level.
/// </summary>
internal static class ClassicalBaseline
{
    /// <summary>A short description of the method and its settings.</summary>
    public static string Describe(Experiment e) => e.Matrix is null
        ? string.Create(CultureInfo.InvariantCulture, $"non-local means on y/a, σ {e.SingleSigmaY / e.SignalGain!.Value:G3}")
        : "Haar LASSO (FISTA)";

    /// <summary>The estimates of every image (Count × D), clipped to [0, 1].</summary>
    public static float[] Estimate(Experiment e, CancellationToken cancellation)
    {
        cancellation.ThrowIfCancellationRequested();
        float[] estimate;
        if (e.Matrix is null)
        {
            float a = e.SignalGain!.Value;
            var scaled = e.Y.Select(v => v / a).ToArray();
            estimate = NonLocalMeans.DenoiseBatch(scaled, e.Count, 1, 32, 32, new NonLocalMeansOptions { Sigma = e.SingleSigmaY / a });
        }
        else
        {
            var lasso = new FistaLasso(e.Matrix, e.M, 1, 32, 32);
            estimate = lasso.ReconstructBatch(e.Y, e.Count, new FistaLassoOptions { ClampToUnitRange = true });
        }

        for (int i = 0; i < estimate.Length; i++)
        {
            estimate[i] = Math.Clamp(estimate[i], 0f, 1f);
        }

        return estimate;
    }
}
