using System.Diagnostics.CodeAnalysis;

namespace JointDiffusion.Gpu.IO;

/// <summary>
/// The decoded contents of a safetensors file: its <c>__metadata__</c> strings, its floating-point tensors as
/// float32 host arrays, and the names of tensors of other dtypes that were validated but not decoded.
/// </summary>
public sealed class SafetensorsFile
{
    private readonly Dictionary<string, SafetensorsTensor> _byName;
    private readonly Dictionary<string, SafetensorsSkippedTensor> _skippedByName;

    internal SafetensorsFile(
        string sourceName,
        IReadOnlyDictionary<string, string> metadata,
        IReadOnlyList<SafetensorsTensor> tensors,
        IReadOnlyList<SafetensorsSkippedTensor> skippedTensors)
    {
        SourceName = sourceName;
        Metadata = metadata;
        Tensors = tensors;
        SkippedTensors = skippedTensors;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        _skippedByName = skippedTensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The path or stream name the file was read from (used in messages).</summary>
    public string SourceName { get; }

    /// <summary>The <c>__metadata__</c> object (empty when the header has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The decoded tensors, in the order their bytes appear in the data section.</summary>
    public IReadOnlyList<SafetensorsTensor> Tensors { get; }

    /// <summary>Tensors of dtypes not decoded to float32 (see <see cref="SafetensorsDType"/>), in data order.</summary>
    public IReadOnlyList<SafetensorsSkippedTensor> SkippedTensors { get; }

    /// <summary>Looks up a decoded tensor by name.</summary>
    public bool TryGetTensor(string name, [MaybeNullWhen(false)] out SafetensorsTensor tensor) =>
        _byName.TryGetValue(name, out tensor);

    /// <summary>Returns the decoded tensor called <paramref name="name"/>.</summary>
    /// <exception cref="SafetensorsFormatException">When the file has no such tensor, or has it in a dtype that is not decoded.</exception>
    public SafetensorsTensor GetTensor(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_byName.TryGetValue(name, out SafetensorsTensor? tensor))
        {
            return tensor;
        }

        if (_skippedByName.TryGetValue(name, out SafetensorsSkippedTensor? skipped))
        {
            throw new SafetensorsFormatException(SourceName, name,
                $"has dtype {SafetensorsDTypeTable.WireName(skipped.DType)}, which is not decoded to float32 (only F32, F16, BF16 and F64 are)");
        }

        throw new SafetensorsFormatException(SourceName, name, $"is not in the file ({Tensors.Count} tensors)");
    }
}
