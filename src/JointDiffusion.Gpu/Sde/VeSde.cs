namespace JointDiffusion.Gpu.Sde;

/// <summary>
/// The variance-exploding SDE of the paper (Table 6) and DESIGN.md: dx = g(t) dw with f(t) = 0,
/// g(t) = σ^t, α_t = 1 and marginal variance β_t² = (σ^{2t} − 1)/(2 ln σ), so that x_t | x_0 ~ N(x_0, β_t² I).
/// </summary>
public sealed class VeSde
{
    /// <summary>Creates the SDE with scale <paramref name="sigma"/> (25 in the paper).</summary>
    public VeSde(double sigma = 25.0)
    {
        if (!(sigma > 1.0) || double.IsInfinity(sigma))
        {
            throw new ArgumentOutOfRangeException(nameof(sigma), sigma, "The VE-SDE needs σ > 1.");
        }

        Sigma = sigma;
    }

    /// <summary>The scale σ.</summary>
    public double Sigma { get; }

    /// <summary>The drift coefficient f(t) = 0.</summary>
    public double Drift(double t) => 0.0;

    /// <summary>The diffusion coefficient g(t) = σ^t.</summary>
    public double Diffusion(double t) => Math.Pow(Sigma, t);

    /// <summary>β_t² = (σ^{2t} − 1)/(2 ln σ), the variance of x_t given x_0.</summary>
    public double MarginalVariance(double t) => (Math.Pow(Sigma, 2 * t) - 1.0) / (2.0 * Math.Log(Sigma));

    /// <summary>β_t, the standard deviation of x_t given x_0.</summary>
    public double MarginalStd(double t) => Math.Sqrt(MarginalVariance(t));

    /// <summary>
    /// The reverse-time grid: T + 1 equally spaced times from t = 1 down to t = ε, so that T Euler–Maruyama
    /// steps of size Δt = (1 − ε)/T start at 1 and end exactly at ε.
    /// </summary>
    public static (double[] Times, double Dt) Grid(int steps, double epsilon)
    {
        if (steps < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(steps), steps, "Sampling needs at least one step.");
        }

        if (!(epsilon > 0.0 && epsilon < 1.0))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "ε must lie in (0, 1).");
        }

        double dt = (1.0 - epsilon) / steps;
        var times = new double[steps + 1];
        for (int i = 0; i <= steps; i++)
        {
            times[i] = 1.0 - i * dt;
        }

        times[steps] = epsilon;
        return (times, dt);
    }
}
