namespace JointDiffusion.Gpu.IO;

/// <summary>
/// Thrown when a safetensors file (or a stream or byte array read as one) is malformed, or lacks a tensor a
/// caller asked for. The message names the source and, where one is involved, the tensor, e.g.
/// <c>weights.safetensors: tensor 'begin_conv.weight' has shape [8, 1, 3, 3] (72 values of F32 = 288 bytes)
/// but data_offsets [0, 280] span 280 bytes</c>.
/// </summary>
public sealed class SafetensorsFormatException : Exception
{
    /// <summary>Creates the exception for a problem in <paramref name="sourceName"/>, optionally about one tensor.</summary>
    /// <param name="sourceName">The file path or stream name the data came from.</param>
    /// <param name="tensorName">The tensor involved, or null for a file-level problem.</param>
    /// <param name="problem">What is wrong, as a sentence fragment without the source or tensor prefix.</param>
    /// <param name="inner">The underlying cause (e.g. a JSON parse error), or null.</param>
    public SafetensorsFormatException(string sourceName, string? tensorName, string problem, Exception? inner = null)
        : base(Compose(sourceName, tensorName, problem), inner)
    {
        SourceName = sourceName;
        TensorName = tensorName;
    }

    /// <summary>The file path or stream name the data came from.</summary>
    public string SourceName { get; }

    /// <summary>The tensor the problem concerns, or null for a file-level problem.</summary>
    public string? TensorName { get; }

    private static string Compose(string sourceName, string? tensorName, string problem) =>
        tensorName is null ? $"{sourceName}: {problem}" : $"{sourceName}: tensor '{tensorName}' {problem}";
}
