using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// Stride-1 max pool with −∞ padding (output size = input size) of NCHW planes, vectorised along rows and run in
/// parallel over planes. The backward routes each dy to the window's winner exactly as the forward picks it.
/// </summary>
/// <remarks>
/// The winner is PyTorch's: the first maximum in row-major window order, and the first NaN if there is one (NaN
/// propagates); padding never wins. Separably: a row pass keeps, for each window of 2r+1 columns, the maximum
/// and the first column holding it; a column pass keeps the first row whose row maximum is the window maximum.
/// That row's first maximal column is the first maximum in row-major order. Each pass scans its 2r+1 candidates
/// in order and lets a candidate replace the best only when it is larger, or NaN over a non-NaN
/// (<see cref="ISimdPoolLanes{TVec}.Replaces"/>), on <see cref="ISimdPoolLanes{TVec}.Count"/> outputs at once.
/// The row pass reads a copy of each row with r columns of −∞ either side; a −∞ pad on the left can only stay
/// the best when every real candidate is −∞ too, and then the first real column (where the index is clamped
/// to) is the first maximum. Winner indices are carried as floats, exact below 2^24 pixels per plane.
/// </remarks>
internal static class SimdMaxPool
{
    /// <summary>Largest plane whose pixel indices a float holds exactly.</summary>
    public const int MaxPlaneLength = 1 << 24;

    /// <summary>Work items per thread, so that threads finish together.</summary>
    private const int ItemsPerThread = 4;

    /// <summary>y = maxpool(x) over <paramref name="planes"/> planes of h×w, window 2·<paramref name="radius"/>+1.</summary>
    public static void Forward(float[] x, float[] y, int planes, int h, int w, int radius) =>
        Run(new Problem(x, y, null, planes, h, w, radius, Accumulate: false), Lanes(w));

    /// <summary>dx (+)= dy routed to each window's winner in x.</summary>
    public static void Backward(float[] x, float[] dy, float[] dx, int planes, int h, int w, int radius, bool accumulate) =>
        Run(new Problem(x, dx, dy, planes, h, w, radius, accumulate), Lanes(w));

    /// <summary>As <see cref="Forward"/> and <see cref="Backward"/> with a given vector width (128, 256 or 512 bits), for tests of every width.</summary>
    internal static void Run(float[] x, float[] output, float[]? dy, int planes, int h, int w, int radius, bool accumulate, int bits) =>
        Run(new Problem(x, output, dy, planes, h, w, radius, accumulate), bits);

    /// <summary>
    /// The widest accelerated vector no wider than a row (a 16-wide row on AVX-512 is one vector; an 8-wide row
    /// takes 256 bits rather than half a 512-bit vector), else 128 bits (a last, partial vector per row is computed
    /// whole and stored in part).
    /// </summary>
    private static int Lanes(int w) =>
        Vector512.IsHardwareAccelerated && w >= Vector512<float>.Count ? 512
        : Vector256.IsHardwareAccelerated && w >= Vector256<float>.Count ? 256
        : 128;

    /// <summary>
    /// One max pool: forward when <paramref name="Gradient"/> is null (<paramref name="Output"/> = y), else
    /// backward (<paramref name="Output"/> = dx, <paramref name="Gradient"/> = dy).
    /// </summary>
    private readonly record struct Problem(float[] X, float[] Output, float[]? Gradient, int Planes, int Height, int Width, int Radius, bool Accumulate);

    private static void Run(in Problem p, int bits)
    {
        if (p.Height * p.Width >= MaxPlaneLength)
        {
            throw new ArgumentException($"Max pool planes are limited to {MaxPlaneLength} pixels; got {p.Height}x{p.Width}.");
        }

        int items = Math.Min(p.Planes, ItemsPerThread * SimdWorkers.Shared.Concurrency);
        switch (bits)
        {
            case 512:
                Dispatch<SimdPoolLanes512, Vector512<float>>(p, items);
                break;
            case 256:
                Dispatch<SimdPoolLanes256, Vector256<float>>(p, items);
                break;
            default:
                Dispatch<SimdPoolLanes128, Vector128<float>>(p, items);
                break;
        }
    }

