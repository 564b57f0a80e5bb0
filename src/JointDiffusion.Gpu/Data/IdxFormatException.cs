namespace JointDiffusion.Gpu.Data;

/// <summary>
/// Thrown when an IDX image file (MNIST's format) is refused: wrong magic number, a header whose sizes do not
/// match the data, or a corrupt gzip stream. The message names the source and the problem, e.g.
/// <c>train-images-idx3-ubyte: is truncated: its header declares 60000 images of 28 × 28 (47040000 bytes of
/// pixels) but only 1000 bytes follow the header</c>.
/// </summary>
public sealed class IdxFormatException : Exception
{
    /// <summary>Creates the exception for a problem with the IDX data read from <paramref name="sourceName"/>.</summary>
    /// <param name="sourceName">The file path or stream name the data came from.</param>
    /// <param name="problem">What is wrong, as a sentence fragment without the source prefix.</param>
    /// <param name="inner">The underlying error (e.g. from the gzip decoder), or null.</param>
    public IdxFormatException(string sourceName, string problem, Exception? inner = null)
        : base($"{sourceName}: {problem}", inner)
    {
        SourceName = sourceName;
    }

    /// <summary>The file path or stream name the data came from.</summary>
    public string SourceName { get; }
}
