using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// The direct (non-Winograd) stride-1 conv weight gradient on AVX-512 with the output channels in the vector lanes:
/// dW[o, e] = Σ_s Σ_{a,b} dy[s,o,a,b] · xpad[s, i, a + ki·dil, b + kj·dil] for every (input channel, tap) pair
/// e = i·k² + ki·k + kj, as outer products dy[s,·,a,b] ⊗ xpad[s,·] summed over the pixels.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="SimdConvKernels.WeightGradient6{TL, TV}"/> puts pixels in the lanes, so every 4×6 block of outputs ends in
/// 24 horizontal sums; with few pixels per sample (16 vectors at 16x16) those sums and the block's set-up cost as much
/// as its multiply-adds (51% of the FMA peak at batch 1, 128 channels, 16x16, against 82% for the forward;
/// benchmarks/RESULTS.md §9). Here dy is first transposed to [sample][pixel][output channel] (channels rounded up to
/// 16), and a register block holds 9 pairs × 32 output channels (18 vectors): per pixel, two dy vectors and 9
/// broadcast x values, 18 multiply-adds, no horizontal sum ever. The pixels go in chunks whose dy block stays in L1
/// while a work item's pair groups run through it; the accumulators are saved between chunks (18 stores and loads per
/// chunk and group, against 18 multiply-adds per pixel). The finished sums go to dW through 16x16 transposes, one run
/// of whole vectors per output channel; the bias sums come from the transposed dy rows while they are in cache.
/// </para>
/// <para>
/// Each accumulator lane sums its pixels in order, samples first to last, rows top to bottom: the result does not
/// depend on the thread count. Used when there are at least <see cref="MinOutChannels"/> output channels (fewer would
/// leave most lanes of a block empty) and AVX-512 is there; otherwise the lane-reduction kernels run.
/// </para>
/// </remarks>
internal static class SimdConvWeightGradient
{
    /// <summary>Output channels per vector.</summary>
    private const int Lanes = 16;

    /// <summary>(input channel, tap) pairs per register block: one input channel of a 3x3 kernel.</summary>
    private const int Pairs = 9;

    /// <summary>Bytes of dy per pixel chunk and channel block: about half of a 48 KiB L1, shared by a work item's pair groups.</summary>
    private const int ChunkBytes = 24 * 1024;

    /// <summary>Most pair groups per work item (their saved accumulators, 1,152 B each, stay in L1 beside the dy chunk).</summary>
    private const int MaxGroupsPerItem = 8;

    /// <summary>Floats per staged output-channel row of the store: a work item's pairs and a transpose's 7 extra columns.</summary>
    private const int StagedRow = MaxGroupsPerItem * Pairs + Lanes - Pairs;

    /// <summary>Work items per core a loop aims for, so the cores finish together.</summary>
    private const int ItemsPerCore = 4;

    /// <summary>Fewest output channels for this kernel: one whole vector of them.</summary>
    public const int MinOutChannels = Lanes;

    /// <summary>Whether this kernel computes the weight gradient of a convolution with these output channels and plane.</summary>
    public static bool Applies(int outChannels, int outHeight, int outWidth) =>
        Vector512.IsHardwareAccelerated && outChannels >= MinOutChannels && outHeight > 0 && outWidth > 0;

