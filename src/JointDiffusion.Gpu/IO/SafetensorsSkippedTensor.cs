namespace JointDiffusion.Gpu.IO;

/// <summary>
/// A tensor whose header entry was validated but whose dtype is not decoded to float32 (integers, booleans,
/// 8-bit floats, complex), e.g. PyTorch's int64 <c>num_batches_tracked</c> buffers. Its bytes are skipped.
/// </summary>
public sealed class SafetensorsSkippedTensor
{
    internal SafetensorsSkippedTensor(string name, SafetensorsDType dtype, int[] shape)
    {
        Name = name;
        DType = dtype;
        Shape = shape;
    }

    /// <summary>The tensor name.</summary>
    public string Name { get; }

    /// <summary>The stored dtype.</summary>
    public SafetensorsDType DType { get; }

    /// <summary>Dimensions (row-major); empty for a scalar.</summary>
    public int[] Shape { get; }
}
