using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// Transformed Winograd filters (G g Gᵀ for every filter, 4x the weights) kept per weight array and orientation, so
/// that a network evaluated many times with the same weights (a sampling run: hundreds of forward and backward
/// passes) transforms each filter once instead of on every convolution. One per <see cref="SimdBackend"/>.
/// </summary>
/// <remarks>
/// <para>
/// An entry is valid while the weight array still holds the values it was computed from: every use compares the
/// array with the entry's copy (a memory compare, about a tenth of the cost of the transform) and recomputes on any
/// difference, so a training step that updates the weights in place, or a pooled array that comes back as another
/// layer's weights, is never served stale filters. Entries die with their weight arrays (a weak table).
/// </para>
/// <para>
/// Memory: an entry holds 36/9 = 4 times its weights transformed plus a copy, per orientation (forward and
/// backward-data). Past <see cref="CapacityBytes"/> in all, new weights are transformed into scratch on every use
/// instead (the uncached cost).
/// </para>
/// </remarks>
internal sealed class SimdWinogradFilterCache
{
    /// <summary>Most bytes the entries of one backend may hold.</summary>
    public const long CapacityBytes = 512L << 20;

    private readonly ConditionalWeakTable<float[], Entry> _forward = new();
    private readonly ConditionalWeakTable<float[], Entry> _rotated = new();
    private readonly Lock _gate = new();
    private long _bytes;

    /// <summary>Bytes held by live entries.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>
    /// The entry for <paramref name="weight"/> in this orientation and shape, made if there is room; null when the
    /// cache is full. The caller locks <see cref="Entry.Gate"/>, and refreshes the entry if <see cref="Entry.Holds"/>
    /// is false.
    /// </summary>
    public Entry? Find(float[] weight, bool rotated, int inChannels, int outChannels, int transformedLength)
    {
        var table = rotated ? _rotated : _forward;
        if (table.TryGetValue(weight, out var entry) && entry.InChannels == inChannels && entry.OutChannels == outChannels)
        {
            return entry;
        }

        int weightLength = inChannels * outChannels * 9;
        long bytes = 4L * (weightLength + transformedLength + AlignedFloats.Slack);
        lock (_gate)
        {
            if (table.TryGetValue(weight, out entry) && entry.InChannels == inChannels && entry.OutChannels == outChannels)
            {
                return entry;
            }

            if (_bytes + bytes > CapacityBytes)
            {
                return null;
            }

            entry = new Entry(this, inChannels, outChannels, weightLength, transformedLength);
            table.AddOrUpdate(weight, entry);
            Interlocked.Add(ref _bytes, bytes);
            return entry;
        }
    }

    /// <summary>Transformed filters for one weight array and orientation, with the weights they came from.</summary>
    internal sealed class Entry
    {
        private readonly SimdWinogradFilterCache _owner;
        private readonly float[] _source;
        private bool _filled;

        public Entry(SimdWinogradFilterCache owner, int inChannels, int outChannels, int weightLength, int transformedLength)
        {
            _owner = owner;
            InChannels = inChannels;
            OutChannels = outChannels;
            _source = new float[weightLength];
            // Pinned, so that the 64-byte alignment found now holds for the entry's life.
            var transformed = GC.AllocateUninitializedArray<float>(transformedLength + AlignedFloats.Slack, pinned: true);
            Transformed = new AlignedFloats(transformed, AlignedFloats.OffsetOf(transformed));
        }

        /// <summary>Releases the entry's share of the capacity when its weight array (and so the entry) is collected.</summary>
        ~Entry() => Interlocked.Add(ref _owner._bytes, -4L * (_source.Length + Transformed.Array.Length));

        /// <summary>Held while the entry is checked, refreshed or read.</summary>
        public Lock Gate { get; } = new();

        public int InChannels { get; }

        public int OutChannels { get; }

        /// <summary>The transformed filters (from a 64-byte boundary on), valid when <see cref="Holds"/>.</summary>
        public AlignedFloats Transformed { get; }

        /// <summary>Whether <see cref="Transformed"/> was computed from exactly these weights.</summary>
        public bool Holds(float[] weight) =>
            _filled && MemoryMarshal.AsBytes(weight.AsSpan(0, _source.Length)).SequenceEqual(MemoryMarshal.AsBytes(_source.AsSpan()));

        /// <summary>Records that <see cref="Transformed"/> now comes from <paramref name="weight"/>.</summary>
        public void Filled(float[] weight)
        {
            weight.AsSpan(0, _source.Length).CopyTo(_source);
            _filled = true;
        }
    }
}
