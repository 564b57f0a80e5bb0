using System.Buffers;

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
}