    /// <summary>
    /// dweight[o,i,ki,kj] (+)= Σ_s Σ_{a,b} dy[s,o,a,b]·xpad[s,i,a + ki·dil, b + kj·dil] and, unless it is null, dbias[o] (+)=
    /// Σ dy[s,o]. Requires <see cref="Applies"/>.
    /// </summary>
    public static void Run(float[] x, float[] dy, float[] dweight, float[]? dbias,
        int n, int cin, int h, int w, int cout, int k, int pad, int dil, bool accumulate)
    {
        var geo = new SimdConvGeometry(h, w, pad, k, dil, Lanes);
        int outPlane = geo.OutHeight * geo.OutWidth;
        int outPadded = RoundUp(cout, Lanes), taps = cin * k * k;
        var workers = SimdWorkers.Shared;
        // Unpadded x is read in place (1x1 convs): its planes already are the padded planes.
        bool inPlace = pad == 0;
        int padItems = inPlace ? 0 : n * cin, transposeItems = n * (outPadded / Lanes);
        float[] padded = inPlace ? x : SimdScratch.Floats.Rent(Math.Max(1, padItems * geo.PlaneStride));
        var dyT = SimdScratch.RentAligned(n * outPlane * outPadded);
        // Σ_p dy[s,o,p] per sample, from the transposed rows while they are in cache; summed over samples below.
        double[] sampleSums = SimdScratch.Doubles.Rent(dbias is null ? 0 : n * outPadded);
        int groups = CeilDiv(taps, Pairs);
        int[] offsets = SimdScratch.Ints.Rent(groups * Pairs);
        try
        {
            workers.For(padItems + transposeItems, new Prologue(x, dy, padded, dyT, dbias is null ? null : sampleSums, geo, h, w, cout, outPadded, padItems));
            if (dbias is not null)
            {
                for (int o = 0; o < cout; o++)
                {
                    double sum = 0;
                    for (int sample = 0; sample < n; sample++)
                    {
                        sum += sampleSums[sample * outPadded + o];
                    }

                    dbias[o] = (float)(accumulate ? dbias[o] + sum : sum);
                }
            }

            for (int e = 0; e < groups * Pairs; e++)
            {
                int t = Math.Min(e, taps - 1); // an edge group repeats the last pair; its sums are dropped
                int i = t / (k * k), tap = t % (k * k);
                offsets[e] = i * geo.PlaneStride + tap / k * dil * geo.PaddedWidth + tap % k * dil;
            }

            int blocks = CeilDiv(outPadded, 2 * Lanes);
            int perItem = Math.Clamp(groups * blocks / (ItemsPerCore * workers.Concurrency), 1, MaxGroupsPerItem);
            int groupChunks = CeilDiv(groups, perItem);
            workers.For(blocks * groupChunks, new Chunk(padded, dyT, offsets, dweight, geo, n, cin, cout, outPadded, taps, groups,
                groupChunks, perItem, accumulate));
        }
        finally
        {
            SimdScratch.Ints.Return(offsets);
            SimdScratch.Doubles.Return(sampleSums);
            SimdScratch.Return(dyT);
            if (!inPlace)
            {
                SimdScratch.Floats.Return(padded);
            }
        }
    }

