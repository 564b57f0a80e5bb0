namespace JointDiffusion.Gpu.Baselines;

/// <summary>The outcome of one <see cref="FistaLasso"/> solve.</summary>
/// <param name="Image">The estimate x = Wᵀ c, <c>[C, H, W]</c> (clamped to [0, 1] when the options ask).</param>
/// <param name="Coefficients">The Haar coefficients c of the last iterate.</param>
/// <param name="Mu">The ℓ₁ weight μ used.</param>
/// <param name="Iterations">FISTA iterations run.</param>
/// <param name="Converged">Whether the relative-change tolerance stopped it before the iteration cap.</param>
/// <param name="Objective">½‖y − A Wᵀ c‖² + μ‖c‖₁ (approximation band unpenalised) at <paramref name="Coefficients"/>.</param>
public sealed record FistaLassoResult(float[] Image, float[] Coefficients, double Mu, int Iterations, bool Converged, double Objective);