    /// <summary>
    /// Runs the items with scratch rented here, on the calling thread, one slice per item: renting inside the items
    /// would make the pool's high-water mark depend on how the threads interleave, and a late new peak allocate.
    /// </summary>
    private static void Dispatch<TL, TV>(in Problem p, int items)
        where TL : struct, ISimdPoolLanes<TV>
        where TV : struct
    {
        var layout = new ScratchLayout(p.Height, p.Width, p.Radius, TL.Count, p.Gradient is not null);
        float[] scratch = SimdScratch.Floats.Rent(items * layout.ItemLength);
        try
        {
            if (p.Gradient is null)
            {
                SimdWorkers.Shared.For(items, new Chunk<TL, TV, ValuesOnly>(p, items, layout, scratch));
            }
            else
            {
                SimdWorkers.Shared.For(items, new Chunk<TL, TV, WithWinners>(p, items, layout, scratch));
            }
        }
        finally
        {
            SimdScratch.Floats.Return(scratch);
        }
    }

    /// <summary>
    /// One item's scratch: the padded row copies [h, stride + 2r], then the row maxima, and with winners the row
    /// winners and the window winners, each [h, stride] with stride = w rounded up to whole vectors.
    /// </summary>
    private readonly record struct ScratchLayout(int Height, int Width, int Radius, int Lanes, bool Winners)
    {
        public int Stride => (Width + Lanes - 1) / Lanes * Lanes;

        public int PaddedWidth => Stride + 2 * Radius;

        public int PaddedLength => Height * PaddedWidth;

        public int PassLength => Height * Stride;

        public int ItemLength => PaddedLength + (Winners ? 3 : 1) * PassLength;
    }

    /// <summary>Whether a pass tracks the winner's index (backward) or only the value (forward).</summary>
    private interface IPoolMode
    {
        static abstract bool Winners { get; }
    }

    private readonly struct ValuesOnly : IPoolMode
    {
        public static bool Winners => false;
    }

    private readonly struct WithWinners : IPoolMode
    {
        public static bool Winners => true;
    }

