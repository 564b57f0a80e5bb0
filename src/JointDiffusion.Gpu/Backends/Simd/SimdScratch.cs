using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// Scratch arrays of the SIMD kernels (padded planes, packed tiles, index tables). Unlike
/// <see cref="ArrayPool{T}.Shared"/>, these pools never trim: the shared pool drops its arrays after a full garbage
/// collection, and the next op would then allocate them again in the middle of a sampling run. Process-wide, as
/// the shared pool; an array too large for a pool, or rented when its bucket is empty, is allocated and dropped.
/// </summary>
internal static class SimdScratch
{
    /// <summary>Largest array kept (the pools' maximum, 2^30 elements).</summary>
    private const int MaxLength = 1 << 30;

    /// <summary>Arrays kept per power-of-two size: enough for every thread of a 64-core machine to hold a few at once.</summary>
    private const int PerBucket = 256;

    private static readonly ArrayPool<float> SharedFloats = ArrayPool<float>.Create(MaxLength, PerBucket);
    private static readonly ArrayPool<int> SharedInts = ArrayPool<int>.Create(MaxLength, PerBucket);
    private static readonly ArrayPool<double> SharedDoubles = ArrayPool<double>.Create(MaxLength, PerBucket);

    /// <summary>Float scratch (inside an item of <see cref="ComputeBackend.RunConcurrently{TWork}"/>, the item's own).</summary>
    public static ArrayPool<float> Floats => ConcurrentItemPools.Current?.Floats ?? SharedFloats;

    /// <summary>Int scratch (inside an item of <see cref="ComputeBackend.RunConcurrently{TWork}"/>, the item's own).</summary>
    public static ArrayPool<int> Ints => ConcurrentItemPools.Current?.Ints ?? SharedInts;

    /// <summary>Double scratch (inside an item of <see cref="ComputeBackend.RunConcurrently{TWork}"/>, the item's own).</summary>
    public static ArrayPool<double> Doubles => ConcurrentItemPools.Current?.Doubles ?? SharedDoubles;

    /// <summary>
    /// Float scratch of at least <paramref name="length"/> floats from a 64-byte boundary on (one cache line, one
    /// Vector512), for kernels that store whole vectors into it: a store that straddles two lines costs about twice
    /// one that does not (a transposing copy into a line-aligned buffer ran 1.7x faster than into one 16 bytes off,
    /// measured). Return it with <see cref="Return(AlignedFloats)"/>.
    /// </summary>
    public static AlignedFloats RentAligned(int length)
    {
        var array = Floats.Rent(length + AlignedFloats.Slack);
        return new AlignedFloats(array, AlignedFloats.OffsetOf(array));
    }

    /// <summary>Returns scratch from <see cref="RentAligned"/> to the pool it came from.</summary>
    public static void Return(AlignedFloats scratch) => Floats.Return(scratch.Array);
}

/// <summary>
/// A float array and the index of its first element on a 64-byte boundary. Indices are relative to that element, so
/// the view stays correct if the garbage collector moves the array; only the alignment is lost then (large and
/// pinned arrays do not move).
/// </summary>
internal readonly struct AlignedFloats(float[] array, int offset)
{
    /// <summary>Floats to allocate beyond the length needed, to leave room to align: 15 at most are skipped.</summary>
    public const int Slack = 15;

    /// <summary>The whole array.</summary>
    public float[] Array { get; } = array;

    /// <summary>Index in <see cref="Array"/> of element 0 of the view.</summary>
    public int Offset { get; } = offset;

    /// <summary>Element 0 of the view.</summary>
    public ref float Start => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(Array), Offset);

    /// <summary>Elements <paramref name="start"/> … start + length − 1 of the view.</summary>
    public Span<float> Slice(int start, int length) => Array.AsSpan(Offset + start, length);

    /// <summary>Index of the first element of <paramref name="array"/> at a 64-byte boundary where it is now.</summary>
    public static unsafe int OffsetOf(float[] array)
    {
        nuint address = (nuint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
        return (int)((64 - (address & 63)) & 63) / sizeof(float);
    }
}
