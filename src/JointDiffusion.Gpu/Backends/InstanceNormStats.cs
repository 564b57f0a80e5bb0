namespace JointDiffusion.Gpu.Backends;

/// <summary>
/// Layout of the statistics that <see cref="ComputeBackend.InstanceNorm2dPlus"/> saves for its backward pass:
/// a tensor [N, 2C + 2] holding per sample the channel means μ_c (C values), the reciprocal instance
/// std 1/√(s²_c + ε) (C values), the mean of the channel means m, and 1/√(v + ε) where v is the unbiased
/// variance of the channel means.
/// </summary>
public static class InstanceNormStats
{
    /// <summary>ε of both normalisations (PyTorch's default).</summary>
    public const float Epsilon = 1e-5f;

    /// <summary>Floats per sample for <paramref name="channels"/> channels.</summary>
    public static int PerSample(int channels) => 2 * channels + 2;
}
