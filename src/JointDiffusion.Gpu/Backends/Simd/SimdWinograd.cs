using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using static JointDiffusion.Gpu.Backends.Simd.SimdWinogradTransforms;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// 3x3 stride-1 convolutions by Winograd's F(4x4, 3x3) (Lavin and Gray 2016) on AVX-512: forward, backward-data
/// (the forward correlation of dy with the transposed, rotated weights, as in <see cref="SimdConv2d"/>) and
/// backward-weight. Each 4x4 block of outputs costs 36 products per (input, output) channel pair instead of 144,
/// so the multiply-adds of the convolution drop 4x; the transforms add O(channels) work per tile on top.
/// </summary>
/// <remarks>
/// <para>
/// A correlation runs in two parallel passes over independent items (so the result does not depend on the thread
/// count): (1) copy the source into a zero-padded NHWC buffer with the channels rounded up to 16 (through an
/// in-register 16x16 transpose), and transform the weights, U[ξ][i][o] = (G g_oi Gᵀ)[ξ], unless
/// <see cref="SimdWinogradFilterCache"/> holds them; (2) for each block of 24 tiles, start to end while it is in cache:
/// transform the input tiles, V[t][ξ][i] = (Bᵀ d_ti B)[ξ], for each of the 36 points ξ the matrix product
/// M[·][ξ] = V[·][ξ]·U[ξ] (tiles × in × out, <see cref="SimdWinogradGemm"/>), and transform back, Y_to = Aᵀ M_to A,
/// storing the tile's outputs into the NCHW destination through the transpose. The transforms run on vectors of 16
/// channels; the products hold 6x4, 8x2 or 8x1 register blocks.
/// </para>
/// <para>
/// Backward-weight: ∂L/∂g = Gᵀ[(A δY Aᵀ) ⊙ (Bᵀ d B)]G summed over tiles, i.e. per point ξ the product
/// Mw[ξ] = V[ξ]ᵀ·Z[ξ] with Z[ξ][t][o] = (A δY_to Aᵀ)[ξ], then ∂w_oi = Gᵀ Mw_io G. The tiles go in chunks whose V and
/// Z (point-major, [ξ][t][channel]) fit in L2 together (about 1 MiB), in groups of consecutive chunks (two per core):
/// each chunk transforms its tiles and adds its share of every Mw[ξ] into its group's slice; the slices are summed in
/// group order, so the result does not depend on which thread ran which group. (Keeping V and Z for the whole batch,
/// as before, streamed them from memory: 1.2–1.4x slower, and slower than the direct kernels at 32 channels.) With at
/// most 64 tiles, 64 channels or more each way and fewer chunks than two per core, V and Z of every tile are
/// transformed at once (a few MiB at most) and the products split by point into a single slice
/// (<see cref="PointProducts"/>): the chunks' slices would cost about as much to sum as the products.
/// </para>
/// <para>
/// Accuracy: the transforms scale values by up to 8 and mix a tile's 36 inputs, so an output's rounding error follows
/// its whole tile rather than its own terms: at most ~40·u·Σ|terms| on the shapes of <c>SimdWinogradTests</c>
/// (the direct kernels' bound is 2√K·u·Σ|terms|, ~50·u at K = 576). The backend can be told to use the direct kernels
/// (<see cref="SimdBackend(bool)"/>, or <c>JOINTDIFF_WINOGRAD=0</c>).
/// </para>
/// </remarks>
internal static class SimdWinograd
{
    /// <summary>Channels per vector.</summary>
    private const int Lanes = 16;

    /// <summary>Rows of the products per work item: a multiple of both kernels' row blocks (6 and 8).</summary>
    private const int RowGroup = 24;

    private const int Points = SimdWinogradTiling.Points;

    /// <summary>
    /// Input channels per work item of the filter transform. Item i writes U[ξ][i][·] for all 36 points; with one
    /// channel per item the two cores wrote neighbouring rows and shared the cache lines between them (the arrays are
    /// not line-aligned): 30–45% slower than groups of 8 (measured, 32 and 64 channels).
    /// </summary>
    private const int FilterGroup = 8;

    private static int FilterGroups(int inChannels) => CeilDiv(inChannels, FilterGroup);

    /// <summary>
    /// Bytes of transformed input and output-gradient tiles per chunk of the weight gradient: about half of a 2 MiB
    /// L2, so that a chunk's products read them from there.
    /// </summary>
    private const int WeightGradientChunkBytes = 1 << 20;

    /// <summary>
    /// Fewest input and output channels for which a convolution (forward, backward-data, weight gradient) goes
    /// through Winograd. Below that the per-tile transforms and layout changes cost about as much as the products they
    /// save. On the Intel 2-vCPU VM of sessions 3–4 (benchmarks/RESULTS.md §6, §7), before the transform and layout work
    /// of session 5, 16-channel layers ran 0.84–1.08x the direct kernels at batch 8, so the bar was 32. On the AMD
    /// EPYC 2-vCPU VM of session 6 (§9) 16-channel layers run 1.2–2.0x the direct forward (weight gradient 0.9–1.15x),
    /// and whole ngf-16 networks 1.12–1.14x faster at batch 8 and 32 (forward + input VJP, forward + parameter
    /// gradients; 1.0x at batch 1), so it is 16. Layers of 1 or 3 channels (the first and last) stay direct.
    /// </summary>
    public const int MinChannels = 16;

    /// <summary>Whether this machine runs the Winograd kernels (they are written for AVX-512's 16-float vectors and 32 registers).</summary>
    public static bool Supported => Vector512.IsHardwareAccelerated;

    /// <summary>
    /// Fewest 4x4 output tiles (over the batch) for Winograd: with fewer, the 36 products are too small to pay for the
    /// transforms (measured: 16 tiles of 128 channels, batch 1 at 16x16, ran 0.76–0.96x the direct kernels, weight
    /// gradient 0.9x; 32 tiles of 64 channels 1.3–1.6x, weight gradient 1.3–1.6x; 64 tiles of 64 channels 1.3–1.6x).
    /// </summary>
    public const int MinTiles = 32;

    /// <summary>
    /// Whether a convolution (forward, backward-data or weight gradient) goes through Winograd when it is enabled:
    /// 3x3, at least <see cref="MinChannels"/> channels each way and <see cref="MinTiles"/> tiles of the output
    /// (<paramref name="samples"/> × <paramref name="outHeight"/> × <paramref name="outWidth"/> at this dilation).
    /// </summary>
    public static bool Applies(int kernel, int inChannels, int outChannels, int samples, int outHeight, int outWidth, int dilation) =>
        Supported && kernel == 3 && Math.Min(inChannels, outChannels) >= MinChannels
        && Tiles(samples, outHeight, outWidth, dilation) >= MinTiles;

