namespace JointDiffusion.Gpu.Baselines;

/// <summary>Settings of <see cref="NonLocalMeans"/>.</summary>
public sealed record NonLocalMeansOptions
{
    /// <summary>Patch half-width: patches are (2r + 1)² pixels; 2 (5×5) by default.</summary>
    public int PatchRadius { get; init; } = 2;

    /// <summary>Search half-width: candidate patches are centred within (2r + 1)² pixels; 5 (11×11) by default.</summary>
    public int SearchRadius { get; init; } = 5;

    /// <summary>
    /// The noise standard deviation σ in the weight exp(−max(d² − 2σ², 0) / h²); null (the default) for
    /// <see cref="HaarWavelet.EstimateNoiseStd"/> of each image.
    /// </summary>
    public double? Sigma { get; init; }

    /// <summary>The filtering parameter h; null (the default) for <see cref="HRelative"/> · σ.</summary>
    public double? H { get; init; }

    /// <summary>h / σ when <see cref="H"/> is null; 0.8 by default (the ratio scikit-image's non-local-means example uses with σ subtracted).</summary>
    public double HRelative { get; init; } = 0.8;
}
