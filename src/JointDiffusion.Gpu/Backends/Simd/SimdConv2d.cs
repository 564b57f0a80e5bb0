using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// Register-blocked, vectorised, multithreaded stride-1 conv2d for the SIMD backend. Arrays are NCHW
/// row-major: x [n,cin,h,w], weight [cout,cin,k,k], y [n,cout,ho,wo] with ho = h + 2·pad − dil·(k−1). Given
/// <c>filters</c> (forward, backward-data) or <c>winograd</c> (weight gradient), wide 3x3 layers go to
/// <see cref="SimdWinograd"/> instead (<see cref="SimdWinograd.Applies"/>); these are the direct kernels. On AVX-512 the
/// direct weight gradient of a layer with 16 or more output channels is <see cref="SimdConvWeightGradient"/>'s, and 1x1
/// unpadded forward and backward-data passes are <see cref="SimdConv1x1"/>'s.
/// </summary>
/// <remarks>
/// Every op first copies its spatial operand into zero-padded planes (<see cref="SimdConvGeometry"/>) so the
/// micro-kernels (<see cref="SimdConvKernels"/>) run without bounds checks or edge cases; edge tiles are
/// computed in full and only their real outputs are stored. Backward-data is the forward kernel applied to dy
/// padded by dil·(k−1) − pad with the weights transposed and rotated 180°:
/// dx[ci,i,j] = Σ_co Σ_ki,kj dy[co, i + pad − ki·dil, j + pad − kj·dil] · w[co,ci,ki,kj], and with
/// ki' = k−1−ki that is a correlation of dy with w[co,ci,k−1−ki',k−1−kj'] at padding dil·(k−1) − pad (a
/// negative padding crops); the kernels read those weights in place. Scratch comes from
/// <see cref="SimdScratch"/>.
/// </remarks>
internal static class SimdConv2d
{
    private const int ChannelTile = SimdConvKernels.ChannelTile;

    /// <summary>Work items per core a parallel loop aims for, so the cores finish together.</summary>
    private const int ItemsPerCore = 8;

    /// <summary>y = conv(x, weight) + bias.</summary>
    public static void Forward(float[] x, float[] weight, float[]? bias, float[] y,
        int n, int cin, int h, int w, int cout, int k, int pad, int dil, SimdWinogradFilterCache? filters = null, SimdPackedSource? keepInput = null)
    {
        if (SimdConv1x1.Applies(k, pad))
        {
            SimdConv1x1.Forward(x, weight, bias, y, n, cin, cout, h * w);
            return;
        }

        if (filters is not null && SimdWinograd.Applies(k, cin, cout, n, h + 2 * pad - dil * (k - 1), w + 2 * pad - dil * (k - 1), dil))
        {
            SimdWinograd.Correlate(x, n, cin, h, w, pad, weight, transposedRotated: false, cout, dil, bias, y, accumulate: false, filters, keepInput);
            return;
        }

        var problem = new Correlation(x, n, cin, h, w, pad, weight, WeightOrder.Forward, cout, k, dil, bias, y, Accumulate: false);
        if (Vector512.IsHardwareAccelerated)
        {
            Correlate<SimdConvLanes512, Vector512<float>>(problem, wideTiles: true);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Correlate<SimdConvLanes256, Vector256<float>>(problem, wideTiles: false);
        }
        else
        {
            Correlate<SimdConvLanes128, Vector128<float>>(problem, wideTiles: AdvSimd.Arm64.IsSupported);
        }
    }

    /// <summary>dx (+)= convᵀ(dy, weight).</summary>
    public static void BackwardData(float[] dy, float[] weight, float[] dx,
        int n, int cin, int h, int w, int cout, int k, int pad, int dil, bool accumulate, SimdWinogradFilterCache? filters = null,
        SimdPackedSource? keepOutputGradient = null)
    {
        int reach = dil * (k - 1);
        int ho = h + 2 * pad - reach, wo = w + 2 * pad - reach;
        if (SimdConv1x1.Applies(k, pad))
        {
            SimdConv1x1.BackwardData(dy, weight, dx, n, cin, cout, h * w, accumulate);
            return;
        }

        if (filters is not null && SimdWinograd.Applies(k, cout, cin, n, h, w, dil))
        {
            SimdWinograd.Correlate(dy, n, cout, ho, wo, reach - pad, weight, transposedRotated: true, cin, dil, null, dx, accumulate, filters,
                keepOutputGradient);
            return;
        }

        var problem = new Correlation(dy, n, cout, ho, wo, reach - pad, weight, WeightOrder.TransposedRotated, cin, k, dil, null, dx, accumulate);
        if (Vector512.IsHardwareAccelerated)
        {
            Correlate<SimdConvLanes512, Vector512<float>>(problem, wideTiles: true);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Correlate<SimdConvLanes256, Vector256<float>>(problem, wideTiles: false);
        }
        else
        {
            Correlate<SimdConvLanes128, Vector128<float>>(problem, wideTiles: AdvSimd.Arm64.IsSupported);
        }
    }

