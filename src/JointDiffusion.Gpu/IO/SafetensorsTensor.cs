using System.Runtime.InteropServices;

namespace JointDiffusion.Gpu.IO;

/// <summary>
/// A named, dense, row-major float32 tensor on the host: what <see cref="SafetensorsReader"/> returns and
/// <see cref="SafetensorsWriter"/> takes. The data array is held, not copied (weights run to hundreds of MB);
/// callers must not change <see cref="Shape"/> or <see cref="Data"/> while another component uses them.
/// </summary>
public sealed class SafetensorsTensor
{
    /// <summary>Creates a tensor stored as <see cref="SafetensorsDType.F32"/>.</summary>
    /// <param name="name">The tensor name, e.g. a PyTorch <c>state_dict</c> key such as <c>begin_conv.weight</c>.</param>
    /// <param name="shape">Dimensions, each ≥ 0; an empty array is a scalar (one value). Copied.</param>
    /// <param name="data">Row-major values; its length must be the product of <paramref name="shape"/>. Held, not copied.</param>
    /// <exception cref="ArgumentException">When a dimension is negative or the data length is not the shape's product.</exception>
    public SafetensorsTensor(string name, int[] shape, float[] data)
        : this(name, ValidatedShapeCopy(name, shape, data), data, SafetensorsDType.F32)
    {
    }

    private SafetensorsTensor(string name, int[] shape, float[] data, SafetensorsDType storedAs)
    {
        Name = name;
        Shape = shape;
        Data = data;
        StoredAs = storedAs;
    }

    /// <summary>The tensor name.</summary>
    public string Name { get; }

    /// <summary>Dimensions (row-major); empty for a scalar.</summary>
    public int[] Shape { get; }

    /// <summary>The values, converted to float32 when the file stored another floating-point dtype.</summary>
    public float[] Data { get; }

    /// <summary>The dtype the file stored (F32, F16, BF16 or F64); F32 for tensors built in memory.</summary>
    public SafetensorsDType StoredAs { get; }

    /// <summary>The shape as text, e.g. <c>[16, 1, 3, 3]</c>, for messages.</summary>
    public string ShapeText => FormatShape(Shape);

    /// <summary>The flat index of the first NaN or infinite value, or -1 when every value is finite.</summary>
    public int IndexOfNonFinite()
    {
        // An exponent of all ones is exactly NaN or ±infinity.
        ReadOnlySpan<uint> bits = MemoryMarshal.Cast<float, uint>(Data.AsSpan());
        for (int i = 0; i < bits.Length; i++)
        {
            if ((bits[i] & 0x7F80_0000u) == 0x7F80_0000u)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Builds a tensor from already-validated reader output.</summary>
    internal static SafetensorsTensor FromDecoded(string name, int[] shape, float[] data, SafetensorsDType storedAs) =>
        new(name, shape, data, storedAs);

    internal static string FormatShape(IReadOnlyList<int> shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>Whether <paramref name="shape"/> has non-negative dimensions whose product is <paramref name="length"/>.</summary>
    internal static bool ShapeHolds(int[] shape, int length)
    {
        if (shape.Any(d => d < 0))
        {
            return false;
        }

        if (shape.Contains(0))
        {
            return length == 0;
        }

        long count = 1;
        foreach (int d in shape)
        {
            // Stop once past the length: the answer is already "no", and the product cannot overflow.
            count *= d;
            if (count > length)
            {
                return false;
            }
        }

        return count == length;
    }

    private static int[] ValidatedShapeCopy(string name, int[] shape, float[] data)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        if (shape.Any(d => d < 0))
        {
            throw new ArgumentException($"Tensor '{name}': every dimension must be ≥ 0; got {FormatShape(shape)}.", nameof(shape));
        }

        if (!ShapeHolds(shape, data.Length))
        {
            throw new ArgumentException(
                $"Tensor '{name}': shape {FormatShape(shape)} does not hold the {data.Length} values given.", nameof(data));
        }

        return (int[])shape.Clone();
    }
}