    /// <summary>One work item: a run of planes, with its own slice of the scratch.</summary>
    private readonly struct Chunk<TL, TV, TMode>(Problem p, int items, ScratchLayout layout, float[] scratch) : IParallelBody
        where TL : struct, ISimdPoolLanes<TV>
        where TV : struct
        where TMode : struct, IPoolMode
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int index)
        {
            int lanes = TL.Count, r = p.Radius, h = p.Height, w = p.Width, hw = h * w;
            int stride = layout.Stride, paddedWidth = layout.PaddedWidth, pass = layout.PassLength;
            var mine = scratch.AsSpan(index * layout.ItemLength, layout.ItemLength);
            var padded = mine[..layout.PaddedLength];
            var rowMax = mine.Slice(layout.PaddedLength, pass);
            var rowArg = TMode.Winners ? mine.Slice(layout.PaddedLength + pass, pass) : rowMax;
            var winners = TMode.Winners ? mine.Slice(layout.PaddedLength + 2 * pass, pass) : rowMax;
            Span<float> spill = stackalloc float[lanes];

            // The pads are the same for every plane: written once, never overwritten.
            padded.Fill(float.NegativeInfinity);
            for (int plane = index * p.Planes / items, end = (index + 1) * p.Planes / items; plane < end; plane++)
            {
                int offset = plane * hw;
                for (int i = 0; i < h; i++)
                {
                    p.X.AsSpan(offset + i * w, w).CopyTo(padded.Slice(i * paddedWidth + r, w));
                }

                if (TMode.Winners && !p.Accumulate)
                {
                    p.Output.AsSpan(offset, hw).Clear();
                }

                RowPass(padded, rowMax, rowArg, h, w, r, stride, paddedWidth);
                ColumnPass(rowMax, rowArg, winners, spill, offset, h, w, r, stride);
                if (TMode.Winners)
                {
                    Scatter(winners, offset, h, w, stride);
                }
            }
        }

        /// <summary>rowMax[i, j] = max of row i over columns j−r … j+r, and (with winners) rowArg[i, j] = i·w + its first column.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void RowPass(Span<float> padded, Span<float> rowMax, Span<float> rowArg, int h, int w, int r, int stride, int paddedWidth)
        {
            int lanes = TL.Count;
            ref float source = ref MemoryMarshal.GetReference(padded);
            ref float max = ref MemoryMarshal.GetReference(rowMax);
            ref float arg = ref MemoryMarshal.GetReference(rowArg);
            var indices = TL.Indices;
            for (int i = 0; i < h; i++)
            {
                for (int j0 = 0; j0 < stride; j0 += lanes)
                {
                    // Candidate d (0 … 2r) of output column j is padded column j + d, i.e. input column j − r + d.
                    nuint at = (nuint)(i * paddedWidth + j0);
                    var best = TL.Load(ref source, at);
                    var column = TL.Add(TL.Broadcast(j0 - r), indices);
                    var winner = column;
                    for (int d = 1; d <= 2 * r; d++)
                    {
                        var candidate = TL.Load(ref source, at + (nuint)d);
                        var replaces = TL.Replaces(candidate, best);
                        best = TL.Select(replaces, candidate, best);
                        if (TMode.Winners)
                        {
                            winner = TL.Select(replaces, TL.Add(column, TL.Broadcast(d)), winner);
                        }
                    }

                    nuint o = (nuint)(i * stride + j0);
                    TL.Store(best, ref max, o);
                    if (TMode.Winners)
                    {
                        // A left pad wins only over −∞ candidates: the first real column is then the first maximum.
                        TL.Store(TL.Add(TL.Max(winner, TL.Broadcast(0f)), TL.Broadcast(i * w)), ref arg, o);
                    }
                }
            }
        }

        /// <summary>
        /// Per output row, the first of rows i−r … i+r (clipped) holding the maximum: writes y (forward), or the
        /// winners' plane indices into <paramref name="winners"/> [h, stride] (backward).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void ColumnPass(Span<float> rowMax, Span<float> rowArg, Span<float> winners, Span<float> spill, int offset, int h, int w, int r, int stride)
        {
            int lanes = TL.Count;
            ref float max = ref MemoryMarshal.GetReference(rowMax);
            ref float arg = ref MemoryMarshal.GetReference(rowArg);
            ref float won = ref MemoryMarshal.GetReference(winners);
            ref float output = ref MemoryMarshal.GetArrayDataReference(p.Output);
            for (int i = 0; i < h; i++)
            {
                int lo = Math.Max(0, i - r), hi = Math.Min(h - 1, i + r);
                for (int j0 = 0; j0 < w; j0 += lanes)
                {
                    var best = TL.Load(ref max, (nuint)(lo * stride + j0));
                    var winner = TMode.Winners ? TL.Load(ref arg, (nuint)(lo * stride + j0)) : best;
                    for (int ii = lo + 1; ii <= hi; ii++)
                    {
                        var candidate = TL.Load(ref max, (nuint)(ii * stride + j0));
                        var replaces = TL.Replaces(candidate, best);
                        best = TL.Select(replaces, candidate, best);
                        if (TMode.Winners)
                        {
                            winner = TL.Select(replaces, TL.Load(ref arg, (nuint)(ii * stride + j0)), winner);
                        }
                    }

                    if (TMode.Winners)
                    {
                        TL.Store(winner, ref won, (nuint)(i * stride + j0));
                    }
                    else if (j0 + lanes <= w)
                    {
                        TL.Store(best, ref output, (nuint)(offset + i * w + j0));
                    }
                    else
                    {
                        TL.Store(best, ref MemoryMarshal.GetReference(spill), 0);
                        spill[..(w - j0)].CopyTo(p.Output.AsSpan(offset + i * w + j0, w - j0));
                    }
                }
            }
        }

        /// <summary>
        /// dx[winner] += dy, one scalar add per output in output order (as the scalar reference). A separate pass
        /// over the stored winners: reading each lane back right after its vector store would stall on store forwarding.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Scatter(Span<float> winners, int offset, int h, int w, int stride)
        {
            float[] dx = p.Output, dy = p.Gradient!;
            var plane = dx.AsSpan(offset, h * w);
            for (int i = 0; i < h; i++)
            {
                var rowWinners = winners.Slice(i * stride, w);
                var rowDy = dy.AsSpan(offset + i * w, w);
                for (int j = 0; j < rowWinners.Length; j++)
                {
                    plane[(int)rowWinners[j]] += rowDy[j];
                }
            }
        }
    }
}
