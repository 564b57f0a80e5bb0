using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// Register-blocked, vectorised, multithreaded stride-1 conv2d for the SIMD backend. Arrays are NCHW
/// row-major: x [n,cin,h,w], weight [cout,cin,k,k], y [n,cout,ho,wo] with ho = h + 2·pad − dil·(k−1).
/// </summary>
/// <remarks>
/// Every op first copies its spatial operand into zero-padded planes (<see cref="SimdConvGeometry"/>) so the
/// micro-kernels (<see cref="SimdConvKernels"/>) run without bounds checks or edge cases; edge tiles are
/// computed in full and only their real outputs are stored. Backward-data is the forward kernel applied to dy
/// padded by dil·(k−1) − pad with the weights transposed to [cin,cout,k,k] and rotated 180°:
/// dx[ci,i,j] = Σ_co Σ_ki,kj dy[co, i + pad − ki·dil, j + pad − kj·dil] · w[co,ci,ki,kj], and with
/// ki' = k−1−ki that is a correlation of dy with w[co,ci,k−1−ki',k−1−kj'] at padding dil·(k−1) − pad (a
/// negative padding crops). Scratch comes from <see cref="ArrayPool{T}.Shared"/>.
/// </remarks>
internal static class SimdConv2d
{
    private const int ChannelTile = SimdConvKernels.ChannelTile;

    /// <summary>Work items per core a parallel loop aims for, so the cores finish together.</summary>
    private const int ItemsPerCore = 8;