    /// <summary>
    /// dweight (+)= Σ dy ⊗ patches(x); dbias (+)= Σ dy. Either may be null. Through Winograd, x and dy as packed by the
    /// forward and backward-data passes into <paramref name="packedInput"/> and <paramref name="packedOutputGradient"/>
    /// are reused when those still hold them.
    /// </summary>
    public static void BackwardWeight(float[] x, float[] dy, float[]? dweight, float[]? dbias,
        int n, int cin, int h, int w, int cout, int k, int pad, int dil, bool accumulate, bool winograd = false,
        SimdPackedSource? packedInput = null, SimdPackedSource? packedOutputGradient = null)
    {
        if (winograd && dweight is not null
            && SimdWinograd.Applies(k, cin, cout, n, h + 2 * pad - dil * (k - 1), w + 2 * pad - dil * (k - 1), dil))
        {
            SimdWinograd.WeightGradient(x, dy, dweight, n, cin, h, w, cout, pad, dil, accumulate, packedInput, packedOutputGradient);
            dweight = null; // the bias sum, if asked for, still comes from the direct pass below
            if (dbias is null)
            {
                return;
            }
        }

        if (dweight is not null && SimdConvWeightGradient.Applies(cout, h + 2 * pad - dil * (k - 1), w + 2 * pad - dil * (k - 1)))
        {
            SimdConvWeightGradient.Run(x, dy, dweight, dbias, n, cin, h, w, cout, k, pad, dil, accumulate);
        }
        else if (Vector512.IsHardwareAccelerated)
        {
            WeightGradient<SimdConvLanes512, Vector512<float>>(x, dy, dweight, dbias, n, cin, h, w, cout, k, pad, dil, accumulate, wideTiles: true);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            WeightGradient<SimdConvLanes256, Vector256<float>>(x, dy, dweight, dbias, n, cin, h, w, cout, k, pad, dil, accumulate, wideTiles: false);
        }
        else
        {
            WeightGradient<SimdConvLanes128, Vector128<float>>(x, dy, dweight, dbias, n, cin, h, w, cout, k, pad, dil, accumulate, wideTiles: AdvSimd.Arm64.IsSupported);
        }
    }

    // ---------------------------------------------------------------- forward and backward-data

    /// <summary>How the [outer,inner,k,k] weight array maps to the correlation's (output, input) channels.</summary>
    private enum WeightOrder
    {
        /// <summary>weight[output, input, ki, kj].</summary>
        Forward,

        /// <summary>weight[input, output, k−1−ki, k−1−kj] (backward-data).</summary>
        TransposedRotated,
    }

    /// <summary>
    /// destination[s,o] (+)= Σ_i source[s,i] ⋆ W(o,i) + bias[o]: a stride-1 cross-correlation with the source
    /// zero-padded by <paramref name="Pad"/> (negative crops).
    /// </summary>
    private readonly record struct Correlation(float[] Source, int Samples, int InChannels, int Height, int Width, int Pad,
        float[] Weight, WeightOrder Order, int OutChannels, int Kernel, int Dilation, float[]? Bias, float[] Destination, bool Accumulate);