    private static long Tiles(int samples, int outHeight, int outWidth, int dilation) =>
        outHeight <= 0 || outWidth <= 0 ? 0
            : (long)samples * SimdWinogradTiling.TileCount(outHeight, dilation) * SimdWinogradTiling.TileCount(outWidth, dilation);

    /// <summary>
    /// destination[s,o] (+)= Σ_i source[s,i] ⋆ W(o,i) + bias[o], a 3x3 stride-1 correlation at dilation
    /// <paramref name="dilation"/> with the source zero-padded by <paramref name="pad"/> (negative crops), where
    /// W(o,i) = weight[o,i] or, with <paramref name="transposedRotated"/>, weight[i,o] rotated 180°. Transformed
    /// filters are kept in <paramref name="filters"/> between calls (null: transformed on every call). With
    /// <paramref name="keepSource"/>, the source is packed into it and left there for a later <see cref="WeightGradient"/>.
    /// </summary>
    public static void Correlate(float[] source, int samples, int inChannels, int height, int width, int pad,
        float[] weight, bool transposedRotated, int outChannels, int dilation, float[]? bias, float[] destination, bool accumulate,
        SimdWinogradFilterCache? filters, SimdPackedSource? keepSource = null)
    {
        var tiling = new SimdWinogradTiling(samples, height, width, pad, dilation);
        if (tiling.OutHeight <= 0 || tiling.OutWidth <= 0)
        {
            return;
        }

        var c = new Channels(inChannels, outChannels, tiling.Tiles);
        int packedLength = samples * tiling.BufferHeight * tiling.BufferWidth * c.InPadded;
        var packed = keepSource?.Prepare(packedLength) ?? SimdScratch.RentAligned(packedLength);
        int filterLength = Points * inChannels * c.OutPadded;
        var entry = filters?.Find(weight, transposedRotated, inChannels, outChannels, filterLength);
        var u = entry?.Transformed ?? SimdScratch.RentAligned(filterLength);
        float[] biasPadded = SimdScratch.Floats.Rent(c.OutPadded);
        int[] origins = SimdScratch.Ints.Rent(tiling.RowTiles + tiling.ColumnTiles);
        try
        {
            SimdWinogradTiling.FillOrigins(tiling.OutHeight, dilation, origins.AsSpan(0, tiling.RowTiles));
            SimdWinogradTiling.FillOrigins(tiling.OutWidth, dilation, origins.AsSpan(tiling.RowTiles, tiling.ColumnTiles));
            biasPadded.AsSpan(0, c.OutPadded).Clear();
            bias?.AsSpan(0, outChannels).CopyTo(biasPadded);

            var workers = SimdWorkers.Shared;
            int rows = samples * tiling.BufferHeight;
            if (entry is null)
            {
                workers.For(rows + FilterGroups(inChannels), new PackAndFilter(source, packed, weight, transposedRotated, u, tiling, c, rows));
            }
            else
            {
                lock (entry.Gate)
                {
                    bool refresh = !entry.Holds(weight);
                    workers.For(rows + (refresh ? FilterGroups(inChannels) : 0), new PackAndFilter(source, packed, weight, transposedRotated, u, tiling, c, rows));
                    if (refresh)
                    {
                        entry.Filled(weight);
                    }
                }
            }

            // Blocks of tiles, each through every output column vector; small batches are also cut by columns so that
            // every core gets work.
            int blocks = CeilDiv(c.Tiles, RowGroup), vectors = c.OutPadded / Lanes;
            // Two items per core at least; each extra column chunk repeats its block's input transform, so no more.
            int columnChunks = Math.Clamp(CeilDiv(2 * workers.Concurrency, blocks), 1, vectors);
            workers.For(blocks * columnChunks, new TileBlocks(packed, u, biasPadded, destination, origins, tiling, c, columnChunks, accumulate));
            keepSource?.Filled(source, tiling, inChannels);
        }
        finally
        {
            SimdScratch.Ints.Return(origins);
            SimdScratch.Floats.Return(biasPadded);
            if (entry is null)
            {
                SimdScratch.Return(u);
            }

            if (keepSource is null)
            {
                SimdScratch.Return(packed);
            }
        }
    }

