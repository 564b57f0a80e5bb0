using System.Diagnostics.CodeAnalysis;
using System.Globalization;

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

    /// <summary>
    /// Refuses the file when a decoded tensor holds a NaN or an infinity: weights or inputs that are not finite
    /// make every later result NaN, and are far easier to diagnose here, by name, than as a diverged sampler.
    /// Opt-in, since a file may legitimately store non-finite values (e.g. a mask of -inf).
    /// </summary>
    /// <returns>This file, for chaining (<c>SafetensorsReader.Read(path).RequireFinite()</c>).</returns>
    /// <exception cref="SafetensorsFormatException">Naming the tensor, the first bad value and its position, e.g.
    /// <c>w.safetensors: tensor 'begin_conv.weight' holds NaN at [3, 0, 1, 2] (flat index 57 of 72); ...</c>.</exception>
    public SafetensorsFile RequireFinite()
    {
        foreach (SafetensorsTensor tensor in Tensors)
        {
            int index = tensor.IndexOfNonFinite();
            if (index >= 0)
            {
                string value = tensor.Data[index].ToString(CultureInfo.InvariantCulture);
                throw new SafetensorsFormatException(SourceName, tensor.Name,
                    $"holds {value} at {Position(tensor.Shape, index)} (flat index {index} of {tensor.Data.Length}); a NaN or infinite weight or input makes every result NaN");
            }
        }

        return this;
    }

    /// <summary>Looks up a decoded tensor by name.</summary>
    public bool TryGetTensor(string name, [MaybeNullWhen(false)] out SafetensorsTensor tensor) =>
        _byName.TryGetValue(name, out tensor);

    private static string Position(int[] shape, int index)
    {
        var position = new int[shape.Length];
        for (int axis = shape.Length - 1; axis >= 0; axis--)
        {
            position[axis] = index % shape[axis];
            index /= shape[axis];
        }

        return SafetensorsTensor.FormatShape(position);
    }

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
