using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// Register-blocked conv micro-kernels. Each keeps a tile of 4 output channels × V pixel vectors in
/// registers (V = 6 where there are 32 vector registers, 3 where there are 16, 4 for a batch's ragged last
/// tile), so every loaded input vector feeds 4 FMAs and every broadcast weight feeds V: 4·V independent FMA
/// chains hide the FMA latency (a single chain would run at a quarter of the peak or less).
/// </summary>
/// <remarks>
/// The weight-gradient kernels use the same tile turned around: 4 output channels × V (input channel, tap)
/// pairs, reducing over pixels, with the 4 dy vectors and one input vector live per step.
///
/// The kernels are compiled fully optimised on first use (<see cref="MethodImplOptions.AggressiveOptimization"/>):
/// each call is short, so tiered compilation would otherwise run the first thousands of tiles in unoptimised
/// code that keeps the accumulators on the stack, many times slower.
/// </remarks>
internal static class SimdConvKernels
{
    /// <summary>Output channels per tile.</summary>
    public const int ChannelTile = 4;

    /// <summary>
    /// 4 output channels × 6 pixel vectors. For each (input channel, tap) pair e, with
    /// (xe, we) = (pairs[2e], pairs[2e+1]): reads the 6 input vectors at input + xe + o_u and the weights of
    /// the 4 channels at weights + we + c·channelStride; writes the 24 sums to <paramref name="tile"/> as
    /// [channel][vector][lane].
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward6<TL, TV>(ref float input, ref float weights, nuint channelStride, ReadOnlySpan<int> pairs,
        nuint o0, nuint o1, nuint o2, nuint o3, nuint o4, nuint o5, Span<float> tile)
        where TL : struct, ISimdConvLanes<TV>
        where TV : struct
    {
        TV a00 = TL.Zero, a01 = TL.Zero, a02 = TL.Zero, a03 = TL.Zero, a04 = TL.Zero, a05 = TL.Zero;
        TV a10 = TL.Zero, a11 = TL.Zero, a12 = TL.Zero, a13 = TL.Zero, a14 = TL.Zero, a15 = TL.Zero;
        TV a20 = TL.Zero, a21 = TL.Zero, a22 = TL.Zero, a23 = TL.Zero, a24 = TL.Zero, a25 = TL.Zero;
        TV a30 = TL.Zero, a31 = TL.Zero, a32 = TL.Zero, a33 = TL.Zero, a34 = TL.Zero, a35 = TL.Zero;
        nuint stride2 = 2 * channelStride, stride3 = 3 * channelStride;
        ref int pair = ref MemoryMarshal.GetReference(pairs);
        for (int e = 0; e < pairs.Length; e += 2)
        {
            ref float x = ref Unsafe.Add(ref input, Unsafe.Add(ref pair, e));
            ref float w = ref Unsafe.Add(ref weights, Unsafe.Add(ref pair, e + 1));
            TV w0 = TL.Broadcast(w), w1 = TL.Broadcast(Unsafe.Add(ref w, channelStride));
            TV w2 = TL.Broadcast(Unsafe.Add(ref w, stride2)), w3 = TL.Broadcast(Unsafe.Add(ref w, stride3));
            TV v = TL.Load(ref x, o0);
            a00 = TL.MultiplyAdd(v, w0, a00);
            a10 = TL.MultiplyAdd(v, w1, a10);
            a20 = TL.MultiplyAdd(v, w2, a20);
            a30 = TL.MultiplyAdd(v, w3, a30);
            v = TL.Load(ref x, o1);
            a01 = TL.MultiplyAdd(v, w0, a01);
            a11 = TL.MultiplyAdd(v, w1, a11);
            a21 = TL.MultiplyAdd(v, w2, a21);
            a31 = TL.MultiplyAdd(v, w3, a31);
            v = TL.Load(ref x, o2);
            a02 = TL.MultiplyAdd(v, w0, a02);
            a12 = TL.MultiplyAdd(v, w1, a12);
            a22 = TL.MultiplyAdd(v, w2, a22);
            a32 = TL.MultiplyAdd(v, w3, a32);
            v = TL.Load(ref x, o3);
            a03 = TL.MultiplyAdd(v, w0, a03);
            a13 = TL.MultiplyAdd(v, w1, a13);
            a23 = TL.MultiplyAdd(v, w2, a23);
            a33 = TL.MultiplyAdd(v, w3, a33);
            v = TL.Load(ref x, o4);
            a04 = TL.MultiplyAdd(v, w0, a04);
            a14 = TL.MultiplyAdd(v, w1, a14);
            a24 = TL.MultiplyAdd(v, w2, a24);
            a34 = TL.MultiplyAdd(v, w3, a34);
            v = TL.Load(ref x, o5);
            a05 = TL.MultiplyAdd(v, w0, a05);
            a15 = TL.MultiplyAdd(v, w1, a15);
            a25 = TL.MultiplyAdd(v, w2, a25);
            a35 = TL.MultiplyAdd(v, w3, a35);
        }

        int l = TL.Count;
        ref float t = ref MemoryMarshal.GetReference(tile);
        TL.Store(a00, ref t, (nuint)(0 * l));
        TL.Store(a01, ref t, (nuint)(1 * l));
        TL.Store(a02, ref t, (nuint)(2 * l));
        TL.Store(a03, ref t, (nuint)(3 * l));
        TL.Store(a04, ref t, (nuint)(4 * l));
        TL.Store(a05, ref t, (nuint)(5 * l));
        TL.Store(a10, ref t, (nuint)(6 * l));
        TL.Store(a11, ref t, (nuint)(7 * l));
        TL.Store(a12, ref t, (nuint)(8 * l));
        TL.Store(a13, ref t, (nuint)(9 * l));
        TL.Store(a14, ref t, (nuint)(10 * l));
        TL.Store(a15, ref t, (nuint)(11 * l));
        TL.Store(a20, ref t, (nuint)(12 * l));
        TL.Store(a21, ref t, (nuint)(13 * l));
        TL.Store(a22, ref t, (nuint)(14 * l));
        TL.Store(a23, ref t, (nuint)(15 * l));
        TL.Store(a24, ref t, (nuint)(16 * l));
        TL.Store(a25, ref t, (nuint)(17 * l));
        TL.Store(a30, ref t, (nuint)(18 * l));
        TL.Store(a31, ref t, (nuint)(19 * l));
        TL.Store(a32, ref t, (nuint)(20 * l));
        TL.Store(a33, ref t, (nuint)(21 * l));
        TL.Store(a34, ref t, (nuint)(22 * l));
        TL.Store(a35, ref t, (nuint)(23 * l));
    }