    private static void Correlate<TL, TV>(Correlation p, bool wideTiles)
        where TL : struct, ISimdConvLanes<TV>
        where TV : struct
    {
        int lanes = TL.Count, tileVectors = wideTiles ? 6 : 3;
        int k2 = p.Kernel * p.Kernel, taps = p.InChannels * k2;
        var geo = new SimdConvGeometry(p.Height, p.Width, p.Pad, p.Kernel, p.Dilation, lanes);
        int planes = p.Samples * p.InChannels, channelTiles = CeilDiv(p.OutChannels, ChannelTile);

        // The kernels read the 4 channels' weights in place at a fixed stride; only a ragged channel count
        // needs a copy with zero channels appended.
        int paddedOut = channelTiles * ChannelTile;
        float[]? zeroPadded = paddedOut == p.OutChannels ? null : SimdScratch.Floats.Rent(paddedOut * taps);
        float[] padded = SimdScratch.Floats.Rent(geo.BufferLength(planes));
        int[] pairs = SimdScratch.Ints.Rent(2 * taps);
        int[] vectorTable = SimdScratch.Ints.Rent(2 * geo.VectorCount);
        try
        {
            float[] weights = zeroPadded ?? p.Weight;
            if (zeroPadded is not null)
            {
                PadWeightChannels(p, paddedOut, zeroPadded);
            }

            // Forward: weight[o][i][t], so channel o's weights are a row of `taps` floats.
            // Backward-data: weight[i][o][k²−1−t], so channel o is k² floats further on.
            int channelStride = p.Order == WeightOrder.Forward ? taps : k2;
            for (int i = 0; i < p.InChannels; i++)
            {
                for (int t = 0; t < k2; t++)
                {
                    int e = i * k2 + t;
                    pairs[2 * e] = TapOffset(geo, i, t, p.Kernel, p.Dilation);
                    pairs[2 * e + 1] = p.Order == WeightOrder.Forward ? e : i * paddedOut * k2 + k2 - 1 - t;
                }
            }

            geo.FillVectorTable(vectorTable);
            PadPlanes(p.Source, planes, p.Height * p.Width, geo, padded);

            // Pixel tiles run over the vectors of all samples in a row, so only the batch's last tile is ragged.
            // Items go pixel chunk by pixel chunk, each chunk through every channel tile, so a chunk's input stays
            // in cache while the weights pass over it.
            int vectors = p.Samples * geo.VectorCount, samplePlanes = p.InChannels * geo.PlaneStride;
            int pixelTiles = CeilDiv(vectors, tileVectors);
            int chunks = Math.Min(Math.Max(CeilDiv(ItemsPerCore * SimdWorkers.Shared.Concurrency, channelTiles), p.Samples), pixelTiles);
            SimdWorkers.Shared.For(chunks * channelTiles, new CorrelateChunk<TL, TV>(p, geo, padded, weights, pairs, vectorTable,
                channelStride, taps, channelTiles, chunks, pixelTiles, vectors, samplePlanes, tileVectors, wideTiles));
        }
        finally
        {
            SimdScratch.Ints.Return(vectorTable);
            SimdScratch.Ints.Return(pairs);
            SimdScratch.Floats.Return(padded);
            if (zeroPadded is not null)
            {
                SimdScratch.Floats.Return(zeroPadded);
            }
        }
    }

