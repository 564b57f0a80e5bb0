using System.Globalization;

namespace JointDiffusion.Gpu.Tensors;

/// <summary>
/// The dimensions of a dense row-major tensor of rank 1 to 4. Image tensors are NCHW.
/// A value type so that shape checks on a hot path never allocate.
/// </summary>
public readonly struct Shape : IEquatable<Shape>
{
    private readonly int _d0, _d1, _d2, _d3;

    /// <summary>Creates a shape from 1 to 4 positive dimensions (a span, so <c>new Shape(n, c, h, w)</c> allocates nothing).</summary>
    /// <exception cref="ArgumentException">When the rank is not 1..4 or a dimension is not positive.</exception>
    public Shape(params ReadOnlySpan<int> dims)
    {
        if (dims.Length is < 1 or > 4)
        {
            throw new ArgumentException($"A tensor shape has rank 1 to 4; got rank {dims.Length}.", nameof(dims));
        }

        long length = 1;
        foreach (int d in dims)
        {
            if (d <= 0)
            {
                throw new ArgumentException($"Every dimension must be positive; got [{string.Join(", ", dims.ToArray())}].", nameof(dims));
            }

            length *= d;
            if (length > int.MaxValue)
            {
                throw new ArgumentException($"Shape [{string.Join(", ", dims.ToArray())}] has more than {int.MaxValue} elements.", nameof(dims));
            }
        }

        Rank = dims.Length;
        _d0 = dims[0];
        _d1 = Rank > 1 ? dims[1] : 1;
        _d2 = Rank > 2 ? dims[2] : 1;
        _d3 = Rank > 3 ? dims[3] : 1;
        Length = (int)length;
    }

    /// <summary>Creates an NCHW image-batch shape.</summary>
    public static Shape Nchw(int n, int c, int h, int w) => new(n, c, h, w);

    /// <summary>Number of dimensions (1 to 4).</summary>
    public int Rank { get; }

    /// <summary>Total number of elements.</summary>
    public int Length { get; }

    /// <summary>Dimension <paramref name="axis"/> (0-based).</summary>
    public int this[int axis] => axis switch
    {
        _ when axis < 0 || axis >= Rank => throw new ArgumentOutOfRangeException(nameof(axis), $"Axis {axis} is outside a rank-{Rank} shape."),
        0 => _d0,
        1 => _d1,
        2 => _d2,
        _ => _d3,
    };

    /// <summary>Batch size: the first dimension.</summary>
    public int N => _d0;

    /// <summary>Channels of a rank-4 NCHW shape.</summary>
    public int C => Rank == 4 ? _d1 : throw new InvalidOperationException($"Shape {this} is not NCHW.");

    /// <summary>Height of a rank-4 NCHW shape.</summary>
    public int H => Rank == 4 ? _d2 : throw new InvalidOperationException($"Shape {this} is not NCHW.");

    /// <summary>Width of a rank-4 NCHW shape.</summary>
    public int W => Rank == 4 ? _d3 : throw new InvalidOperationException($"Shape {this} is not NCHW.");

    /// <summary>Elements per batch item: Length / N.</summary>
    public int PerSample => Length / _d0;

    /// <summary>The dimensions as a new array.</summary>
    public int[] ToArray() => Rank switch
    {
        1 => [_d0],
        2 => [_d0, _d1],
        3 => [_d0, _d1, _d2],
        _ => [_d0, _d1, _d2, _d3],
    };

    /// <inheritdoc/>
    public bool Equals(Shape other) =>
        Rank == other.Rank && _d0 == other._d0 && _d1 == other._d1 && _d2 == other._d2 && _d3 == other._d3;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Shape s && Equals(s);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Rank, _d0, _d1, _d2, _d3);

    /// <summary>Formats as [d0, d1, ...].</summary>
    public override string ToString() =>
        "[" + string.Join(", ", ToArray().Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";

    /// <summary>Shape equality.</summary>
    public static bool operator ==(Shape a, Shape b) => a.Equals(b);

    /// <summary>Shape inequality.</summary>
    public static bool operator !=(Shape a, Shape b) => !a.Equals(b);
}