    /// <summary>
    /// dweight[o,i,ki,kj] (+)= Σ_s Σ_{a,b} dy[s,o,a,b]·xpad[s,i,a + ki·dil, b + kj·dil] for a 3x3 stride-1 convolution
    /// (the bias gradient is not computed here). x and dy are read from <paramref name="packedInput"/> (kept by the
    /// forward <see cref="Correlate"/>) and <paramref name="packedOutputGradient"/> (kept by the backward-data one) when
    /// those hold them, and packed here otherwise.
    /// </summary>
    public static void WeightGradient(float[] x, float[] dy, float[] dweight, int samples, int inChannels, int height, int width,
        int outChannels, int pad, int dilation, bool accumulate, SimdPackedSource? packedInput = null, SimdPackedSource? packedOutputGradient = null)
    {
        var tiling = new SimdWinogradTiling(samples, height, width, pad, dilation);
        if (tiling.OutHeight <= 0 || tiling.OutWidth <= 0)
        {
            if (!accumulate)
            {
                dweight.AsSpan(0, outChannels * inChannels * 9).Clear();
            }

            return;
        }

        var c = new Channels(inChannels, outChannels, tiling.Tiles);
        int inRows = RoundUp(inChannels, RowGroup);
        int outPlanes = samples * tiling.OutHeight * tiling.OutWidth;
        var workers = SimdWorkers.Shared;
        // Chunks of tiles whose transformed inputs and output gradients stay in L2 together, at least one per core.
        int chunkTiles = Math.Min(c.Tiles, Math.Max(RowGroup, WeightGradientChunkBytes / (4 * Points * (c.InPadded + c.OutPadded))));
        int chunks = Math.Max(CeilDiv(c.Tiles, chunkTiles), Math.Min(workers.Concurrency, CeilDiv(c.Tiles, RowGroup)));
        // Few tiles: too few chunks to keep every core busy twice over (64 tiles of 128 channels: 3 for 2 cores), and their
        // slices of partials cost about as much to sum as the products: transform every tile at once and split the
        // products by point into one slice.
        bool byPoints = c.Tiles <= PointProductsMaxTiles && Math.Min(inChannels, outChannels) >= PointProductsMinChannels
            && CeilDiv(c.Tiles, chunkTiles) < 2 * workers.Concurrency;
        // Groups of chunks, each summing into one slice of partials: two per core, so that the cores finish together.
        int groups = byPoints ? 1 : Math.Min(chunks, 2 * workers.Concurrency);
        int partialLength = Points * inRows * c.OutPadded;
        // x as the forward packed it: the same tiling. dy as backward-data packed it: the source of a correlation over the
        // output plane, padded by 2·dilation − pad (crops, when negative, are not reused).
        bool haveX = packedInput?.Holds(x, tiling, inChannels) == true;
        var dyTiling = new SimdWinogradTiling(samples, tiling.OutHeight, tiling.OutWidth, 2 * dilation - pad, dilation);
        bool haveDy = dyTiling.Pad >= 0 && packedOutputGradient?.Holds(dy, dyTiling, outChannels) == true;
        var packed = haveX ? packedInput!.Buffer : SimdScratch.RentAligned(samples * tiling.BufferHeight * tiling.BufferWidth * c.InPadded);
        var packedDy = haveDy ? packedOutputGradient!.Buffer : SimdScratch.RentAligned(outPlanes * c.OutPadded);
        var dyLayout = haveDy ? new GradientLayout(dyTiling.BufferHeight, dyTiling.BufferWidth, dyTiling.Pad)
            : new GradientLayout(tiling.OutHeight, tiling.OutWidth, 0);
        var partials = SimdScratch.RentAligned(groups * partialLength);
        int[] origins = SimdScratch.Ints.Rent(tiling.RowTiles + tiling.ColumnTiles);
        try
        {
            SimdWinogradTiling.FillOrigins(tiling.OutHeight, dilation, origins.AsSpan(0, tiling.RowTiles));
            SimdWinogradTiling.FillOrigins(tiling.OutWidth, dilation, origins.AsSpan(tiling.RowTiles, tiling.ColumnTiles));

            int rows = haveX ? 0 : samples * tiling.BufferHeight, dyRows = haveDy ? 0 : samples * tiling.OutHeight;
            workers.For(rows + dyRows, new PackBoth(x, dy, packed, packedDy, tiling, c, rows));
            if (byPoints)
            {
                PointProducts(packed, packedDy, dyLayout, partials, origins, tiling, c, inRows);
            }
            else
            {
                workers.For(groups, new ChunkProducts(packed, packedDy, dyLayout, partials, origins, tiling, c, inRows, chunks, groups));
            }

            workers.For(FilterGroups(inChannels), new FilterGradients(partials, groups, partialLength, dweight, c, inRows, accumulate));
        }
        finally
        {
            SimdScratch.Ints.Return(origins);
            SimdScratch.Return(partials);
            if (!haveDy)
            {
                SimdScratch.Return(packedDy);
            }

            if (!haveX)
            {
                SimdScratch.Return(packed);
            }
        }
    }

    /// <summary>
    /// Where the NHWC output gradient lies in its packed buffer: [sample][Height][Width][channel], output row r and
    /// column c at buffer row r + Offset and column c + Offset.
    /// </summary>
    private readonly record struct GradientLayout(int Height, int Width, int Offset);

    /// <summary>Channel counts, as given and rounded up to whole vectors, and the tile counts.</summary>
    private readonly struct Channels(int inChannels, int outChannels, int tiles)
    {
        public readonly int In = inChannels;

        public readonly int Out = outChannels;

        public readonly int Tiles = tiles;

        public readonly int InPadded = RoundUp(inChannels, Lanes);

        public readonly int OutPadded = RoundUp(outChannels, Lanes);

        /// <summary>Tiles rounded up to whole row groups; the extra rows of V are zero.</summary>
        public readonly int TilesPadded = RoundUp(tiles, RowGroup);
    }

    // ---------------------------------------------------------------- pass 1: packing and the filter transform

    /// <summary>Item &lt; rows: one row of the padded NHWC input; then the filter transform of <see cref="FilterGroup"/> input channels.</summary>
    private readonly struct PackAndFilter(float[] source, AlignedFloats packed, float[] weight, bool transposedRotated, AlignedFloats u,
        SimdWinogradTiling tiling, Channels c, int rows) : IParallelBody
    {
        public void Run(int item)
        {
            if (item < rows)
            {
                PackRow(source, packed, tiling, c.In, c.InPadded, item);
            }
            else
            {
                int first = (item - rows) * FilterGroup;
                for (int i = first; i < Math.Min(c.In, first + FilterGroup); i++)
                {
                    TransformFilters(weight, transposedRotated, u, c, i);
                }
            }
        }
    }

    /// <summary>Item &lt; rows: one row of the padded NHWC input; then one row of the NHWC output gradient.</summary>
    private readonly struct PackBoth(float[] x, float[] dy, AlignedFloats packed, AlignedFloats packedDy, SimdWinogradTiling tiling, Channels c, int rows)
        : IParallelBody
    {
        public void Run(int item)
        {
            if (item < rows)
            {
                PackRow(x, packed, tiling, c.In, c.InPadded, item);
                return;
            }

            // dy [S][Out][Ho][Wo] → [S][Ho][Wo][OutPadded], the padding channels zero.
            int r = item - rows, s = r / tiling.OutHeight, row = r % tiling.OutHeight;
            int wo = tiling.OutWidth, plane = tiling.OutHeight * wo;
            ToChannelsLast(ref dy[s * c.Out * plane + row * wo], plane, c.Out, wo, ref Unsafe.Add(ref packedDy.Start, r * wo * c.OutPadded), c.OutPadded);
        }
    }

    /// <summary>
    /// Row <paramref name="item"/> = s·BufferHeight + r of the padded NHWC buffer: source row r − pad of sample s at
    /// columns pad …, zeros elsewhere (and in the padding channels).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackRow(float[] source, in AlignedFloats packed, in SimdWinogradTiling tiling, int channels, int channelsPadded, int item)
    {
        int s = item / tiling.BufferHeight, r = item % tiling.BufferHeight;
        int rowLength = tiling.BufferWidth * channelsPadded;
        var destination = packed.Slice(item * rowLength, rowLength);
        int sourceRow = r - tiling.Pad;
        int first = Math.Max(0, tiling.Pad), end = Math.Min(tiling.PaddedWidth, tiling.Width + tiling.Pad);
        if (r >= tiling.PaddedHeight || sourceRow < 0 || sourceRow >= tiling.Height || end <= first)
        {
            destination.Clear();
            return;
        }

        // Buffer column col holds source column col − pad.
        destination[..(first * channelsPadded)].Clear();
        destination[(end * channelsPadded)..].Clear();
        int plane = tiling.Height * tiling.Width;
        ToChannelsLast(ref source[s * channels * plane + sourceRow * tiling.Width + first - tiling.Pad], plane, channels, end - first,
            ref destination[first * channelsPadded], channelsPadded);
    }