    /// <summary>One work item of <see cref="Correlate"/>: a chunk of pixel tiles through one 4-channel tile.</summary>
    private readonly struct CorrelateChunk<TL, TV>(Correlation p, SimdConvGeometry geo, float[] padded, float[] weights, int[] pairs,
        int[] vectorTable, int channelStride, int taps, int channelTiles, int chunks, int pixelTiles, int vectors, int samplePlanes,
        int tileVectors, bool wideTiles) : IParallelBody
        where TL : struct, ISimdConvLanes<TV>
        where TV : struct
    {
        // Optimised at once (see SimdConvKernels): on one core the tiering thread would wait behind this loop.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int item)
        {
            int lanes = TL.Count;
            int chunk = item / channelTiles, channelTile = item % channelTiles;
            Span<float> tile = stackalloc float[ChannelTile * 6 * lanes];
            Span<nuint> starts = stackalloc nuint[6];
            var tapPairs = new ReadOnlySpan<int>(pairs, 0, 2 * taps);
            ref float input = ref MemoryMarshal.GetArrayDataReference(padded);
            ref float w = ref weights[channelTile * ChannelTile * channelStride];
            for (int pt = chunk * pixelTiles / chunks, end = (chunk + 1) * pixelTiles / chunks; pt < end; pt++)
            {
                int first = pt * tileVectors, count = Math.Min(tileVectors, vectors - first);

                // The widest kernel that the tile fills; a partly filled one repeats the last vector.
                int width = wideTiles ? (count >= 5 ? 6 : count == 4 ? 4 : 3) : 3;
                int s = first / geo.VectorCount, t = first - s * geo.VectorCount;
                for (int u = 0; u < width; u++)
                {
                    starts[u] = (nuint)(s * samplePlanes + vectorTable[2 * t]);
                    if (u + 1 < count && ++t == geo.VectorCount)
                    {
                        (s, t) = (s + 1, 0);
                    }
                }

                switch (width)
                {
                    case 6:
                        SimdConvKernels.Forward6<TL, TV>(ref input, ref w, (nuint)channelStride, tapPairs,
                            starts[0], starts[1], starts[2], starts[3], starts[4], starts[5], tile);
                        break;
                    case 4:
                        SimdConvKernels.Forward4<TL, TV>(ref input, ref w, (nuint)channelStride, tapPairs,
                            starts[0], starts[1], starts[2], starts[3], tile);
                        break;
                    default:
                        SimdConvKernels.Forward3<TL, TV>(ref input, ref w, (nuint)channelStride, tapPairs,
                            starts[0], starts[1], starts[2], tile);
                        break;
                }

                StoreTile<TL, TV>(p, geo, vectorTable, tile, width, count, first, channelTile);
            }
        }
    }

    /// <summary>
    /// Copies the weights with the correlation's output channels padded with zeros to
    /// <paramref name="paddedOut"/>: [paddedOut][in][k²] for forward, [in][paddedOut][k²] for backward-data.
    /// </summary>
    private static void PadWeightChannels(in Correlation p, int paddedOut, float[] destination)
    {
        int k2 = p.Kernel * p.Kernel, taps = p.InChannels * k2;
        if (p.Order == WeightOrder.Forward)
        {
            p.Weight.AsSpan(0, p.OutChannels * taps).CopyTo(destination);
            destination.AsSpan(p.OutChannels * taps, (paddedOut - p.OutChannels) * taps).Clear();
            return;
        }

        for (int i = 0; i < p.InChannels; i++)
        {
            p.Weight.AsSpan(i * p.OutChannels * k2, p.OutChannels * k2).CopyTo(destination.AsSpan(i * paddedOut * k2));
            destination.AsSpan((i * paddedOut + p.OutChannels) * k2, (paddedOut - p.OutChannels) * k2).Clear();
        }
    }