    /// <summary>y = conv(x, weight) + bias.</summary>
    public static void Forward(float[] x, float[] weight, float[]? bias, float[] y,
        int n, int cin, int h, int w, int cout, int k, int pad, int dil)
    {
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
        int n, int cin, int h, int w, int cout, int k, int pad, int dil, bool accumulate)
    {
        int reach = dil * (k - 1);
        int ho = h + 2 * pad - reach, wo = w + 2 * pad - reach;
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

    /// <summary>dweight (+)= Σ dy ⊗ patches(x); dbias (+)= Σ dy. Either may be null.</summary>
    public static void BackwardWeight(float[] x, float[] dy, float[]? dweight, float[]? dbias,
        int n, int cin, int h, int w, int cout, int k, int pad, int dil, bool accumulate)
    {
        if (Vector512.IsHardwareAccelerated)
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

    /// <summary>Per-worker scratch: the current channel tile's packed weights and one output tile.</summary>
    private sealed class CorrelationScratch(int packedLength, int tileLength)
    {
        public float[] Packed { get; } = ArrayPool<float>.Shared.Rent(packedLength);

        public float[] Tile { get; } = ArrayPool<float>.Shared.Rent(tileLength);

        /// <summary>The output-channel tile <see cref="Packed"/> holds, or −1.</summary>
        public int PackedTile { get; set; } = -1;

        public void Return()
        {
            ArrayPool<float>.Shared.Return(Packed);
            ArrayPool<float>.Shared.Return(Tile);
        }
    }

    private static void Correlate<TL, TV>(Correlation p, bool wideTiles)
        where TL : struct, ISimdConvLanes<TV>
        where TV : struct
    {
        int lanes = TL.Count, tileVectors = wideTiles ? 6 : 3;
        int k2 = p.Kernel * p.Kernel, taps = p.InChannels * k2;
        var geo = new SimdConvGeometry(p.Height, p.Width, p.Pad, p.Kernel, p.Dilation, lanes);
        int planes = p.Samples * p.InChannels, planeStride = geo.PlaneStride;
        int outPlane = geo.OutHeight * geo.OutWidth, samplePlanes = p.InChannels * planeStride;

        float[] padded = ArrayPool<float>.Shared.Rent(geo.BufferLength(planes));
        int[] offsets = ArrayPool<int>.Shared.Rent(taps);
        try
        {
            PadPlanes(p.Source, planes, p.Height * p.Width, geo, padded);
            TapOffsets(geo, p.InChannels, p.Kernel, p.Dilation, offsets);

            int channelTiles = (p.OutChannels + ChannelTile - 1) / ChannelTile;
            int pixelTiles = (geo.VectorCount + tileVectors - 1) / tileVectors;
            int chunks = Math.Clamp(CeilDiv(ItemsPerCore * Environment.ProcessorCount, channelTiles * p.Samples), 1, pixelTiles);
            int tileLength = ChannelTile * tileVectors * lanes;

            // Items run channel tile by channel tile, so a worker usually finds its packed weights ready.
            Parallel.For(0, channelTiles * p.Samples * chunks,
                () => new CorrelationScratch(taps * ChannelTile, tileLength),
                (item, _, scratch) =>
                {
                    int channelTile = item / (p.Samples * chunks), rest = item % (p.Samples * chunks);
                    int s = rest / chunks, chunk = rest % chunks;
                    if (scratch.PackedTile != channelTile)
                    {
                        PackWeights(p, channelTile, taps, scratch.Packed);
                        scratch.PackedTile = channelTile;
                    }

                    var tile = scratch.Tile.AsSpan(0, tileLength);
                    var tapOffsets = new ReadOnlySpan<int>(offsets, 0, taps);
                    ref float input = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(padded), s * samplePlanes);
                    ref float weights = ref MemoryMarshal.GetArrayDataReference(scratch.Packed);
                    int last = geo.VectorCount - 1;
                    for (int pt = chunk * pixelTiles / chunks, end = (chunk + 1) * pixelTiles / chunks; pt < end; pt++)
                    {
                        int t0 = pt * tileVectors;
                        if (wideTiles)
                        {
                            SimdConvKernels.Forward6<TL, TV>(ref input, tapOffsets, ref weights,
                                Start(geo, t0, last), Start(geo, t0 + 1, last), Start(geo, t0 + 2, last),
                                Start(geo, t0 + 3, last), Start(geo, t0 + 4, last), Start(geo, t0 + 5, last), tile);
                        }
                        else
                        {
                            SimdConvKernels.Forward3<TL, TV>(ref input, tapOffsets, ref weights,
                                Start(geo, t0, last), Start(geo, t0 + 1, last), Start(geo, t0 + 2, last), tile);
                        }

                        for (int c = 0; c < ChannelTile; c++)
                        {
                            int o = channelTile * ChannelTile + c;
                            if (o >= p.OutChannels)
                            {
                                break;
                            }

                            var store = new TileStore
                            {
                                Plane = p.Destination.AsSpan((s * p.OutChannels + o) * outPlane, outPlane),
                                Bias = p.Bias?[o] ?? 0f,
                                Accumulate = p.Accumulate,
                            };
                            for (int u = 0; u < tileVectors && t0 + u <= last; u++)
                            {
                                store.Lanes = tile.Slice((c * tileVectors + u) * lanes, lanes);
                                geo.ForEachRun(t0 + u, ref store);
                            }
                        }
                    }

                    return scratch;
                },
                scratch => scratch.Return());
        }
        finally
        {
            ArrayPool<int>.Shared.Return(offsets);
            ArrayPool<float>.Shared.Return(padded);
        }
    }

    /// <summary>
    /// Flat padded offset of vector t's first output; vectors past the last one (an edge tile) repeat the
    /// last, so they read valid memory and their results are dropped.
    /// </summary>
    private static nuint Start(in SimdConvGeometry geo, int t, int last) => (nuint)geo.VectorStart(Math.Min(t, last));

    /// <summary>
    /// Packs W(o, e) for the 4 output channels of a tile as [e][4] (e = input channel·k² + tap), zeros for
    /// channels past the end, so the kernel broadcasts 4 consecutive floats per step.
    /// </summary>
    private static void PackWeights(in Correlation p, int channelTile, int taps, float[] packed)
    {
        int k2 = p.Kernel * p.Kernel;
        for (int c = 0; c < ChannelTile; c++)
        {
            int o = channelTile * ChannelTile + c;
            if (o >= p.OutChannels)
            {
                for (int e = 0; e < taps; e++)
                {
                    packed[e * ChannelTile + c] = 0f;
                }
            }
            else if (p.Order == WeightOrder.Forward)
            {
                var row = p.Weight.AsSpan(o * taps, taps);
                for (int e = 0; e < taps; e++)
                {
                    packed[e * ChannelTile + c] = row[e];
                }
            }
            else
            {
                for (int i = 0; i < p.InChannels; i++)
                {
                    var block = p.Weight.AsSpan((i * p.OutChannels + o) * k2, k2);
                    for (int t = 0; t < k2; t++)
                    {
                        packed[(i * k2 + t) * ChannelTile + c] = block[k2 - 1 - t];
                    }
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
        int channelTiles = (cout + ChannelTile - 1) / ChannelTile;
        int dyTileLength = vectors * ChannelTile * lanes;

        float[] padded = ArrayPool<float>.Shared.Rent(geo.BufferLength(n * cin));
        float[] dyTiles = ArrayPool<float>.Shared.Rent(n * channelTiles * dyTileLength);
        int[] offsets = ArrayPool<int>.Shared.Rent(taps);
        int[] starts = ArrayPool<int>.Shared.Rent(vectors);
        try
        {
            // Padded x, packed dy and the bias sums are independent: one parallel pass.
            int padItems = dweight is null ? 0 : n * cin, packItems = dweight is null ? 0 : n * channelTiles;
            int biasItems = dbias is null ? 0 : cout;
            if (padItems > 0)
            {
                padded.AsSpan(n * cin * geo.PlaneStride, geo.Slack).Clear();
            }

            Parallel.For(0, padItems + packItems + biasItems, item =>
            {
                if (item < padItems)
                {
                    geo.PadPlane(x.AsSpan(item * h * w, h * w), padded.AsSpan(item * geo.PlaneStride, geo.PlaneStride));
                }
                else if (item < padItems + packItems)
                {
                    int st = item - padItems, s = st / channelTiles, channelTile = st % channelTiles;
                    PackOutputGradient(dy, s, channelTile, cout, outPlane, geo, dyTiles.AsSpan(st * dyTileLength, dyTileLength));
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
            });

            if (dweight is null)
            {
                return;
            }

            TapOffsets(geo, cin, k, dil, offsets);
            for (int t = 0; t < vectors; t++)
            {
                starts[t] = geo.VectorStart(t);
            }

            int groups = CeilDiv(taps, pairsPerTile);
            Parallel.For(0, channelTiles * groups, item =>
            {
                int channelTile = item / groups, e0 = item % groups * pairsPerTile;
                Span<float> sums = stackalloc float[ChannelTile * 6];
                ref float x0 = ref MemoryMarshal.GetArrayDataReference(padded);
                ref float d0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(dyTiles), channelTile * dyTileLength);
                var vectorStarts = new ReadOnlySpan<int>(starts, 0, vectors);
                int sampleStride = cin * geo.PlaneStride, dySampleStride = channelTiles * dyTileLength;
                if (wideTiles)
                {
                    SimdConvKernels.WeightGradient6<TL, TV>(ref x0, sampleStride, ref d0, dySampleStride, n, vectorStarts,
                        Pair(offsets, e0, taps), Pair(offsets, e0 + 1, taps), Pair(offsets, e0 + 2, taps),
                        Pair(offsets, e0 + 3, taps), Pair(offsets, e0 + 4, taps), Pair(offsets, e0 + 5, taps), sums);
                }
                else
                {
                    SimdConvKernels.WeightGradient3<TL, TV>(ref x0, sampleStride, ref d0, dySampleStride, n, vectorStarts,
                        Pair(offsets, e0, taps), Pair(offsets, e0 + 1, taps), Pair(offsets, e0 + 2, taps), sums);
                }

                for (int c = 0; c < ChannelTile; c++)
                {
                    int o = channelTile * ChannelTile + c;
                    for (int u = 0; u < pairsPerTile && o < cout && e0 + u < taps; u++)
                    {
                        ref float dw = ref dweight[o * taps + e0 + u];
                        float g = sums[c * pairsPerTile + u];
                        dw = accumulate ? dw + g : g;
                    }
                }
            });
        }
        finally
        {
            ArrayPool<int>.Shared.Return(starts);
            ArrayPool<int>.Shared.Return(offsets);
            ArrayPool<float>.Shared.Return(dyTiles);
            ArrayPool<float>.Shared.Return(padded);
        }
    }

    /// <summary>Offset of (input channel, tap) pair e, clamped to the last pair for an edge group (dropped later).</summary>
    private static nuint Pair(int[] offsets, int e, int taps) => (nuint)offsets[Math.Min(e, taps - 1)];

    /// <summary>
    /// dy of sample s, channels 4·tile … 4·tile+3, as [vector][channel][lane] in the geometry's vector order,
    /// zeros on lanes that are not outputs and for channels past the end.
    /// </summary>
    private static void PackOutputGradient(float[] dy, int s, int channelTile, int cout, int outPlane,
        in SimdConvGeometry geo, Span<float> packed)
    {
        packed.Clear();
        int lanes = geo.Lanes;
        for (int c = 0; c < ChannelTile; c++)
        {
            int o = channelTile * ChannelTile + c;
            if (o >= cout)
            {
                break;
            }

            var gather = new VectorGather { Plane = dy.AsSpan((s * cout + o) * outPlane, outPlane) };
            for (int t = 0; t < geo.VectorCount; t++)
            {
                gather.Lanes = packed.Slice((t * ChannelTile + c) * lanes, lanes);
                geo.ForEachRun(t, ref gather);
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
        Parallel.For(0, planes, plane =>
            geo.PadPlane(source.AsSpan(plane * planeLength, planeLength), padded.AsSpan(plane * geo.PlaneStride, geo.PlaneStride)));
    }

    /// <summary>offsets[i·k² + ki·k + kj] = i·Hp·Wp + ki·dil·Wp + kj·dil: where tap (ki,kj) of input channel i reads.</summary>
    private static void TapOffsets(in SimdConvGeometry geo, int channels, int k, int dil, int[] offsets)
    {
        for (int i = 0; i < channels; i++)
        {
            for (int ki = 0; ki < k; ki++)
            {
                for (int kj = 0; kj < k; kj++)
                {
                    offsets[(i * k + ki) * k + kj] = i * geo.PlaneStride + ki * dil * geo.PaddedWidth + kj * dil;
                }
            }
        }
    }

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
