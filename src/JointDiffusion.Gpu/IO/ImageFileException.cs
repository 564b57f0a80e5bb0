namespace JointDiffusion.Gpu.IO;

/// <summary>
/// Thrown when an image file (or a stream or byte array read as one) is refused: unrecognised or unsupported
/// format, zero size, more pixels than the caller's limit, truncated or corrupt data. The message names the
/// source and the problem, e.g. <c>scan.png: declares 100000 × 100000 = 10000000000 pixels, more than the limit
/// of 67108864 (ImageLoadOptions.MaxPixels)</c>. Decoder failures are wrapped as the inner exception.
/// </summary>
public sealed class ImageFileException : Exception
{
    /// <summary>Creates the exception for a problem with the image read from <paramref name="sourceName"/>.</summary>
    /// <param name="sourceName">The file path or stream name the data came from.</param>
    /// <param name="problem">What is wrong, as a sentence fragment without the source prefix.</param>
    /// <param name="inner">The underlying decoder error, or null.</param>
    public ImageFileException(string sourceName, string problem, Exception? inner = null)
        : base($"{sourceName}: {problem}", inner)
    {
        SourceName = sourceName;
    }

    /// <summary>The file path or stream name the data came from.</summary>
    public string SourceName { get; }
}
