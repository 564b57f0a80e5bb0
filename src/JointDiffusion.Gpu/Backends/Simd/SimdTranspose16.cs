using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// In-register transpose of a 16x16 block of floats held as 16 Vector512 rows (AVX-512): 64 shuffles, against 256
/// scalar loads and stores, for moving between channel-major (NCHW) and channel-minor (NHWC) layouts.
/// </summary>
internal static class SimdTranspose16
{
    /// <summary>
    /// Reads rows r = 0…15 of 16 floats at <paramref name="source"/> + r·<paramref name="sourceStride"/> and writes
    /// column c as 16 floats at <paramref name="destination"/> + c·<paramref name="destinationStride"/>:
    /// destination[c·ds + r] = source[r·ss + c].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose(ref float source, nuint sourceStride, ref float destination, nuint destinationStride)
    {
        // Stage 1, within 128-bit lanes: pairs of rows interleaved by 32 bits.
        var a0 = Avx512F.UnpackLow(Vector512.LoadUnsafe(ref source, 0 * sourceStride), Vector512.LoadUnsafe(ref source, 1 * sourceStride));
        var a1 = Avx512F.UnpackHigh(Vector512.LoadUnsafe(ref source, 0 * sourceStride), Vector512.LoadUnsafe(ref source, 1 * sourceStride));
        var a2 = Avx512F.UnpackLow(Vector512.LoadUnsafe(ref source, 2 * sourceStride), Vector512.LoadUnsafe(ref source, 3 * sourceStride));
        var a3 = Avx512F.UnpackHigh(Vector512.LoadUnsafe(ref source, 2 * sourceStride), Vector512.LoadUnsafe(ref source, 3 * sourceStride));
        var a4 = Avx512F.UnpackLow(Vector512.LoadUnsafe(ref source, 4 * sourceStride), Vector512.LoadUnsafe(ref source, 5 * sourceStride));
        var a5 = Avx512F.UnpackHigh(Vector512.LoadUnsafe(ref source, 4 * sourceStride), Vector512.LoadUnsafe(ref source, 5 * sourceStride));
        var a6 = Avx512F.UnpackLow(Vector512.LoadUnsafe(ref source, 6 * sourceStride), Vector512.LoadUnsafe(ref source, 7 * sourceStride));
        var a7 = Avx512F.UnpackHigh(Vector512.LoadUnsafe(ref source, 6 * sourceStride), Vector512.LoadUnsafe(ref source, 7 * sourceStride));
        var a8 = Avx512F.UnpackLow(Vector512.LoadUnsafe(ref source, 8 * sourceStride), Vector512.LoadUnsafe(ref source, 9 * sourceStride));
        var a9 = Avx512F.UnpackHigh(Vector512.LoadUnsafe(ref source, 8 * sourceStride), Vector512.LoadUnsafe(ref source, 9 * sourceStride));
        var a10 = Avx512F.UnpackLow(Vector512.LoadUnsafe(ref source, 10 * sourceStride), Vector512.LoadUnsafe(ref source, 11 * sourceStride));
        var a11 = Avx512F.UnpackHigh(Vector512.LoadUnsafe(ref source, 10 * sourceStride), Vector512.LoadUnsafe(ref source, 11 * sourceStride));
        var a12 = Avx512F.UnpackLow(Vector512.LoadUnsafe(ref source, 12 * sourceStride), Vector512.LoadUnsafe(ref source, 13 * sourceStride));
        var a13 = Avx512F.UnpackHigh(Vector512.LoadUnsafe(ref source, 12 * sourceStride), Vector512.LoadUnsafe(ref source, 13 * sourceStride));
        var a14 = Avx512F.UnpackLow(Vector512.LoadUnsafe(ref source, 14 * sourceStride), Vector512.LoadUnsafe(ref source, 15 * sourceStride));
        var a15 = Avx512F.UnpackHigh(Vector512.LoadUnsafe(ref source, 14 * sourceStride), Vector512.LoadUnsafe(ref source, 15 * sourceStride));

        // Stage 2, 64-bit interleave: b[4m+q] holds, in each 128-bit lane L, column 4L+q of rows 4m…4m+3.
        var b0 = Low(a0, a2);
        var b1 = High(a0, a2);
        var b2 = Low(a1, a3);
        var b3 = High(a1, a3);
        var b4 = Low(a4, a6);
        var b5 = High(a4, a6);
        var b6 = Low(a5, a7);
        var b7 = High(a5, a7);
        var b8 = Low(a8, a10);
        var b9 = High(a8, a10);
        var b10 = Low(a9, a11);
        var b11 = High(a9, a11);
        var b12 = Low(a12, a14);
        var b13 = High(a12, a14);
        var b14 = Low(a13, a15);
        var b15 = High(a13, a15);

        // Stage 3, a 4x4 transpose of 128-bit lanes for each q: column 4L+q = lane L of b[q], b[4+q], b[8+q], b[12+q].
        Lanes(b0, b4, b8, b12, ref destination, 0, destinationStride);
        Lanes(b1, b5, b9, b13, ref destination, 1, destinationStride);
        Lanes(b2, b6, b10, b14, ref destination, 2, destinationStride);
        Lanes(b3, b7, b11, b15, ref destination, 3, destinationStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Low(Vector512<float> x, Vector512<float> y) => Avx512F.UnpackLow(x.AsDouble(), y.AsDouble()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> High(Vector512<float> x, Vector512<float> y) => Avx512F.UnpackHigh(x.AsDouble(), y.AsDouble()).AsSingle();

    /// <summary>Writes columns q, 4+q, 8+q, 12+q: lane L of (m0, m1, m2, m3) becomes column 4L+q.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Lanes(Vector512<float> m0, Vector512<float> m1, Vector512<float> m2, Vector512<float> m3, ref float destination, int q,
        nuint stride)
    {
        var c0 = Avx512F.Shuffle4x128(m0, m1, 0x44); // m0.L0 m0.L1 m1.L0 m1.L1
        var c1 = Avx512F.Shuffle4x128(m0, m1, 0xEE); // m0.L2 m0.L3 m1.L2 m1.L3
        var c2 = Avx512F.Shuffle4x128(m2, m3, 0x44);
        var c3 = Avx512F.Shuffle4x128(m2, m3, 0xEE);
        Avx512F.Shuffle4x128(c0, c2, 0x88).StoreUnsafe(ref destination, (nuint)q * stride);       // lane 0 of each
        Avx512F.Shuffle4x128(c0, c2, 0xDD).StoreUnsafe(ref destination, (nuint)(4 + q) * stride); // lane 1
        Avx512F.Shuffle4x128(c1, c3, 0x88).StoreUnsafe(ref destination, (nuint)(8 + q) * stride); // lane 2
        Avx512F.Shuffle4x128(c1, c3, 0xDD).StoreUnsafe(ref destination, (nuint)(12 + q) * stride); // lane 3
    }
}