    /// <summary>4 output channels × 4 pixel vectors (a batch's ragged last tile); otherwise as <see cref="Forward6{TL, TV}"/>.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward4<TL, TV>(ref float input, ref float weights, nuint channelStride, ReadOnlySpan<int> pairs,
        nuint o0, nuint o1, nuint o2, nuint o3, Span<float> tile)
        where TL : struct, ISimdConvLanes<TV>
        where TV : struct
    {
        TV a00 = TL.Zero, a01 = TL.Zero, a02 = TL.Zero, a03 = TL.Zero;
        TV a10 = TL.Zero, a11 = TL.Zero, a12 = TL.Zero, a13 = TL.Zero;
        TV a20 = TL.Zero, a21 = TL.Zero, a22 = TL.Zero, a23 = TL.Zero;
        TV a30 = TL.Zero, a31 = TL.Zero, a32 = TL.Zero, a33 = TL.Zero;
        nuint stride2 = 2 * channelStride, stride3 = 3 * channelStride;
        ref int pair = ref MemoryMarshal.GetReference(pairs);
        for (int e = 0; e < pairs.Length; e += 2)
        {
            ref float x = ref Unsafe.Add(ref input, Unsafe.Add(ref pair, e));
            ref float w = ref Unsafe.Add(ref weights, Unsafe.Add(ref pair, e + 1));
            TV w0 = TL.Broadcast(w), w1 = TL.Broadcast(Unsafe.Add(ref w, channelStride));
            TV w2 = TL.Broadcast(Unsafe.Add(ref w, stride2)), w3 = TL.Broadcast(Unsafe.Add(ref w, stride3));
            TV v = TL.Load(ref x, o0);
            a00 = TL.MultiplyAdd(v, w0, a00);
            a10 = TL.MultiplyAdd(v, w1, a10);
            a20 = TL.MultiplyAdd(v, w2, a20);
            a30 = TL.MultiplyAdd(v, w3, a30);
            v = TL.Load(ref x, o1);
            a01 = TL.MultiplyAdd(v, w0, a01);
            a11 = TL.MultiplyAdd(v, w1, a11);
            a21 = TL.MultiplyAdd(v, w2, a21);
            a31 = TL.MultiplyAdd(v, w3, a31);
            v = TL.Load(ref x, o2);
            a02 = TL.MultiplyAdd(v, w0, a02);
            a12 = TL.MultiplyAdd(v, w1, a12);
            a22 = TL.MultiplyAdd(v, w2, a22);
            a32 = TL.MultiplyAdd(v, w3, a32);
            v = TL.Load(ref x, o3);
            a03 = TL.MultiplyAdd(v, w0, a03);
            a13 = TL.MultiplyAdd(v, w1, a13);
            a23 = TL.MultiplyAdd(v, w2, a23);
            a33 = TL.MultiplyAdd(v, w3, a33);
        }

        int l = TL.Count;
        ref float t = ref MemoryMarshal.GetReference(tile);
        TL.Store(a00, ref t, (nuint)(0 * l));
        TL.Store(a01, ref t, (nuint)(1 * l));
        TL.Store(a02, ref t, (nuint)(2 * l));
        TL.Store(a03, ref t, (nuint)(3 * l));
        TL.Store(a10, ref t, (nuint)(4 * l));
        TL.Store(a11, ref t, (nuint)(5 * l));
        TL.Store(a12, ref t, (nuint)(6 * l));
        TL.Store(a13, ref t, (nuint)(7 * l));
        TL.Store(a20, ref t, (nuint)(8 * l));
        TL.Store(a21, ref t, (nuint)(9 * l));
        TL.Store(a22, ref t, (nuint)(10 * l));
        TL.Store(a23, ref t, (nuint)(11 * l));
        TL.Store(a30, ref t, (nuint)(12 * l));
        TL.Store(a31, ref t, (nuint)(13 * l));
        TL.Store(a32, ref t, (nuint)(14 * l));
        TL.Store(a33, ref t, (nuint)(15 * l));
    }

    /// <summary>
    /// 4 output channels × 3 pixel vectors, for 16-register machines (12 accumulators, 3 inputs, 1 weight)
    /// and ragged last tiles; otherwise as <see cref="Forward6{TL, TV}"/>.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward3<TL, TV>(ref float input, ref float weights, nuint channelStride, ReadOnlySpan<int> pairs,
        nuint o0, nuint o1, nuint o2, Span<float> tile)
        where TL : struct, ISimdConvLanes<TV>
        where TV : struct
    {
        TV a00 = TL.Zero, a01 = TL.Zero, a02 = TL.Zero;
        TV a10 = TL.Zero, a11 = TL.Zero, a12 = TL.Zero;
        TV a20 = TL.Zero, a21 = TL.Zero, a22 = TL.Zero;
        TV a30 = TL.Zero, a31 = TL.Zero, a32 = TL.Zero;
        nuint stride2 = 2 * channelStride, stride3 = 3 * channelStride;
        ref int pair = ref MemoryMarshal.GetReference(pairs);
        for (int e = 0; e < pairs.Length; e += 2)
        {
            ref float x = ref Unsafe.Add(ref input, Unsafe.Add(ref pair, e));
            ref float w = ref Unsafe.Add(ref weights, Unsafe.Add(ref pair, e + 1));
            TV v0 = TL.Load(ref x, o0), v1 = TL.Load(ref x, o1), v2 = TL.Load(ref x, o2);
            TV b = TL.Broadcast(w);
            a00 = TL.MultiplyAdd(v0, b, a00);
            a01 = TL.MultiplyAdd(v1, b, a01);
            a02 = TL.MultiplyAdd(v2, b, a02);
            b = TL.Broadcast(Unsafe.Add(ref w, channelStride));
            a10 = TL.MultiplyAdd(v0, b, a10);
            a11 = TL.MultiplyAdd(v1, b, a11);
            a12 = TL.MultiplyAdd(v2, b, a12);
            b = TL.Broadcast(Unsafe.Add(ref w, stride2));
            a20 = TL.MultiplyAdd(v0, b, a20);
            a21 = TL.MultiplyAdd(v1, b, a21);
            a22 = TL.MultiplyAdd(v2, b, a22);
            b = TL.Broadcast(Unsafe.Add(ref w, stride3));
            a30 = TL.MultiplyAdd(v0, b, a30);
            a31 = TL.MultiplyAdd(v1, b, a31);
            a32 = TL.MultiplyAdd(v2, b, a32);
        }

        int l = TL.Count;
        ref float t = ref MemoryMarshal.GetReference(tile);
        TL.Store(a00, ref t, (nuint)(0 * l));
        TL.Store(a01, ref t, (nuint)(1 * l));
        TL.Store(a02, ref t, (nuint)(2 * l));
        TL.Store(a10, ref t, (nuint)(3 * l));
        TL.Store(a11, ref t, (nuint)(4 * l));
        TL.Store(a12, ref t, (nuint)(5 * l));
        TL.Store(a20, ref t, (nuint)(6 * l));
        TL.Store(a21, ref t, (nuint)(7 * l));
        TL.Store(a22, ref t, (nuint)(8 * l));
        TL.Store(a30, ref t, (nuint)(9 * l));
        TL.Store(a31, ref t, (nuint)(10 * l));
        TL.Store(a32, ref t, (nuint)(11 * l));
    }

    /// <summary>
    /// Weight gradient of 4 output channels × 6 (input channel, tap) pairs:
    /// sums[4u + c] = Σ_s Σ_t Σ_lanes dy[s][t][c] · x[s·sampleStride + starts[t] + g_u], where dy holds, per
    /// sample and pixel vector t, the 4 channels' dy vectors one after another (zeros on dropped lanes).
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WeightGradient6<TL, TV>(ref float x, int sampleStride, ref float dy, int dySampleStride,
        int samples, ReadOnlySpan<int> starts, nuint g0, nuint g1, nuint g2, nuint g3, nuint g4, nuint g5, Span<float> sums)
        where TL : struct, ISimdConvLanes<TV>
        where TV : struct
    {
        TV a00 = TL.Zero, a01 = TL.Zero, a02 = TL.Zero, a03 = TL.Zero, a04 = TL.Zero, a05 = TL.Zero;
        TV a10 = TL.Zero, a11 = TL.Zero, a12 = TL.Zero, a13 = TL.Zero, a14 = TL.Zero, a15 = TL.Zero;
        TV a20 = TL.Zero, a21 = TL.Zero, a22 = TL.Zero, a23 = TL.Zero, a24 = TL.Zero, a25 = TL.Zero;
        TV a30 = TL.Zero, a31 = TL.Zero, a32 = TL.Zero, a33 = TL.Zero, a34 = TL.Zero, a35 = TL.Zero;
        int l = TL.Count;
        ref int start = ref MemoryMarshal.GetReference(starts);
        for (int s = 0; s < samples; s++)
        {
            ref float xs = ref Unsafe.Add(ref x, s * sampleStride);
            ref float d = ref Unsafe.Add(ref dy, s * dySampleStride);
            for (int t = 0; t < starts.Length; t++)
            {
                ref float xt = ref Unsafe.Add(ref xs, Unsafe.Add(ref start, t));
                TV d0 = TL.Load(ref d, 0), d1 = TL.Load(ref d, (nuint)l);
                TV d2 = TL.Load(ref d, (nuint)(2 * l)), d3 = TL.Load(ref d, (nuint)(3 * l));
                d = ref Unsafe.Add(ref d, ChannelTile * l);

                TV v = TL.Load(ref xt, g0);
                a00 = TL.MultiplyAdd(d0, v, a00);
                a10 = TL.MultiplyAdd(d1, v, a10);
                a20 = TL.MultiplyAdd(d2, v, a20);
                a30 = TL.MultiplyAdd(d3, v, a30);
                v = TL.Load(ref xt, g1);
                a01 = TL.MultiplyAdd(d0, v, a01);
                a11 = TL.MultiplyAdd(d1, v, a11);
                a21 = TL.MultiplyAdd(d2, v, a21);
                a31 = TL.MultiplyAdd(d3, v, a31);
                v = TL.Load(ref xt, g2);
                a02 = TL.MultiplyAdd(d0, v, a02);
                a12 = TL.MultiplyAdd(d1, v, a12);
                a22 = TL.MultiplyAdd(d2, v, a22);
                a32 = TL.MultiplyAdd(d3, v, a32);
                v = TL.Load(ref xt, g3);
                a03 = TL.MultiplyAdd(d0, v, a03);
                a13 = TL.MultiplyAdd(d1, v, a13);
                a23 = TL.MultiplyAdd(d2, v, a23);
                a33 = TL.MultiplyAdd(d3, v, a33);
                v = TL.Load(ref xt, g4);
                a04 = TL.MultiplyAdd(d0, v, a04);
                a14 = TL.MultiplyAdd(d1, v, a14);
                a24 = TL.MultiplyAdd(d2, v, a24);
                a34 = TL.MultiplyAdd(d3, v, a34);
                v = TL.Load(ref xt, g5);
                a05 = TL.MultiplyAdd(d0, v, a05);
                a15 = TL.MultiplyAdd(d1, v, a15);
                a25 = TL.MultiplyAdd(d2, v, a25);
                a35 = TL.MultiplyAdd(d3, v, a35);
            }
        }

        ref float sum = ref MemoryMarshal.GetReference(sums);
        TL.Sum4(a00, a10, a20, a30).StoreUnsafe(ref sum, 0);
        TL.Sum4(a01, a11, a21, a31).StoreUnsafe(ref sum, 4);
        TL.Sum4(a02, a12, a22, a32).StoreUnsafe(ref sum, 8);
        TL.Sum4(a03, a13, a23, a33).StoreUnsafe(ref sum, 12);
        TL.Sum4(a04, a14, a24, a34).StoreUnsafe(ref sum, 16);
        TL.Sum4(a05, a15, a25, a35).StoreUnsafe(ref sum, 20);
    }

    /// <summary>4 output channels × 3 (input channel, tap) pairs; otherwise as <see cref="WeightGradient6{TL, TV}"/>.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WeightGradient3<TL, TV>(ref float x, int sampleStride, ref float dy, int dySampleStride,
        int samples, ReadOnlySpan<int> starts, nuint g0, nuint g1, nuint g2, Span<float> sums)
        where TL : struct, ISimdConvLanes<TV>
        where TV : struct
    {
        TV a00 = TL.Zero, a01 = TL.Zero, a02 = TL.Zero;
        TV a10 = TL.Zero, a11 = TL.Zero, a12 = TL.Zero;
        TV a20 = TL.Zero, a21 = TL.Zero, a22 = TL.Zero;
        TV a30 = TL.Zero, a31 = TL.Zero, a32 = TL.Zero;
        int l = TL.Count;
        ref int start = ref MemoryMarshal.GetReference(starts);
        for (int s = 0; s < samples; s++)
        {
            ref float xs = ref Unsafe.Add(ref x, s * sampleStride);
            ref float d = ref Unsafe.Add(ref dy, s * dySampleStride);
            for (int t = 0; t < starts.Length; t++)
            {
                ref float xt = ref Unsafe.Add(ref xs, Unsafe.Add(ref start, t));
                TV v0 = TL.Load(ref xt, g0), v1 = TL.Load(ref xt, g1), v2 = TL.Load(ref xt, g2);
                TV dc = TL.Load(ref d, 0);
                a00 = TL.MultiplyAdd(dc, v0, a00);
                a01 = TL.MultiplyAdd(dc, v1, a01);
                a02 = TL.MultiplyAdd(dc, v2, a02);
                dc = TL.Load(ref d, (nuint)l);
                a10 = TL.MultiplyAdd(dc, v0, a10);
                a11 = TL.MultiplyAdd(dc, v1, a11);
                a12 = TL.MultiplyAdd(dc, v2, a12);
                dc = TL.Load(ref d, (nuint)(2 * l));
                a20 = TL.MultiplyAdd(dc, v0, a20);
                a21 = TL.MultiplyAdd(dc, v1, a21);
                a22 = TL.MultiplyAdd(dc, v2, a22);
                dc = TL.Load(ref d, (nuint)(3 * l));
                a30 = TL.MultiplyAdd(dc, v0, a30);
                a31 = TL.MultiplyAdd(dc, v1, a31);
                a32 = TL.MultiplyAdd(dc, v2, a32);
                d = ref Unsafe.Add(ref d, ChannelTile * l);
            }
        }

        ref float sum = ref MemoryMarshal.GetReference(sums);
        TL.Sum4(a00, a10, a20, a30).StoreUnsafe(ref sum, 0);
        TL.Sum4(a01, a11, a21, a31).StoreUnsafe(ref sum, 4);
        TL.Sum4(a02, a12, a22, a32).StoreUnsafe(ref sum, 8);
    }
}