    /// <summary>
    /// destination[p·channelsPadded + ch] = source[ch·plane + p] for <paramref name="count"/> pixels p and every channel
    /// ch &lt; channelsPadded (0 past <paramref name="channels"/>): 16x16 blocks through <see cref="SimdTranspose16"/>,
    /// ragged blocks through a zeroed stack tile.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ToChannelsLast(ref float source, int plane, int channels, int count, ref float destination, int channelsPadded)
    {
        Span<float> tile = stackalloc float[2 * Lanes * Lanes];
        ref float rows = ref MemoryMarshal.GetReference(tile);
        ref float columns = ref Unsafe.Add(ref rows, Lanes * Lanes);
        for (int block = 0; block < channelsPadded; block += Lanes)
        {
            int live = Math.Min(Lanes, channels - block);
            ref float from = ref Unsafe.Add(ref source, block * plane);
            ref float to = ref Unsafe.Add(ref destination, block);
            for (int p = 0; p < count; p += Lanes)
            {
                int n = Math.Min(Lanes, count - p);
                if (live == Lanes && n == Lanes)
                {
                    SimdTranspose16.Transpose(ref Unsafe.Add(ref from, p), (nuint)plane, ref Unsafe.Add(ref to, p * channelsPadded), (nuint)channelsPadded);
                    continue;
                }

                tile[..(Lanes * Lanes)].Clear();
                for (int ch = 0; ch < live; ch++)
                {
                    MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref from, ch * plane + p), n).CopyTo(tile.Slice(ch * Lanes, n));
                }

                SimdTranspose16.Transpose(ref rows, Lanes, ref columns, Lanes);
                for (int j = 0; j < n; j++)
                {
                    Vector512.LoadUnsafe(ref columns, (nuint)(j * Lanes)).StoreUnsafe(ref to, (nuint)((p + j) * channelsPadded));
                }
            }
        }
    }

    /// <summary>
    /// U[ξ][i][o] = (G g Gᵀ)[ξ] for input channel <paramref name="i"/>, 16 output channels at a time: the 16 output
    /// channels' taps (9 contiguous floats each, in either orientation) are read as the rows of a 16x16 block straight
    /// from the weights, which <see cref="SimdTranspose16"/> turns into one vector of 16 output channels per tap.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransformFilters(float[] weight, bool transposedRotated, in AlignedFloats u, in Channels c, int i)
    {
        Span<float> tile = stackalloc float[2 * Lanes * Lanes];
        Span<Vector512<float>> half = stackalloc Vector512<float>[6 * 3];
        ref float rows = ref MemoryMarshal.GetReference(tile);
        ref float taps = ref Unsafe.Add(ref rows, Lanes * Lanes);
        ref float u0 = ref u.Start;
        nuint pointStride = (nuint)(c.In * c.OutPadded);
        // Taps of W(o, i): weight[o, i, t] or, transposed and rotated, weight[i, o, 8 − t] (reversed by Tap).
        int rowStride = transposedRotated ? 9 : c.In * 9;
        for (int block = 0; block < c.OutPadded / Lanes; block++)
        {
            int live = Math.Min(Lanes, c.Out - block * Lanes);
            int start = (transposedRotated ? i * c.Out + block * Lanes : block * Lanes * c.In + i) * 9;
            if (live == Lanes && start + (long)(Lanes - 1) * rowStride + Lanes <= weight.Length)
            {
                // Each row reads 16 floats: its 9 taps, and 7 that land in columns of the transpose never read.
                SimdTranspose16.Transpose(ref weight[start], (nuint)rowStride, ref taps, Lanes);
            }
            else
            {
                // The last block: partial, or its last row would read past the array.
                tile[..(Lanes * Lanes)].Clear();
                for (int lane = 0; lane < live; lane++)
                {
                    weight.AsSpan(start + lane * rowStride, 9).CopyTo(tile.Slice(lane * Lanes, 9));
                }

                SimdTranspose16.Transpose(ref rows, Lanes, ref taps, Lanes);
            }

            for (int kj = 0; kj < 3; kj++)
            {
                Filter(Tap(ref taps, kj, transposedRotated), Tap(ref taps, 3 + kj, transposedRotated), Tap(ref taps, 6 + kj, transposedRotated),
                    out half[kj], out half[3 + kj], out half[6 + kj], out half[9 + kj], out half[12 + kj], out half[15 + kj]);
            }

            ref float destination = ref Unsafe.Add(ref u0, i * c.OutPadded + block * Lanes);
            for (int a = 0; a < 6; a++)
            {
                Filter(half[3 * a], half[3 * a + 1], half[3 * a + 2], out var w0, out var w1, out var w2, out var w3, out var w4, out var w5);
                StoreRow(ref destination, (nuint)(6 * a) * pointStride, pointStride, w0, w1, w2, w3, w4, w5);
            }
        }
    }

    /// <summary>Tap t of the 16 output channels in the transposed block (tap 8 − t when the weights are rotated).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Tap(ref float taps, int t, bool rotated) => Vector512.LoadUnsafe(ref taps, (nuint)((rotated ? 8 - t : t) * Lanes));

    // ---------------------------------------------------------------- pass 2: tile transforms

    /// <summary>
    /// One group of consecutive chunks of tiles of the weight gradient, a chunk at a time, start to end while in L2: its
    /// input tiles transformed into V (point major, [ξ][tile][channel]), its output-gradient tiles into Z likewise, then
    /// for every point ξ the chunk's share of Mw[ξ] = V[ξ]ᵀ·Z[ξ] (a sum over its tiles) added into the group's slice of
    /// the partials (the first chunk overwrites it). The slices are summed in group order afterwards, so the result
    /// does not depend on which thread ran which group. (One slice per chunk, as before, made 37 slices of 0.66 MB at
    /// NCSNv2 ngf 64, 64x64, batch 8, written and read back: 13% of a training step.)
    /// </summary>
    private readonly struct ChunkProducts(AlignedFloats packed, AlignedFloats packedDy, GradientLayout dyLayout, AlignedFloats partials,
        int[] origins, SimdWinogradTiling tiling, Channels c, int inRows, int chunks, int groups) : IParallelBody
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int group)
        {
            int firstChunk = (int)((long)group * chunks / groups), endChunk = (int)((long)(group + 1) * chunks / groups);
            int maxTiles = CeilDiv(c.Tiles, chunks);
            var v = SimdScratch.RentAligned(Points * maxTiles * c.InPadded + RowGroup);
            var z = SimdScratch.RentAligned(Points * maxTiles * c.OutPadded);
            try
            {
                ref float v0 = ref v.Start;
                ref float z0 = ref z.Start;
                ref float mw = ref Unsafe.Add(ref partials.Start, group * Points * inRows * c.OutPadded);
                for (int chunk = firstChunk; chunk < endChunk; chunk++)
                {
                    int first = (int)((long)chunk * c.Tiles / chunks), end = (int)((long)(chunk + 1) * c.Tiles / chunks), tiles = end - first;
                    v.Slice(Points * tiles * c.InPadded, RowGroup).Clear(); // read (and dropped) by the last row block
                    TransformInputs(ref packed.Start, ref v0, (nuint)(tiles * c.InPadded), c.InPadded, origins, tiling, c, first, end);
                    TransformOutputGradients(ref packedDy.Start, dyLayout, ref z0, (nuint)(tiles * c.OutPadded), origins, tiling, c, first, end);
                    for (int xi = 0; xi < Points; xi++)
                    {
                        Multiply(ref Unsafe.Add(ref v0, xi * tiles * c.InPadded), 1, (nuint)c.InPadded, tiles,
                            ref Unsafe.Add(ref z0, xi * tiles * c.OutPadded), c.OutPadded,
                            ref Unsafe.Add(ref mw, xi * inRows * c.OutPadded), c.OutPadded, c.OutPadded, 0, c.In, accumulate: chunk > firstChunk);
                    }
                }
            }
            finally
            {
                SimdScratch.Return(z);
                SimdScratch.Return(v);
            }
        }
    }

    /// <summary>
    /// Mw[ξ] = V[ξ]ᵀ·Z[ξ] over every tile into one slice: V and Z of all tiles transformed first (items of
    /// <see cref="PointTileBlock"/> tiles), then one product per point (36 items). For few tiles, where chunks would be
    /// too few to share out and their slices would have to be summed.
    /// </summary>
    private static void PointProducts(AlignedFloats packed, AlignedFloats packedDy, GradientLayout dyLayout, AlignedFloats products,
        int[] origins, SimdWinogradTiling tiling, Channels c, int inRows)
    {
        var v = SimdScratch.RentAligned(Points * c.Tiles * c.InPadded + RowGroup);
        var z = SimdScratch.RentAligned(Points * c.Tiles * c.OutPadded);
        try
        {
            v.Slice(Points * c.Tiles * c.InPadded, RowGroup).Clear(); // read (and dropped) by the last row block
            var workers = SimdWorkers.Shared;
            workers.For(CeilDiv(c.Tiles, PointTileBlock), new TransformAllTiles(packed, packedDy, dyLayout, v, z, origins, tiling, c));
            workers.For(Points, new PointProduct(v, z, products, c, inRows));
        }
        finally
        {
            SimdScratch.Return(z);
            SimdScratch.Return(v);
        }
    }

    /// <summary>
    /// Most tiles for <see cref="PointProducts"/>. Measured against the chunks (scratch, alternating, session 6's VM;
    /// benchmarks/RESULTS.md §9): 1.17–1.38x at 128 channels and 32 or 64 tiles (the 32x32 layers of ngf 64 at 64x64,
    /// batch 1, where summing the chunks' 3 slices took a third of the call), 1.0–1.15x at 64 channels and 32 or 64
    /// tiles, but 0.93–0.95x at 64 channels and 128 tiles (ngf 32's 16x16 layers at batch 8).
    /// </summary>
    private const int PointProductsMaxTiles = 64;

    /// <summary>
    /// Fewest channels each way for <see cref="PointProducts"/>: at 16 and 32 its 36 small products ran 0.3–0.65x the
    /// chunks (32 and 64 tiles, same measurements).
    /// </summary>
    private const int PointProductsMinChannels = 64;

    /// <summary>Tiles per work item of <see cref="TransformAllTiles"/>.</summary>
    private const int PointTileBlock = 8;

    /// <summary>Item b: V and Z of tiles 8b … 8b + 7, point-major over all tiles ([ξ][t][channel]).</summary>
    private readonly struct TransformAllTiles(AlignedFloats packed, AlignedFloats packedDy, GradientLayout dyLayout, AlignedFloats v, AlignedFloats z,
        int[] origins, SimdWinogradTiling tiling, Channels c) : IParallelBody
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int item)
        {
            int first = item * PointTileBlock, end = Math.Min(c.Tiles, first + PointTileBlock);
            TransformInputs(ref packed.Start, ref Unsafe.Add(ref v.Start, first * c.InPadded), (nuint)(c.Tiles * c.InPadded), c.InPadded, origins,
                tiling, c, first, end);
            TransformOutputGradients(ref packedDy.Start, dyLayout, ref Unsafe.Add(ref z.Start, first * c.OutPadded), (nuint)(c.Tiles * c.OutPadded),
                origins, tiling, c, first, end);
        }
    }

    /// <summary>Item ξ: Mw[ξ] = V[ξ]ᵀ·Z[ξ], the sum over every tile.</summary>
    private readonly struct PointProduct(AlignedFloats v, AlignedFloats z, AlignedFloats products, Channels c, int inRows) : IParallelBody
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int xi) =>
            Multiply(ref Unsafe.Add(ref v.Start, xi * c.Tiles * c.InPadded), 1, (nuint)c.InPadded, c.Tiles,
                ref Unsafe.Add(ref z.Start, xi * c.Tiles * c.OutPadded), c.OutPadded,
                ref Unsafe.Add(ref products.Start, xi * inRows * c.OutPadded), c.OutPadded, c.OutPadded, 0, c.In);
    }

    /// <summary>
    /// Input tiles first … end − 1: (Bᵀ d_t B)[ξ] for every 16-channel block, written at
    /// destination + ξ·pointStride + (t − first)·tileStride.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransformInputs(ref float packed, ref float destination0, nuint pointStride, int tileStride, int[] origins,
        in SimdWinogradTiling tiling, in Channels c, int first, int end)
    {
        Span<Vector512<float>> half = stackalloc Vector512<float>[Points];
        int d = tiling.Dilation, bw = tiling.BufferWidth;
        nuint colStep = (nuint)(d * c.InPadded), rowStep = (nuint)(d * bw * c.InPadded);
        for (int t = first; t < end; t++)
        {
            int s = t / tiling.TilesPerSample, rem = t % tiling.TilesPerSample;
            int r0 = origins[rem / tiling.ColumnTiles], c0 = origins[tiling.RowTiles + rem % tiling.ColumnTiles];
            for (int block = 0; block < c.InPadded; block += Lanes)
            {
                ref float corner = ref Unsafe.Add(ref packed, ((s * tiling.BufferHeight + r0) * bw + c0) * c.InPadded + block);
                for (int b = 0; b < 6; b++)
                {
                    ref float column = ref Unsafe.Add(ref corner, (nuint)b * colStep);
                    Input(Vector512.LoadUnsafe(ref column), Vector512.LoadUnsafe(ref column, rowStep), Vector512.LoadUnsafe(ref column, 2 * rowStep),
                        Vector512.LoadUnsafe(ref column, 3 * rowStep), Vector512.LoadUnsafe(ref column, 4 * rowStep), Vector512.LoadUnsafe(ref column, 5 * rowStep),
                        out half[b], out half[6 + b], out half[12 + b], out half[18 + b], out half[24 + b], out half[30 + b]);
                }

                ref float destination = ref Unsafe.Add(ref destination0, (t - first) * tileStride + block);
                for (int a = 0; a < 6; a++)
                {
                    Input(half[6 * a], half[6 * a + 1], half[6 * a + 2], half[6 * a + 3], half[6 * a + 4], half[6 * a + 5],
                        out var t0, out var t1, out var t2, out var t3, out var t4, out var t5);
                    StoreRow(ref destination, (nuint)(6 * a) * pointStride, pointStride, t0, t1, t2, t3, t4, t5);
                }
            }
        }
    }

    /// <summary>
    /// Output-gradient tiles first … end − 1: (A δY_t Aᵀ)[ξ] (δY zero at outputs past the edge) for every 16-channel
    /// block, written at destination + ξ·pointStride + (t − first)·OutPadded.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransformOutputGradients(ref float packedDy, in GradientLayout layout, ref float z0, nuint pointStride, int[] origins, in SimdWinogradTiling tiling,
        in Channels c, int first, int end)
    {
        Span<Vector512<float>> grid = stackalloc Vector512<float>[16];
        Span<Vector512<float>> half = stackalloc Vector512<float>[6 * 4];
        int d = tiling.Dilation, ho = tiling.OutHeight, wo = tiling.OutWidth;
        for (int t = first; t < end; t++)
        {
            int s = t / tiling.TilesPerSample, rem = t % tiling.TilesPerSample;
            int r0 = origins[rem / tiling.ColumnTiles], c0 = origins[tiling.RowTiles + rem % tiling.ColumnTiles];
            for (int block = 0; block < c.OutPadded; block += Lanes)
            {
                for (int i = 0; i < 4; i++)
                {
                    int row = r0 + i * d;
                    for (int j = 0; j < 4; j++)
                    {
                        int col = c0 + j * d;
                        grid[4 * i + j] = row < ho && col < wo
                            ? Vector512.LoadUnsafe(ref packedDy,
                                (nuint)(((s * layout.Height + row + layout.Offset) * layout.Width + col + layout.Offset) * c.OutPadded + block))
                            : Vector512<float>.Zero;
                    }
                }

                for (int j = 0; j < 4; j++)
                {
                    OutputGradient(grid[j], grid[4 + j], grid[8 + j], grid[12 + j],
                        out half[j], out half[4 + j], out half[8 + j], out half[12 + j], out half[16 + j], out half[20 + j]);
                }

                ref float destination = ref Unsafe.Add(ref z0, (t - first) * c.OutPadded + block);
                for (int a = 0; a < 6; a++)
                {
                    OutputGradient(half[4 * a], half[4 * a + 1], half[4 * a + 2], half[4 * a + 3],
                        out var t0, out var t1, out var t2, out var t3, out var t4, out var t5);
                    StoreRow(ref destination, (nuint)(6 * a) * pointStride, pointStride, t0, t1, t2, t3, t4, t5);
                }
            }
        }
    }

    /// <summary>Stores the 6 points of one row ξ = 6a … 6a + 5 of a transformed tile, <paramref name="stride"/> apart from <paramref name="at"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(ref float destination, nuint at, nuint stride, Vector512<float> p0, Vector512<float> p1, Vector512<float> p2,
        Vector512<float> p3, Vector512<float> p4, Vector512<float> p5)
    {
        p0.StoreUnsafe(ref destination, at);
        p1.StoreUnsafe(ref destination, at + stride);
        p2.StoreUnsafe(ref destination, at + 2 * stride);
        p3.StoreUnsafe(ref destination, at + 3 * stride);
        p4.StoreUnsafe(ref destination, at + 4 * stride);
        p5.StoreUnsafe(ref destination, at + 5 * stride);
    }

    // ---------------------------------------------------------------- pass 3: the products

    /// <summary>
    /// C[r, :] = Σ_k A[r, k]·B[k, :] for rows firstRow … endRow − 1 (rounded up to the kernels' row blocks; the
    /// buffers hold those rows) and <paramref name="columns"/> columns (whole vectors): blocks of 4 vectors, then 2,
    /// then 1. B rows are <paramref name="ldb"/> apart, C rows <paramref name="ldc"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Multiply(ref float a, nuint rowStride, nuint depthStride, int depth, ref float b, int ldb, ref float product, int ldc,
        int columns, int firstRow, int endRow, bool accumulate = false)
    {
        int column = 0;
        for (; columns - column >= 4 * Lanes; column += 4 * Lanes)
        {
            for (int r = firstRow; r < endRow; r += SimdWinogradGemm.WideRows)
            {
                SimdWinogradGemm.Rows6Vectors4(ref Unsafe.Add(ref a, (nuint)r * rowStride), rowStride, depthStride, depth,
                    ref Unsafe.Add(ref b, column), (nuint)ldb, ref Unsafe.Add(ref product, r * ldc + column), (nuint)ldc, accumulate);
            }
        }

        for (; columns - column >= 2 * Lanes; column += 2 * Lanes)
        {
            for (int r = firstRow; r < endRow; r += SimdWinogradGemm.NarrowRows)
            {
                SimdWinogradGemm.Rows8Vectors2(ref Unsafe.Add(ref a, (nuint)r * rowStride), rowStride, depthStride, depth,
                    ref Unsafe.Add(ref b, column), (nuint)ldb, ref Unsafe.Add(ref product, r * ldc + column), (nuint)ldc, accumulate);
            }
        }

        for (; column < columns; column += Lanes)
        {
            for (int r = firstRow; r < endRow; r += SimdWinogradGemm.NarrowRows)
            {
                SimdWinogradGemm.Rows8Vectors1(ref Unsafe.Add(ref a, (nuint)r * rowStride), rowStride, depthStride, depth,
                    ref Unsafe.Add(ref b, column), (nuint)ldb, ref Unsafe.Add(ref product, r * ldc + column), (nuint)ldc, accumulate);
            }
        }
    }

    // ---------------------------------------------------------------- pass 4: back from the transformed domain

    /// <summary>
    /// One block of up to <see cref="RowGroup"/> tiles for one run of output channel vectors, start to end in cache:
    /// input transform (V, all input channels), the 36 products M[ξ] = V[ξ]·U[ξ] for the run's columns, and the
    /// output transform, stored into the destination planes.
    /// </summary>
    private readonly struct TileBlocks(AlignedFloats packed, AlignedFloats u, float[] bias, float[] destination, int[] origins, SimdWinogradTiling tiling,
        Channels c, int columnChunks, bool accumulate) : IParallelBody
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int item)
        {
            int blockIndex = item / columnChunks, chunk = item % columnChunks, vectors = c.OutPadded / Lanes;
            int first = blockIndex * RowGroup, end = Math.Min(c.Tiles, first + RowGroup);
            int firstColumn = chunk * vectors / columnChunks * Lanes, columns = (chunk + 1) * vectors / columnChunks * Lanes - firstColumn;
            // Tile-major blocks: a tile's 36 transformed points lie together ([tile][ξ][channel]), so each transform
            // reads or writes one contiguous run, and a product's rows are 36 points apart.
            int inTile = Points * c.InPadded, outTile = Points * columns;
            var v = SimdScratch.RentAligned(Points * RowGroup * c.InPadded);
            var m = SimdScratch.RentAligned(Points * RowGroup * columns);
            try
            {
                ref float v0 = ref v.Start;
                ref float m0 = ref m.Start;
                ref float u0 = ref u.Start;
                TransformInputs(ref packed.Start, ref v0, (nuint)c.InPadded, inTile, origins, tiling, c, first, end);
                if (end - first < RowGroup)
                {
                    // The kernels' last row block reads past the block's tiles: zeros there, not leftovers (a denormal
                    // would slow every multiply-add of its row).
                    v.Slice((end - first) * inTile, (RowGroup - (end - first)) * inTile).Clear();
                }

                for (int xi = 0; xi < Points; xi++)
                {
                    Multiply(ref Unsafe.Add(ref v0, xi * c.InPadded), (nuint)inTile, 1, c.In,
                        ref Unsafe.Add(ref u0, xi * c.In * c.OutPadded + firstColumn), c.OutPadded,
                        ref Unsafe.Add(ref m0, xi * columns), outTile, columns, 0, end - first);
                }

                StoreOutputs(ref m0, (nuint)columns, outTile, columns, first, end, firstColumn);
            }
            finally
            {
                SimdScratch.Return(m);
                SimdScratch.Return(v);
            }
        }

        /// <summary>
        /// Tiles first … end − 1: Y = Aᵀ M A + bias per 16-channel block, turned to channel-major by
        /// <see cref="SimdTranspose16"/> and written (added, with accumulate) where they exist. Four tiles side by side
        /// in one tile row (no dilation, all 16 columns inside) go together: each of their 4 pixel rows is one 16x16
        /// transpose and one 16-float store per channel (one tile at a time stored 4-float pieces, 4x the stores).
        /// </summary>
        [SkipLocalsInit]
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void StoreOutputs(ref float m0, nuint pointStride, int tileStride, int columns, int first, int end, int firstColumn)
        {
            Span<Vector512<float>> half = stackalloc Vector512<float>[4 * 6];
            Span<float> tile = stackalloc float[2 * Lanes * Lanes];
            Span<Vector512<float>> rowTiles = stackalloc Vector512<float>[4 * 4 * 4];
            ref float pixels = ref MemoryMarshal.GetReference(tile);
            ref float channels = ref Unsafe.Add(ref pixels, Lanes * Lanes);
            ref float staged = ref Unsafe.As<Vector512<float>, float>(ref MemoryMarshal.GetReference(rowTiles));
            ref float y0 = ref MemoryMarshal.GetArrayDataReference(destination);
            int d = tiling.Dilation, ho = tiling.OutHeight, wo = tiling.OutWidth, plane = ho * wo;
            for (int t = first; t < end;)
            {
                int s = t / tiling.TilesPerSample, rem = t % tiling.TilesPerSample, column = rem % tiling.ColumnTiles;
                int r0 = origins[rem / tiling.ColumnTiles], c0 = origins[tiling.RowTiles + column];
                int rows = Math.Min(4, (ho - r0 + d - 1) / d);
                if (d == 1 && t + 4 <= end && column + 4 <= tiling.ColumnTiles && c0 + 4 * 4 <= wo)
                {
                    for (int block = 0; block < columns; block += Lanes)
                    {
                        // rowTiles[(4i + q)·4 + j]: pixel row i, column 4q + j of the four tiles q.
                        for (int q = 0; q < 4; q++)
                        {
                            Transform(ref Unsafe.Add(ref m0, (t + q - first) * tileStride + block), pointStride, half, firstColumn + block, rows,
                                ref Unsafe.Add(ref staged, 4 * q * Lanes), 16 * Lanes);
                        }

                        int channel0 = firstColumn + block, live = Math.Min(Lanes, c.Out - channel0);
                        for (int i = 0; i < rows; i++)
                        {
                            SimdTranspose16.Transpose(ref Unsafe.Add(ref staged, 16 * i * Lanes), Lanes, ref channels, Lanes);
                            ref float row = ref Unsafe.Add(ref y0, (s * c.Out + channel0) * plane + (r0 + i) * wo + c0);
                            for (int k = 0; k < live; k++)
                            {
                                ref float to = ref Unsafe.Add(ref row, k * plane);
                                var v = Vector512.LoadUnsafe(ref channels, (nuint)(k * Lanes));
                                (accumulate ? v + Vector512.LoadUnsafe(ref to) : v).StoreUnsafe(ref to);
                            }
                        }
                    }

                    t += 4;
                    continue;
                }

                int cols = Math.Min(4, (wo - c0 + d - 1) / d);
                for (int block = 0; block < columns; block += Lanes)
                {
                    Transform(ref Unsafe.Add(ref m0, (t - first) * tileStride + block), pointStride, half, firstColumn + block, rows, ref pixels, 4 * Lanes);

                    // Rows past the edge were not written: their columns of the transpose are never stored.
                    SimdTranspose16.Transpose(ref pixels, Lanes, ref channels, Lanes);
                    int channel0 = firstColumn + block, live = Math.Min(Lanes, c.Out - channel0);
                    for (int k = 0; k < live; k++)
                    {
                        ref float outPlane = ref Unsafe.Add(ref y0, (s * c.Out + channel0 + k) * plane + r0 * wo + c0);
                        ref float values = ref Unsafe.Add(ref channels, k * Lanes);
                        for (int i = 0; i < rows; i++)
                        {
                            ref float row = ref Unsafe.Add(ref outPlane, i * d * wo);
                            if (d == 1 && cols == 4)
                            {
                                var v = Vector128.LoadUnsafe(ref values, (nuint)(4 * i));
                                (accumulate ? v + Vector128.LoadUnsafe(ref row) : v).StoreUnsafe(ref row);
                                continue;
                            }

                            for (int j = 0; j < cols; j++)
                            {
                                ref float y = ref Unsafe.Add(ref row, j * d);
                                float value = Unsafe.Add(ref values, 4 * i + j);
                                y = accumulate ? y + value : value;
                            }
                        }
                    }
                }

                t++;
            }
        }

        /// <summary>
        /// One tile's Y = Aᵀ M A + bias for the 16 channels from <paramref name="channel0"/>: pixel (i, j) of its first
        /// <paramref name="rows"/> rows, 16 channels, to target + i·rowStride + 16j.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Transform(ref float source, nuint pointStride, Span<Vector512<float>> half, int channel0, int rows, ref float target, int rowStride)
        {
            for (int b = 0; b < 6; b++)
            {
                nuint at = (nuint)b * pointStride;
                Output(Vector512.LoadUnsafe(ref source, at), Vector512.LoadUnsafe(ref source, at + 6 * pointStride),
                    Vector512.LoadUnsafe(ref source, at + 12 * pointStride), Vector512.LoadUnsafe(ref source, at + 18 * pointStride),
                    Vector512.LoadUnsafe(ref source, at + 24 * pointStride), Vector512.LoadUnsafe(ref source, at + 30 * pointStride),
                    out half[b], out half[6 + b], out half[12 + b], out half[18 + b]);
            }

            var biasVector = Vector512.LoadUnsafe(ref bias[channel0]);
            for (int i = 0; i < rows; i++)
            {
                Output(half[6 * i], half[6 * i + 1], half[6 * i + 2], half[6 * i + 3], half[6 * i + 4], half[6 * i + 5],
                    out var v0, out var v1, out var v2, out var v3);
                ref float row = ref Unsafe.Add(ref target, i * rowStride);
                (v0 + biasVector).StoreUnsafe(ref row);
                (v1 + biasVector).StoreUnsafe(ref row, Lanes);
                (v2 + biasVector).StoreUnsafe(ref row, 2 * Lanes);
                (v3 + biasVector).StoreUnsafe(ref row, 3 * Lanes);
            }
        }
    }

    /// <summary>
    /// dweight[o, i, ·, ·] (+)= Gᵀ Mw_io G for the input channels i of one group of <see cref="FilterGroup"/> (item
    /// i writes runs of 9 floats next to those of i ± 1), 16 output channels at a time, Mw being the sum of the
    /// <paramref name="slices"/> partial slices (added in order).
    /// </summary>
    private readonly struct FilterGradients(AlignedFloats partials, int slices, int partialLength, float[] dweight, Channels c, int inRows, bool accumulate)
        : IParallelBody
    {
        public void Run(int group)
        {
            for (int i = group * FilterGroup; i < Math.Min(c.In, (group + 1) * FilterGroup); i++)
            {
                Channel(i);
            }
        }

        [SkipLocalsInit]
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Channel(int i)
        {
            Span<Vector512<float>> half = stackalloc Vector512<float>[3 * 6];
            Span<float> lanes = stackalloc float[2 * Lanes * Lanes];
            Span<Vector512<float>> m = stackalloc Vector512<float>[Points];
            ref float m0 = ref partials.Start;
            nuint pointStride = (nuint)(inRows * c.OutPadded);
            for (int block = 0; block < c.OutPadded; block += Lanes)
            {
                for (int slice = 0; slice < slices; slice++)
                {
                    ref float source = ref Unsafe.Add(ref m0, slice * partialLength + i * c.OutPadded + block);
                    for (int xi = 0; xi < Points; xi++)
                    {
                        var value = Vector512.LoadUnsafe(ref source, (nuint)xi * pointStride);
                        m[xi] = slice == 0 ? value : m[xi] + value;
                    }
                }

                for (int b = 0; b < 6; b++)
                {
                    FilterGradient(m[b], m[6 + b], m[12 + b], m[18 + b], m[24 + b], m[30 + b], out half[b], out half[6 + b], out half[12 + b]);
                }

                ref float taps = ref MemoryMarshal.GetReference(lanes);
                for (int ki = 0; ki < 3; ki++)
                {
                    FilterGradient(half[6 * ki], half[6 * ki + 1], half[6 * ki + 2], half[6 * ki + 3], half[6 * ki + 4], half[6 * ki + 5],
                        out var g0, out var g1, out var g2);
                    g0.StoreUnsafe(ref taps, (nuint)((3 * ki) * Lanes));
                    g1.StoreUnsafe(ref taps, (nuint)((3 * ki + 1) * Lanes));
                    g2.StoreUnsafe(ref taps, (nuint)((3 * ki + 2) * Lanes));
                }

                // Rows 0…8 hold tap t of 16 output channels; after the transpose, row k holds output channel block + k's 9
                // taps (and 7 values never read).
                ref float filters = ref Unsafe.Add(ref taps, Lanes * Lanes);
                SimdTranspose16.Transpose(ref taps, Lanes, ref filters, Lanes);
                int channels = Math.Min(Lanes, c.Out - block);
                for (int k = 0; k < channels; k++)
                {
                    ref float row = ref dweight[((block + k) * c.In + i) * 9];
                    var first = Vector256.LoadUnsafe(ref filters, (nuint)(k * Lanes));
                    float last = Unsafe.Add(ref filters, k * Lanes + 8);
                    if (accumulate)
                    {
                        first += Vector256.LoadUnsafe(ref row);
                        last += Unsafe.Add(ref row, 8);
                    }

                    first.StoreUnsafe(ref row);
                    Unsafe.Add(ref row, 8) = last;
                }
            }
        }
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    private static int CeilDiv(int a, int b) => (a + b - 1) / b;
}
