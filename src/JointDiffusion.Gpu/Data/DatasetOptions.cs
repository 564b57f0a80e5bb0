namespace JointDiffusion.Gpu.Data;

/// <summary>The geometry and, for the random photo crops, the sampling that <see cref="DatasetCatalog"/> opens a named data set with.</summary>
public sealed record DatasetOptions
{
    /// <summary>Height = width of the served images (32 for the shipped models).</summary>
    public required int Size { get; init; }

    /// <summary>1 (grey) or 3 (RGB; grey data sets are replicated).</summary>
    public int Channels { get; init; } = 1;

    /// <summary>Selects the random crops of <c>photos</c>.</summary>
    public ulong Seed { get; init; }

    /// <summary>How many crops <c>photos</c> serves (the size of MNIST's training set by default).</summary>
    public int PhotoCrops { get; init; } = 60_000;

    /// <summary>Smallest scale of a <c>photos</c> crop: it covers round(Size · scale) photo pixels per side.</summary>
    public float PhotoMinScale { get; init; } = 1f;

    /// <summary>Largest scale of a <c>photos</c> crop (log-uniform between the two; 4 at 32 × 32 covers up to 128 × 128 photo pixels).</summary>
    public float PhotoMaxScale { get; init; } = 4f;
}
