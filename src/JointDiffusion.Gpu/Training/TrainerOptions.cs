namespace JointDiffusion.Gpu.Training;

/// <summary>Settings of a denoising-score-matching run (defaults: REFERENCE_RESULTS.md's PyTorch peer).</summary>
public sealed record TrainerOptions
{
    /// <summary>Images per step.</summary>
    public int Batch { get; init; } = 32;

    /// <summary>Adam learning rate.</summary>
    public float LearningRate { get; init; } = 5e-4f;

    /// <summary>Adam β1.</summary>
    public float Beta1 { get; init; } = 0.9f;

    /// <summary>Adam β2.</summary>
    public float Beta2 { get; init; } = 0.999f;

    /// <summary>Adam ε.</summary>
    public float AdamEpsilon { get; init; } = 1e-8f;

    /// <summary>Largest global L2 norm of the gradient; larger gradients are scaled down to it. 0 disables clipping.</summary>
    public float GradientClip { get; init; } = 1f;

    /// <summary>Decay of the exponential moving average of the weights (the weights that ship).</summary>
    public float EmaDecay { get; init; } = 0.999f;

    /// <summary>Smallest diffusion time drawn: t ~ U(TMin, 1).</summary>
    public double TMin { get; init; } = 1e-5;

    /// <summary>Seed of the data order, the times and the noise.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Throws an <see cref="ArgumentException"/> naming every invalid setting.</summary>
    public void Validate()
    {
        var problems = new List<string>();
        if (Batch < 1)
        {
            problems.Add($"batch must be ≥ 1 (got {Batch})");
        }

        if (!(LearningRate > 0) || float.IsInfinity(LearningRate))
        {
            problems.Add($"learning rate must be > 0 (got {LearningRate})");
        }

        if (!(Beta1 >= 0 && Beta1 < 1) || !(Beta2 >= 0 && Beta2 < 1))
        {
            problems.Add($"Adam betas must lie in [0, 1) (got {Beta1}, {Beta2})");
        }

        if (!(GradientClip >= 0))
        {
            problems.Add($"gradient clip must be ≥ 0 (got {GradientClip})");
        }

        if (!(EmaDecay >= 0 && EmaDecay < 1))
        {
            problems.Add($"EMA decay must lie in [0, 1) (got {EmaDecay})");
        }

        if (!(TMin > 0 && TMin < 1))
        {
            problems.Add($"t_min must lie in (0, 1) (got {TMin})");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid training options: " + string.Join("; ", problems) + ".");
        }
    }
}
