namespace JointDiffusion.Gpu.Baselines;

/// <summary>Settings of one <see cref="FistaLasso"/> solve.</summary>
public sealed record FistaLassoOptions
{
    /// <summary>
    /// The ℓ₁ weight μ of ½‖y − A Wᵀ c‖² + μ‖c‖₁; null (the default) for <see cref="MuRelative"/> · ‖Aᵀy‖∞, taken per
    /// observation. ‖Aᵀy‖∞ is the largest pixel of the back-projection; for a Gaussian A with N(0, 1/m) entries Aᵀy is
    /// roughly the image plus aliasing, so the default is about 1 % of the brightest pixel.
    /// </summary>
    public double? Mu { get; init; }

    /// <summary>μ / ‖Aᵀy‖∞ when <see cref="Mu"/> is null; 0.01 by default.</summary>
    public double MuRelative { get; init; } = 0.01;

    /// <summary>The most FISTA iterations; 300 by default.</summary>
    public int Iterations { get; init; } = 300;

    /// <summary>
    /// Stop once ‖c_k − c_(k−1)‖ ≤ Tolerance · ‖c_k‖ (relative change of the coefficients); 1e-5 by default, 0 to
    /// always run <see cref="Iterations"/>.
    /// </summary>
    public double Tolerance { get; init; } = 1e-5;

    /// <summary>Clamp the returned image to [0, 1] (the coefficients and objective stay unclamped); false by default.</summary>
    public bool ClampToUnitRange { get; init; }
}