    /// <summary>
    /// Item i of the first pass: below padItems, pad x plane i; then transpose one 16-channel block of one sample's dy to
    /// [pixel][channel] (zeros for channels past the end) and, when asked, sum its pixels per channel.
    /// </summary>
    private readonly struct Prologue(float[] x, float[] dy, float[] padded, AlignedFloats dyT, double[]? sampleSums, SimdConvGeometry geo,
        int h, int w, int cout, int outPadded, int padItems) : IParallelBody
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int item)
        {
            if (item < padItems)
            {
                geo.PadPlane(x.AsSpan(item * h * w, h * w), padded.AsSpan(item * geo.PlaneStride, geo.PlaneStride));
                return;
            }

            int outPlane = geo.OutHeight * geo.OutWidth;
            int blocksPerSample = outPadded / Lanes, st = item - padItems;
            int s = st / blocksPerSample, o0 = st % blocksPerSample * Lanes;
            ref float rows = ref Unsafe.Add(ref dyT.Start, s * outPlane * outPadded + o0);
            Transpose(dy, s, o0, cout, outPlane, outPadded, ref rows);
            if (sampleSums is not null)
            {
                // Four partial vectors, then their lanes in double: as SimdConv2d.Sum's vector lanes in float.
                Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
                int p = 0;
                for (; p + 4 <= outPlane; p += 4)
                {
                    s0 += Vector512.LoadUnsafe(ref rows, (nuint)(p * outPadded));
                    s1 += Vector512.LoadUnsafe(ref rows, (nuint)((p + 1) * outPadded));
                    s2 += Vector512.LoadUnsafe(ref rows, (nuint)((p + 2) * outPadded));
                    s3 += Vector512.LoadUnsafe(ref rows, (nuint)((p + 3) * outPadded));
                }

                for (; p < outPlane; p++)
                {
                    s0 += Vector512.LoadUnsafe(ref rows, (nuint)(p * outPadded));
                }

                var total = (s0 + s1) + (s2 + s3);
                for (int c = 0; c < Lanes; c++)
                {
                    sampleSums[s * outPadded + o0 + c] = total[c];
                }
            }
        }

        /// <summary>rows[p·outPadded + c] = dy[s][o0 + c][p] for c &lt; 16 (0 past the last channel), 16x16 blocks through registers.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Transpose(float[] dy, int s, int o0, int cout, int outPlane, int outPadded, ref float rows)
        {
            ref float source = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(dy), (s * cout + o0) * outPlane);
            int channels = Math.Min(Lanes, cout - o0), p = 0;
            if (channels == Lanes)
            {
                for (; p + Lanes <= outPlane; p += Lanes)
                {
                    SimdTranspose16.Transpose(ref Unsafe.Add(ref source, p), (nuint)outPlane, ref Unsafe.Add(ref rows, p * outPadded), (nuint)outPadded);
                }
            }

            for (; p < outPlane; p++)
            {
                ref float row = ref Unsafe.Add(ref rows, p * outPadded);
                for (int c = 0; c < Lanes; c++)
                {
                    Unsafe.Add(ref row, c) = c < channels ? Unsafe.Add(ref source, c * outPlane + p) : 0f;
                }
            }
        }
    }

    /// <summary>
    /// One work item: output channels 32·block … 32·block + 31 (16 in a last odd block) against pair groups
    /// [chunk·perItem, …), over every pixel chunk of every sample.
    /// </summary>
    private readonly struct Chunk(float[] padded, AlignedFloats dyT, int[] offsets, float[] dweight, SimdConvGeometry geo, int n, int cin,
        int cout, int outPadded, int taps, int groups, int groupChunks, int perItem, bool accumulate) : IParallelBody
    {
        [SkipLocalsInit]
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int item)
        {
            int block = item / groupChunks, chunk = item % groupChunks;
            int o0 = block * 2 * Lanes, vectors = Math.Min(2, (outPadded - o0) / Lanes);
            int g0 = chunk * perItem, g1 = Math.Min(groups, g0 + perItem);
            int outH = geo.OutHeight, outW = geo.OutWidth, outPlane = outH * outW;
            int blockFloats = Pairs * vectors * Lanes;
            // The transposes of the store read 16 pair rows from the last group's 9: 7 rows of slack.
            Span<float> sums = stackalloc float[(MaxGroupsPerItem * Pairs + Lanes - Pairs) * 2 * Lanes];
            ref float acc = ref MemoryMarshal.GetReference(sums);
            ref float x0 = ref MemoryMarshal.GetArrayDataReference(padded);
            ref int pairs = ref MemoryMarshal.GetArrayDataReference(offsets);
            int rowsPerChunk = Math.Clamp(ChunkBytes / (outW * vectors * Lanes * sizeof(float)), 1, outH);
            int sampleStride = cin * geo.PlaneStride;
            bool first = true;
            for (int s = 0; s < n; s++)
            {
                for (int a = 0; a < outH; a += rowsPerChunk)
                {
                    int rows = Math.Min(rowsPerChunk, outH - a);
                    ref float xs = ref Unsafe.Add(ref x0, s * sampleStride + a * geo.PaddedWidth);
                    ref float d = ref Unsafe.Add(ref dyT.Start, (s * outPlane + a * outW) * outPadded + o0);
                    for (int g = g0; g < g1; g++)
                    {
                        ref float blockSums = ref Unsafe.Add(ref acc, (g - g0) * blockFloats);
                        ref int pair = ref Unsafe.Add(ref pairs, g * Pairs);
                        if (vectors == 2)
                        {
                            Block2x9(ref xs, rows, outW, geo.PaddedWidth, ref d, (nuint)outPadded, ref pair, ref blockSums, first);
                        }
                        else
                        {
                            Block1x9(ref xs, rows, outW, geo.PaddedWidth, ref d, (nuint)outPadded, ref pair, ref blockSums, first);
                        }
                    }

                    first = false;
                }
            }

            // Through 16x16 transposes into rows of dW order, staged[c][e − e0] (each group's 9 pairs, then 7 floats that
            // the next group overwrites), then one run of whole vectors per output channel.
            int channels = Math.Min(vectors * Lanes, cout - o0), e0 = g0 * Pairs, count = Math.Min(taps, g1 * Pairs) - e0;
            Span<float> staged = stackalloc float[2 * Lanes * StagedRow];
            ref float stagedRows = ref MemoryMarshal.GetReference(staged);
            for (int g = g0; g < g1; g++)
            {
                for (int v = 0; v < vectors; v++)
                {
                    // Rows u = 0…15 of vector v: pairs 9…15 are the next group's sums or the slack, dropped or overwritten.
                    SimdTranspose16.Transpose(ref Unsafe.Add(ref acc, (g - g0) * blockFloats + v * Lanes), (nuint)(vectors * Lanes),
                        ref Unsafe.Add(ref stagedRows, v * Lanes * StagedRow + (g - g0) * Pairs), StagedRow);
                }
            }

            for (int c = 0; c < channels; c++)
            {
                var row = dweight.AsSpan((o0 + c) * taps + e0, count);
                var from = staged.Slice(c * StagedRow, count);
                if (accumulate)
                {
                    Add(from, row);
                }
                else
                {
                    from.CopyTo(row);
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Add(ReadOnlySpan<float> from, Span<float> to)
        {
            int i = 0;
            for (; i + Lanes <= to.Length; i += Lanes)
            {
                (Vector512.Create(from.Slice(i, Lanes)) + Vector512.Create(to.Slice(i, Lanes))).CopyTo(to.Slice(i, Lanes));
            }

            for (; i < to.Length; i++)
            {
                to[i] += from[i];
            }
        }
    }

    /// <summary>
    /// sums[u][v] (+)= Σ_pixels dy[p][16v … 16v+15] · x[p + pair[u]] for 9 pairs u and 2 vectors v, over
    /// <paramref name="rows"/> rows of <paramref name="width"/> pixels: x row r starts at r·rowStride, dy pixels follow
    /// one another <paramref name="pixelStride"/> floats apart. With <paramref name="first"/> the sums start at 0.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block2x9(ref float x, int rows, int width, int rowStride, ref float dy, nuint pixelStride, ref int pair,
        ref float sums, bool first)
    {
        const int L = Lanes;
        Vector512<float> a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51, a60, a61, a70, a71, a80, a81;
        if (first)
        {
            a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = a40 = a41 = a50 = a51 = a60 = a61 = a70 = a71 = a80 = a81 = Vector512<float>.Zero;
        }
        else
        {
            a00 = Vector512.LoadUnsafe(ref sums, 0 * L);
            a01 = Vector512.LoadUnsafe(ref sums, 1 * L);
            a10 = Vector512.LoadUnsafe(ref sums, 2 * L);
            a11 = Vector512.LoadUnsafe(ref sums, 3 * L);
            a20 = Vector512.LoadUnsafe(ref sums, 4 * L);
            a21 = Vector512.LoadUnsafe(ref sums, 5 * L);
            a30 = Vector512.LoadUnsafe(ref sums, 6 * L);
            a31 = Vector512.LoadUnsafe(ref sums, 7 * L);
            a40 = Vector512.LoadUnsafe(ref sums, 8 * L);
            a41 = Vector512.LoadUnsafe(ref sums, 9 * L);
            a50 = Vector512.LoadUnsafe(ref sums, 10 * L);
            a51 = Vector512.LoadUnsafe(ref sums, 11 * L);
            a60 = Vector512.LoadUnsafe(ref sums, 12 * L);
            a61 = Vector512.LoadUnsafe(ref sums, 13 * L);
            a70 = Vector512.LoadUnsafe(ref sums, 14 * L);
            a71 = Vector512.LoadUnsafe(ref sums, 15 * L);
            a80 = Vector512.LoadUnsafe(ref sums, 16 * L);
            a81 = Vector512.LoadUnsafe(ref sums, 17 * L);
        }

        nint p0 = Unsafe.Add(ref pair, 0), p1 = Unsafe.Add(ref pair, 1), p2 = Unsafe.Add(ref pair, 2);
        nint p3 = Unsafe.Add(ref pair, 3), p4 = Unsafe.Add(ref pair, 4), p5 = Unsafe.Add(ref pair, 5);
        nint p6 = Unsafe.Add(ref pair, 6), p7 = Unsafe.Add(ref pair, 7), p8 = Unsafe.Add(ref pair, 8);
        for (int r = 0; r < rows; r++)
        {
            ref float xp = ref Unsafe.Add(ref x, r * rowStride);
            for (int b = 0; b < width; b++)
            {
                var d0 = Vector512.LoadUnsafe(ref dy);
                var d1 = Vector512.LoadUnsafe(ref dy, L);
                dy = ref Unsafe.Add(ref dy, pixelStride);
                var v = Vector512.Create(Unsafe.Add(ref xp, p0));
                a00 = Vector512.FusedMultiplyAdd(d0, v, a00);
                a01 = Vector512.FusedMultiplyAdd(d1, v, a01);
                v = Vector512.Create(Unsafe.Add(ref xp, p1));
                a10 = Vector512.FusedMultiplyAdd(d0, v, a10);
                a11 = Vector512.FusedMultiplyAdd(d1, v, a11);
                v = Vector512.Create(Unsafe.Add(ref xp, p2));
                a20 = Vector512.FusedMultiplyAdd(d0, v, a20);
                a21 = Vector512.FusedMultiplyAdd(d1, v, a21);
                v = Vector512.Create(Unsafe.Add(ref xp, p3));
                a30 = Vector512.FusedMultiplyAdd(d0, v, a30);
                a31 = Vector512.FusedMultiplyAdd(d1, v, a31);
                v = Vector512.Create(Unsafe.Add(ref xp, p4));
                a40 = Vector512.FusedMultiplyAdd(d0, v, a40);
                a41 = Vector512.FusedMultiplyAdd(d1, v, a41);
                v = Vector512.Create(Unsafe.Add(ref xp, p5));
                a50 = Vector512.FusedMultiplyAdd(d0, v, a50);
                a51 = Vector512.FusedMultiplyAdd(d1, v, a51);
                v = Vector512.Create(Unsafe.Add(ref xp, p6));
                a60 = Vector512.FusedMultiplyAdd(d0, v, a60);
                a61 = Vector512.FusedMultiplyAdd(d1, v, a61);
                v = Vector512.Create(Unsafe.Add(ref xp, p7));
                a70 = Vector512.FusedMultiplyAdd(d0, v, a70);
                a71 = Vector512.FusedMultiplyAdd(d1, v, a71);
                v = Vector512.Create(Unsafe.Add(ref xp, p8));
                a80 = Vector512.FusedMultiplyAdd(d0, v, a80);
                a81 = Vector512.FusedMultiplyAdd(d1, v, a81);
                xp = ref Unsafe.Add(ref xp, 1);
            }
        }

        a00.StoreUnsafe(ref sums, 0 * L);
        a01.StoreUnsafe(ref sums, 1 * L);
        a10.StoreUnsafe(ref sums, 2 * L);
        a11.StoreUnsafe(ref sums, 3 * L);
        a20.StoreUnsafe(ref sums, 4 * L);
        a21.StoreUnsafe(ref sums, 5 * L);
        a30.StoreUnsafe(ref sums, 6 * L);
        a31.StoreUnsafe(ref sums, 7 * L);
        a40.StoreUnsafe(ref sums, 8 * L);
        a41.StoreUnsafe(ref sums, 9 * L);
        a50.StoreUnsafe(ref sums, 10 * L);
        a51.StoreUnsafe(ref sums, 11 * L);
        a60.StoreUnsafe(ref sums, 12 * L);
        a61.StoreUnsafe(ref sums, 13 * L);
        a70.StoreUnsafe(ref sums, 14 * L);
        a71.StoreUnsafe(ref sums, 15 * L);
        a80.StoreUnsafe(ref sums, 16 * L);
        a81.StoreUnsafe(ref sums, 17 * L);
    }

    /// <summary>As <see cref="Block2x9"/> for one vector of output channels (the last 16 when their count is an odd number of vectors).</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block1x9(ref float x, int rows, int width, int rowStride, ref float dy, nuint pixelStride, ref int pair,
        ref float sums, bool first)
    {
        const int L = Lanes;
        Vector512<float> a0, a1, a2, a3, a4, a5, a6, a7, a8;
        if (first)
        {
            a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = Vector512<float>.Zero;
        }
        else
        {
            a0 = Vector512.LoadUnsafe(ref sums, 0 * L);
            a1 = Vector512.LoadUnsafe(ref sums, 1 * L);
            a2 = Vector512.LoadUnsafe(ref sums, 2 * L);
            a3 = Vector512.LoadUnsafe(ref sums, 3 * L);
            a4 = Vector512.LoadUnsafe(ref sums, 4 * L);
            a5 = Vector512.LoadUnsafe(ref sums, 5 * L);
            a6 = Vector512.LoadUnsafe(ref sums, 6 * L);
            a7 = Vector512.LoadUnsafe(ref sums, 7 * L);
            a8 = Vector512.LoadUnsafe(ref sums, 8 * L);
        }

        nint p0 = Unsafe.Add(ref pair, 0), p1 = Unsafe.Add(ref pair, 1), p2 = Unsafe.Add(ref pair, 2);
        nint p3 = Unsafe.Add(ref pair, 3), p4 = Unsafe.Add(ref pair, 4), p5 = Unsafe.Add(ref pair, 5);
        nint p6 = Unsafe.Add(ref pair, 6), p7 = Unsafe.Add(ref pair, 7), p8 = Unsafe.Add(ref pair, 8);
        for (int r = 0; r < rows; r++)
        {
            ref float xp = ref Unsafe.Add(ref x, r * rowStride);
            for (int b = 0; b < width; b++)
            {
                var d = Vector512.LoadUnsafe(ref dy);
                dy = ref Unsafe.Add(ref dy, pixelStride);
                a0 = Vector512.FusedMultiplyAdd(d, Vector512.Create(Unsafe.Add(ref xp, p0)), a0);
                a1 = Vector512.FusedMultiplyAdd(d, Vector512.Create(Unsafe.Add(ref xp, p1)), a1);
                a2 = Vector512.FusedMultiplyAdd(d, Vector512.Create(Unsafe.Add(ref xp, p2)), a2);
                a3 = Vector512.FusedMultiplyAdd(d, Vector512.Create(Unsafe.Add(ref xp, p3)), a3);
                a4 = Vector512.FusedMultiplyAdd(d, Vector512.Create(Unsafe.Add(ref xp, p4)), a4);
                a5 = Vector512.FusedMultiplyAdd(d, Vector512.Create(Unsafe.Add(ref xp, p5)), a5);
                a6 = Vector512.FusedMultiplyAdd(d, Vector512.Create(Unsafe.Add(ref xp, p6)), a6);
                a7 = Vector512.FusedMultiplyAdd(d, Vector512.Create(Unsafe.Add(ref xp, p7)), a7);
                a8 = Vector512.FusedMultiplyAdd(d, Vector512.Create(Unsafe.Add(ref xp, p8)), a8);
                xp = ref Unsafe.Add(ref xp, 1);
            }
        }

        a0.StoreUnsafe(ref sums, 0 * L);
        a1.StoreUnsafe(ref sums, 1 * L);
        a2.StoreUnsafe(ref sums, 2 * L);
        a3.StoreUnsafe(ref sums, 3 * L);
        a4.StoreUnsafe(ref sums, 4 * L);
        a5.StoreUnsafe(ref sums, 5 * L);
        a6.StoreUnsafe(ref sums, 6 * L);
        a7.StoreUnsafe(ref sums, 7 * L);
        a8.StoreUnsafe(ref sums, 8 * L);
    }

    private static int RoundUp(int value, int multiple) => CeilDiv(value, multiple) * multiple;

    private static int CeilDiv(int a, int b) => (a + b - 1) / b;
}