    /// <summary>
    /// Writes the real outputs of a computed tile ([channel][vector][lane]) for vectors first … first+count−1
    /// of the batch: destination = (destination if accumulating) + tile + bias. A vector that is a whole
    /// stretch of an output row (<see cref="SimdConvGeometry.FillVectorTable"/>) is one vector load/add/store
    /// per channel; others go run by run.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void StoreTile<TL, TV>(in Correlation p, in SimdConvGeometry geo, int[] vectorTable, ReadOnlySpan<float> tile,
        int tileVectors, int count, int first, int channelTile)
        where TL : struct, ISimdConvLanes<TV>
        where TV : struct
    {
        int lanes = TL.Count, outPlane = geo.OutHeight * geo.OutWidth;
        int channels = Math.Min(ChannelTile, p.OutChannels - channelTile * ChannelTile);
        ref float source = ref MemoryMarshal.GetReference(tile);
        ref float destination = ref MemoryMarshal.GetArrayDataReference(p.Destination);
        int s = first / geo.VectorCount, t = first - s * geo.VectorCount;
        for (int u = 0; u < count; u++, t++)
        {
            if (t == geo.VectorCount)
            {
                (s, t) = (s + 1, 0);
            }

            int whole = vectorTable[2 * t + 1];
            for (int c = 0; c < channels; c++)
            {
                int o = channelTile * ChannelTile + c;
                float bias = p.Bias?[o] ?? 0f;
                int plane = (s * p.OutChannels + o) * outPlane;
                int lane0 = (c * tileVectors + u) * lanes;
                if (whole >= 0)
                {
                    nuint at = (nuint)(plane + whole);
                    var v = TL.Add(TL.Load(ref source, (nuint)lane0), TL.Broadcast(bias));
                    TL.Store(p.Accumulate ? TL.Add(v, TL.Load(ref destination, at)) : v, ref destination, at);
                }
                else
                {
                    var store = new TileStore
                    {
                        Plane = p.Destination.AsSpan(plane, outPlane),
                        Lanes = tile.Slice(lane0, lanes),
                        Bias = bias,
                        Accumulate = p.Accumulate,
                    };
                    geo.ForEachRun(t, ref store);
                }
            }
        }
    }

    /// <summary>Writes a tile vector's real outputs: plane = (plane if accumulating) + lanes + bias.</summary>
    private ref struct TileStore : SimdConvGeometry.IVectorRun
    {
        public Span<float> Plane;
        public ReadOnlySpan<float> Lanes;
        public float Bias;
        public bool Accumulate;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int lane, int output, int length)
        {
            var source = Lanes.Slice(lane, length);
            var destination = Plane.Slice(output, length);
            int i = 0;
            var bias = new Vector<float>(Bias);
            for (; i <= length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var v = new Vector<float>(source[i..]) + bias;
                (Accumulate ? v + new Vector<float>(destination[i..]) : v).CopyTo(destination[i..]);
            }

            for (; i < length; i++)
            {
                float v = source[i] + Bias;
                destination[i] = Accumulate ? destination[i] + v : v;
            }
        }
    }

    // ---------------------------------------------------------------- backward-weight

    /// <summary>
    /// dW[o,i,ki,kj] = Σ_s Σ_{a,b} dy[s,o,a,b] · xpad[s,i,a + ki·dil, b + kj·dil] and db[o] = Σ_s Σ_{a,b} dy[s,o,a,b].
    /// dy is repacked per 4-channel tile into the geometry's pixel vectors (zeros on dropped lanes), so the kernel
    /// sums whole vectors; work is split over (channel tile, group of (input channel, tap) pairs), so no two
    /// workers write the same output.
    /// </summary>
    private static void WeightGradient<TL, TV>(float[] x, float[] dy, float[]? dweight, float[]? dbias,
        int n, int cin, int h, int w, int cout, int k, int pad, int dil, bool accumulate, bool wideTiles)
        where TL : struct, ISimdConvLanes<TV>
        where TV : struct
    {
        int lanes = TL.Count, pairsPerTile = wideTiles ? 6 : 3;
        int k2 = k * k, taps = cin * k2;
        var geo = new SimdConvGeometry(h, w, pad, k, dil, lanes);
        int vectors = geo.VectorCount, outPlane = geo.OutHeight * geo.OutWidth;
        int channelTiles = CeilDiv(cout, ChannelTile);
        int dyTileLength = vectors * ChannelTile * lanes;

        float[] padded = SimdScratch.Floats.Rent(geo.BufferLength(n * cin));
        float[] dyTiles = SimdScratch.Floats.Rent(n * channelTiles * dyTileLength);
        int groups = CeilDiv(taps, pairsPerTile);
        int[] offsets = SimdScratch.Ints.Rent(groups * pairsPerTile);
        int[] starts = SimdScratch.Ints.Rent(vectors);
        int[] vectorTable = SimdScratch.Ints.Rent(2 * vectors);
        try
        {
            geo.FillVectorTable(vectorTable);
            // Padded x, packed dy and the bias sums are independent: one parallel pass.
            int padItems = dweight is null ? 0 : n * cin, packItems = dweight is null ? 0 : n * channelTiles;
            int biasItems = dbias is null ? 0 : cout;
            if (padItems > 0)
            {
                padded.AsSpan(n * cin * geo.PlaneStride, geo.Slack).Clear();
            }

            SimdWorkers.Shared.For(padItems + packItems + biasItems, new WeightGradientPrologue(x, dy, dbias, padded, dyTiles, geo, vectorTable,
                n, h, w, cout, channelTiles, outPlane, dyTileLength, padItems, packItems, accumulate));

            if (dweight is null)
            {
                return;
            }

            TapOffsets(geo, cin, k, dil, offsets);
            for (int e = taps; e < groups * pairsPerTile; e++)
            {
                offsets[e] = offsets[taps - 1]; // an edge group repeats the last pair; its sums are dropped
            }

            for (int t = 0; t < vectors; t++)
            {
                starts[t] = geo.VectorStart(t);
            }

            // Items take a run of groups each, so the per-item cost is paid a few times per core, not per group.
            int groupChunks = Math.Min(groups, CeilDiv(ItemsPerCore * SimdWorkers.Shared.Concurrency, channelTiles));
            SimdWorkers.Shared.For(channelTiles * groupChunks, new WeightGradientChunk<TL, TV>(padded, dyTiles, offsets, starts, dweight,
                n, cin, cout, taps, vectors, groups, groupChunks, channelTiles, dyTileLength, geo.PlaneStride, pairsPerTile, accumulate, wideTiles));
        }
        finally
        {
            SimdScratch.Ints.Return(vectorTable);
            SimdScratch.Ints.Return(starts);
            SimdScratch.Ints.Return(offsets);
            SimdScratch.Floats.Return(dyTiles);
            SimdScratch.Floats.Return(padded);
        }
    }

    /// <summary>
    /// Item i of the backward-weight's first pass: below padItems, pad x plane i; then pack dy of one (sample, channel
    /// tile); then the bias sum of one output channel.
    /// </summary>
    private readonly struct WeightGradientPrologue(float[] x, float[] dy, float[]? dbias, float[] padded, float[] dyTiles, SimdConvGeometry geo,
        int[] vectorTable, int n, int h, int w, int cout, int channelTiles, int outPlane, int dyTileLength, int padItems, int packItems,
        bool accumulate) : IParallelBody
    {
        public void Run(int item)
        {
            if (item < padItems)
            {
                geo.PadPlane(x.AsSpan(item * h * w, h * w), padded.AsSpan(item * geo.PlaneStride, geo.PlaneStride));
            }
            else if (item < padItems + packItems)
            {
                int st = item - padItems, s = st / channelTiles, channelTile = st % channelTiles;
                PackOutputGradient(dy, s, channelTile, cout, outPlane, geo, vectorTable, dyTiles.AsSpan(st * dyTileLength, dyTileLength));
            }
            else
            {
                int o = item - padItems - packItems;
                double sum = 0;
                for (int s = 0; s < n; s++)
                {
                    sum += Sum(dy.AsSpan((s * cout + o) * outPlane, outPlane));
                }

                dbias![o] = (float)(accumulate ? dbias[o] + sum : sum);
            }
        }
    }

    /// <summary>One work item of the weight gradient: a run of (input channel, tap) pair groups for one 4-channel tile.</summary>
    private readonly struct WeightGradientChunk<TL, TV>(float[] padded, float[] dyTiles, int[] offsets, int[] starts, float[] dweight,
        int n, int cin, int cout, int taps, int vectors, int groups, int groupChunks, int channelTiles, int dyTileLength, int planeStride,
        int pairsPerTile, bool accumulate, bool wideTiles) : IParallelBody
        where TL : struct, ISimdConvLanes<TV>
        where TV : struct
    {
        // Optimised at once, as the forward's chunks.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int item)
        {
            int channelTile = item / groupChunks, chunk = item % groupChunks;
            Span<float> sums = stackalloc float[ChannelTile * 6];
            ref float x0 = ref MemoryMarshal.GetArrayDataReference(padded);
            ref float d0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(dyTiles), channelTile * dyTileLength);
            var vectorStarts = new ReadOnlySpan<int>(starts, 0, vectors);
            int sampleStride = cin * planeStride, dySampleStride = channelTiles * dyTileLength;
            int channels = Math.Min(ChannelTile, cout - channelTile * ChannelTile);
            for (int g = chunk * groups / groupChunks, end = (chunk + 1) * groups / groupChunks; g < end; g++)
            {
                int e0 = g * pairsPerTile;
                var pair = offsets.AsSpan(e0, pairsPerTile);
                if (wideTiles)
                {
                    SimdConvKernels.WeightGradient6<TL, TV>(ref x0, sampleStride, ref d0, dySampleStride, n, vectorStarts,
                        (nuint)pair[0], (nuint)pair[1], (nuint)pair[2], (nuint)pair[3], (nuint)pair[4], (nuint)pair[5], sums);
                }
                else
                {
                    SimdConvKernels.WeightGradient3<TL, TV>(ref x0, sampleStride, ref d0, dySampleStride, n, vectorStarts,
                        (nuint)pair[0], (nuint)pair[1], (nuint)pair[2], sums);
                }

                int count = Math.Min(pairsPerTile, taps - e0);
                for (int c = 0; c < channels; c++)
                {
                    var row = dweight.AsSpan((channelTile * ChannelTile + c) * taps + e0, count);
                    for (int u = 0; u < count; u++)
                    {
                        float gradient = sums[u * ChannelTile + c]; // sums are [pair][channel]
                        row[u] = accumulate ? row[u] + gradient : gradient;
                    }
                }
            }
        }
    }

    /// <summary>
    /// dy of sample s, channels 4·tile … 4·tile+3, as [vector][channel][lane] in the geometry's vector order,
    /// zeros on lanes that are not outputs and for channels past the end.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackOutputGradient(float[] dy, int s, int channelTile, int cout, int outPlane,
        in SimdConvGeometry geo, int[] vectorTable, Span<float> packed)
    {
        int lanes = geo.Lanes;
        for (int c = 0; c < ChannelTile; c++)
        {
            int o = channelTile * ChannelTile + c;
            if (o >= cout)
            {
                for (int t = 0; t < geo.VectorCount; t++)
                {
                    packed.Slice((t * ChannelTile + c) * lanes, lanes).Clear();
                }

                continue;
            }

            var plane = dy.AsSpan((s * cout + o) * outPlane, outPlane);
            var gather = new VectorGather { Plane = plane };
            for (int t = 0; t < geo.VectorCount; t++)
            {
                var lanesOut = packed.Slice((t * ChannelTile + c) * lanes, lanes);
                int whole = vectorTable[2 * t + 1];
                if (whole >= 0)
                {
                    plane.Slice(whole, lanes).CopyTo(lanesOut);
                }
                else
                {
                    lanesOut.Clear();
                    gather.Lanes = lanesOut;
                    geo.ForEachRun(t, ref gather);
                }
            }
        }
    }

    /// <summary>Copies a vector's real outputs from a plane into its lanes.</summary>
    private ref struct VectorGather : SimdConvGeometry.IVectorRun
    {
        public ReadOnlySpan<float> Plane;
        public Span<float> Lanes;

        public readonly void Run(int lane, int output, int length) => Plane.Slice(output, length).CopyTo(Lanes.Slice(lane, length));
    }

    // ---------------------------------------------------------------- shared

    /// <summary>Copies planes [H,W] into zero-padded planes, in parallel, and zeroes the slack after them.</summary>
    private static void PadPlanes(float[] source, int planes, int planeLength, SimdConvGeometry geo, float[] padded)
    {
        padded.AsSpan(planes * geo.PlaneStride, geo.Slack).Clear();
        SimdWorkers.Shared.For(planes, new PadPlane(source, planeLength, geo, padded));
    }

    /// <summary>Copies plane i of the source into its zero-padded slot.</summary>
    private readonly struct PadPlane(float[] source, int planeLength, SimdConvGeometry geo, float[] padded) : IParallelBody
    {
        public void Run(int plane) =>
            geo.PadPlane(source.AsSpan(plane * planeLength, planeLength), padded.AsSpan(plane * geo.PlaneStride, geo.PlaneStride));
    }

    /// <summary>offsets[i·k² + t] = <see cref="TapOffset"/>(i, t) for every input channel and tap.</summary>
    private static void TapOffsets(in SimdConvGeometry geo, int channels, int k, int dil, int[] offsets)
    {
        for (int e = 0; e < channels * k * k; e++)
        {
            offsets[e] = TapOffset(geo, e / (k * k), e % (k * k), k, dil);
        }
    }

    /// <summary>Where tap t = ki·k + kj of input channel i reads, from a vector's start: i·Hp·Wp + ki·dil·Wp + kj·dil.</summary>
    private static int TapOffset(in SimdConvGeometry geo, int i, int t, int k, int dil) =>
        i * geo.PlaneStride + t / k * dil * geo.PaddedWidth + t % k * dil;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double Sum(ReadOnlySpan<float> values)
    {
        var acc = Vector<float>.Zero;
        int i = 0;
        for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
        {
            acc += new Vector<float>(values[i..]);
        }

        double sum = Vector.Sum(acc);
        for (; i < values.Length; i++)
        {
            sum += values[i];
        }

        return sum;
    }

    private static int CeilDiv(int a, int b) => (a + b - 1) / b;
}
