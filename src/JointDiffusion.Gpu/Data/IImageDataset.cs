namespace JointDiffusion.Gpu.Data;

/// <summary>
/// A finite, indexable set of same-size images with values in [0, 1], stored [C, H, W] row-major: what the
/// trainer draws batches from and what the noise generators draw digits from.
/// </summary>
public interface IImageDataset
{
    /// <summary>Number of images.</summary>
    int Count { get; }

    /// <summary>Channels of every image (1 or 3).</summary>
    int Channels { get; }

    /// <summary>Height of every image.</summary>
    int Height { get; }

    /// <summary>Width of every image.</summary>
    int Width { get; }

    /// <summary>A short description for logs and model cards, e.g. "MNIST train (60000, 28x28 padded to 32x32)".</summary>
    string Description { get; }

    /// <summary>Writes image <paramref name="index"/> (0 ≤ index &lt; Count) into <paramref name="destination"/> (C·H·W values).</summary>
    void CopyTo(int index, Span<float> destination);
}
