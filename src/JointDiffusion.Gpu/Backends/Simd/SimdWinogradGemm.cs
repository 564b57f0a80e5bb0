using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// Register-blocked GEMM micro-kernels of the Winograd convolution: C[r, :] = Σ_k A[r, k]·B[k, :] for a block of
/// R rows × V vectors of 16 columns (Vector512), the R·V sums in registers. A is read by broadcast with free
/// strides (row r, depth k at a + r·rowStride + k·depthStride), so one kernel serves both the forward product
/// (rows are tiles, depth is input channels: A row-major) and the weight gradient's (rows are input channels,
/// depth is tiles: A transposed). B rows are bStride apart, C rows cStride apart; C is overwritten, or added to with
/// accumulate (the sums then start from C's values).
/// </summary>
/// <remarks>
/// Block shapes for AVX-512's 32 registers: 6×4 (24 accumulators, 4 B vectors, 1 broadcast), 8×2 (16) and 8×1 (8,
/// still enough independent FMA chains to cover the FMA latency at two per cycle). Each loaded B vector feeds R
/// FMAs and each broadcast feeds V. Compiled optimised at once for the reason given in <see cref="SimdConvKernels"/>.
/// </remarks>
internal static class SimdWinogradGemm
{
    /// <summary>Rows of <see cref="Rows6Vectors4"/>.</summary>
    public const int WideRows = 6;

    /// <summary>Rows of <see cref="Rows8Vectors2"/> and <see cref="Rows8Vectors1"/>.</summary>
    public const int NarrowRows = 8;

    /// <summary>6 rows × 4 vectors (64 columns).</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows6Vectors4(ref float a, nuint rowStride, nuint depthStride, int depth, ref float b, nuint bStride, ref float c, nuint cStride,
        bool accumulate)
    {
        ref float a0 = ref a;
        ref float a1 = ref Unsafe.Add(ref a, 1 * rowStride);
        ref float a2 = ref Unsafe.Add(ref a, 2 * rowStride);
        ref float a3 = ref Unsafe.Add(ref a, 3 * rowStride);
        ref float a4 = ref Unsafe.Add(ref a, 4 * rowStride);
        ref float a5 = ref Unsafe.Add(ref a, 5 * rowStride);
        var c00 = Start(accumulate, ref c, 0);
        var c01 = Start(accumulate, ref c, 16);
        var c02 = Start(accumulate, ref c, 32);
        var c03 = Start(accumulate, ref c, 48);
        var c10 = Start(accumulate, ref c, 1 * cStride);
        var c11 = Start(accumulate, ref c, 1 * cStride + 16);
        var c12 = Start(accumulate, ref c, 1 * cStride + 32);
        var c13 = Start(accumulate, ref c, 1 * cStride + 48);
        var c20 = Start(accumulate, ref c, 2 * cStride);
        var c21 = Start(accumulate, ref c, 2 * cStride + 16);
        var c22 = Start(accumulate, ref c, 2 * cStride + 32);
        var c23 = Start(accumulate, ref c, 2 * cStride + 48);
        var c30 = Start(accumulate, ref c, 3 * cStride);
        var c31 = Start(accumulate, ref c, 3 * cStride + 16);
        var c32 = Start(accumulate, ref c, 3 * cStride + 32);
        var c33 = Start(accumulate, ref c, 3 * cStride + 48);
        var c40 = Start(accumulate, ref c, 4 * cStride);
        var c41 = Start(accumulate, ref c, 4 * cStride + 16);
        var c42 = Start(accumulate, ref c, 4 * cStride + 32);
        var c43 = Start(accumulate, ref c, 4 * cStride + 48);
        var c50 = Start(accumulate, ref c, 5 * cStride);
        var c51 = Start(accumulate, ref c, 5 * cStride + 16);
        var c52 = Start(accumulate, ref c, 5 * cStride + 32);
        var c53 = Start(accumulate, ref c, 5 * cStride + 48);
        nuint k = 0;
        for (int i = 0; i < depth; i++, k += depthStride)
        {
            var b0 = Vector512.LoadUnsafe(ref b);
            var b1 = Vector512.LoadUnsafe(ref b, 16);
            var b2 = Vector512.LoadUnsafe(ref b, 32);
            var b3 = Vector512.LoadUnsafe(ref b, 48);
            b = ref Unsafe.Add(ref b, bStride);
            var x0 = Vector512.Create(Unsafe.Add(ref a0, k));
            c00 = Vector512.FusedMultiplyAdd(x0, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(x0, b1, c01);
            c02 = Vector512.FusedMultiplyAdd(x0, b2, c02);
            c03 = Vector512.FusedMultiplyAdd(x0, b3, c03);
            var x1 = Vector512.Create(Unsafe.Add(ref a1, k));
            c10 = Vector512.FusedMultiplyAdd(x1, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(x1, b1, c11);
            c12 = Vector512.FusedMultiplyAdd(x1, b2, c12);
            c13 = Vector512.FusedMultiplyAdd(x1, b3, c13);
            var x2 = Vector512.Create(Unsafe.Add(ref a2, k));
            c20 = Vector512.FusedMultiplyAdd(x2, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(x2, b1, c21);
            c22 = Vector512.FusedMultiplyAdd(x2, b2, c22);
            c23 = Vector512.FusedMultiplyAdd(x2, b3, c23);
            var x3 = Vector512.Create(Unsafe.Add(ref a3, k));
            c30 = Vector512.FusedMultiplyAdd(x3, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(x3, b1, c31);
            c32 = Vector512.FusedMultiplyAdd(x3, b2, c32);
            c33 = Vector512.FusedMultiplyAdd(x3, b3, c33);
            var x4 = Vector512.Create(Unsafe.Add(ref a4, k));
            c40 = Vector512.FusedMultiplyAdd(x4, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(x4, b1, c41);
            c42 = Vector512.FusedMultiplyAdd(x4, b2, c42);
            c43 = Vector512.FusedMultiplyAdd(x4, b3, c43);
            var x5 = Vector512.Create(Unsafe.Add(ref a5, k));
            c50 = Vector512.FusedMultiplyAdd(x5, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(x5, b1, c51);
            c52 = Vector512.FusedMultiplyAdd(x5, b2, c52);
            c53 = Vector512.FusedMultiplyAdd(x5, b3, c53);
        }

        c00.StoreUnsafe(ref c, 0);
        c01.StoreUnsafe(ref c, 16);
        c02.StoreUnsafe(ref c, 32);
        c03.StoreUnsafe(ref c, 48);
        c10.StoreUnsafe(ref Unsafe.Add(ref c, 1 * cStride), 0);
        c11.StoreUnsafe(ref Unsafe.Add(ref c, 1 * cStride), 16);
        c12.StoreUnsafe(ref Unsafe.Add(ref c, 1 * cStride), 32);
        c13.StoreUnsafe(ref Unsafe.Add(ref c, 1 * cStride), 48);
        c20.StoreUnsafe(ref Unsafe.Add(ref c, 2 * cStride), 0);
        c21.StoreUnsafe(ref Unsafe.Add(ref c, 2 * cStride), 16);
        c22.StoreUnsafe(ref Unsafe.Add(ref c, 2 * cStride), 32);
        c23.StoreUnsafe(ref Unsafe.Add(ref c, 2 * cStride), 48);
        c30.StoreUnsafe(ref Unsafe.Add(ref c, 3 * cStride), 0);
        c31.StoreUnsafe(ref Unsafe.Add(ref c, 3 * cStride), 16);
        c32.StoreUnsafe(ref Unsafe.Add(ref c, 3 * cStride), 32);
        c33.StoreUnsafe(ref Unsafe.Add(ref c, 3 * cStride), 48);
        c40.StoreUnsafe(ref Unsafe.Add(ref c, 4 * cStride), 0);
        c41.StoreUnsafe(ref Unsafe.Add(ref c, 4 * cStride), 16);
        c42.StoreUnsafe(ref Unsafe.Add(ref c, 4 * cStride), 32);
        c43.StoreUnsafe(ref Unsafe.Add(ref c, 4 * cStride), 48);
        c50.StoreUnsafe(ref Unsafe.Add(ref c, 5 * cStride), 0);
        c51.StoreUnsafe(ref Unsafe.Add(ref c, 5 * cStride), 16);
        c52.StoreUnsafe(ref Unsafe.Add(ref c, 5 * cStride), 32);
        c53.StoreUnsafe(ref Unsafe.Add(ref c, 5 * cStride), 48);
    }

    /// <summary>8 rows × 2 vectors (32 columns).</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows8Vectors2(ref float a, nuint rowStride, nuint depthStride, int depth, ref float b, nuint bStride, ref float c, nuint cStride,
        bool accumulate)
    {
        ref float a0 = ref a;
        ref float a1 = ref Unsafe.Add(ref a, 1 * rowStride);
        ref float a2 = ref Unsafe.Add(ref a, 2 * rowStride);
        ref float a3 = ref Unsafe.Add(ref a, 3 * rowStride);
        ref float a4 = ref Unsafe.Add(ref a, 4 * rowStride);
        ref float a5 = ref Unsafe.Add(ref a, 5 * rowStride);
        ref float a6 = ref Unsafe.Add(ref a, 6 * rowStride);
        ref float a7 = ref Unsafe.Add(ref a, 7 * rowStride);
        var c00 = Start(accumulate, ref c, 0);
        var c01 = Start(accumulate, ref c, 16);
        var c10 = Start(accumulate, ref c, 1 * cStride);
        var c11 = Start(accumulate, ref c, 1 * cStride + 16);
        var c20 = Start(accumulate, ref c, 2 * cStride);
        var c21 = Start(accumulate, ref c, 2 * cStride + 16);
        var c30 = Start(accumulate, ref c, 3 * cStride);
        var c31 = Start(accumulate, ref c, 3 * cStride + 16);
        var c40 = Start(accumulate, ref c, 4 * cStride);
        var c41 = Start(accumulate, ref c, 4 * cStride + 16);
        var c50 = Start(accumulate, ref c, 5 * cStride);
        var c51 = Start(accumulate, ref c, 5 * cStride + 16);
        var c60 = Start(accumulate, ref c, 6 * cStride);
        var c61 = Start(accumulate, ref c, 6 * cStride + 16);
        var c70 = Start(accumulate, ref c, 7 * cStride);
        var c71 = Start(accumulate, ref c, 7 * cStride + 16);
        nuint k = 0;
        for (int i = 0; i < depth; i++, k += depthStride)
        {
            var b0 = Vector512.LoadUnsafe(ref b);
            var b1 = Vector512.LoadUnsafe(ref b, 16);
            b = ref Unsafe.Add(ref b, bStride);
            var x0 = Vector512.Create(Unsafe.Add(ref a0, k));
            c00 = Vector512.FusedMultiplyAdd(x0, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(x0, b1, c01);
            var x1 = Vector512.Create(Unsafe.Add(ref a1, k));
            c10 = Vector512.FusedMultiplyAdd(x1, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(x1, b1, c11);
            var x2 = Vector512.Create(Unsafe.Add(ref a2, k));
            c20 = Vector512.FusedMultiplyAdd(x2, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(x2, b1, c21);
            var x3 = Vector512.Create(Unsafe.Add(ref a3, k));
            c30 = Vector512.FusedMultiplyAdd(x3, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(x3, b1, c31);
            var x4 = Vector512.Create(Unsafe.Add(ref a4, k));
            c40 = Vector512.FusedMultiplyAdd(x4, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(x4, b1, c41);
            var x5 = Vector512.Create(Unsafe.Add(ref a5, k));
            c50 = Vector512.FusedMultiplyAdd(x5, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(x5, b1, c51);
            var x6 = Vector512.Create(Unsafe.Add(ref a6, k));
            c60 = Vector512.FusedMultiplyAdd(x6, b0, c60);
            c61 = Vector512.FusedMultiplyAdd(x6, b1, c61);
            var x7 = Vector512.Create(Unsafe.Add(ref a7, k));
            c70 = Vector512.FusedMultiplyAdd(x7, b0, c70);
            c71 = Vector512.FusedMultiplyAdd(x7, b1, c71);
        }

        c00.StoreUnsafe(ref c, 0);
        c01.StoreUnsafe(ref c, 16);
        c10.StoreUnsafe(ref Unsafe.Add(ref c, 1 * cStride), 0);
        c11.StoreUnsafe(ref Unsafe.Add(ref c, 1 * cStride), 16);
        c20.StoreUnsafe(ref Unsafe.Add(ref c, 2 * cStride), 0);
        c21.StoreUnsafe(ref Unsafe.Add(ref c, 2 * cStride), 16);
        c30.StoreUnsafe(ref Unsafe.Add(ref c, 3 * cStride), 0);
        c31.StoreUnsafe(ref Unsafe.Add(ref c, 3 * cStride), 16);
        c40.StoreUnsafe(ref Unsafe.Add(ref c, 4 * cStride), 0);
        c41.StoreUnsafe(ref Unsafe.Add(ref c, 4 * cStride), 16);
        c50.StoreUnsafe(ref Unsafe.Add(ref c, 5 * cStride), 0);
        c51.StoreUnsafe(ref Unsafe.Add(ref c, 5 * cStride), 16);
        c60.StoreUnsafe(ref Unsafe.Add(ref c, 6 * cStride), 0);
        c61.StoreUnsafe(ref Unsafe.Add(ref c, 6 * cStride), 16);
        c70.StoreUnsafe(ref Unsafe.Add(ref c, 7 * cStride), 0);
        c71.StoreUnsafe(ref Unsafe.Add(ref c, 7 * cStride), 16);
    }

    /// <summary>8 rows × 1 vector (16 columns).</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows8Vectors1(ref float a, nuint rowStride, nuint depthStride, int depth, ref float b, nuint bStride, ref float c, nuint cStride,
        bool accumulate)
    {
        ref float a0 = ref a;
        ref float a1 = ref Unsafe.Add(ref a, 1 * rowStride);
        ref float a2 = ref Unsafe.Add(ref a, 2 * rowStride);
        ref float a3 = ref Unsafe.Add(ref a, 3 * rowStride);
        ref float a4 = ref Unsafe.Add(ref a, 4 * rowStride);
        ref float a5 = ref Unsafe.Add(ref a, 5 * rowStride);
        ref float a6 = ref Unsafe.Add(ref a, 6 * rowStride);
        ref float a7 = ref Unsafe.Add(ref a, 7 * rowStride);
        var c00 = Start(accumulate, ref c, 0);
        var c10 = Start(accumulate, ref c, 1 * cStride);
        var c20 = Start(accumulate, ref c, 2 * cStride);
        var c30 = Start(accumulate, ref c, 3 * cStride);
        var c40 = Start(accumulate, ref c, 4 * cStride);
        var c50 = Start(accumulate, ref c, 5 * cStride);
        var c60 = Start(accumulate, ref c, 6 * cStride);
        var c70 = Start(accumulate, ref c, 7 * cStride);
        nuint k = 0;
        for (int i = 0; i < depth; i++, k += depthStride)
        {
            var b0 = Vector512.LoadUnsafe(ref b);
            b = ref Unsafe.Add(ref b, bStride);
            var x0 = Vector512.Create(Unsafe.Add(ref a0, k));
            c00 = Vector512.FusedMultiplyAdd(x0, b0, c00);
            var x1 = Vector512.Create(Unsafe.Add(ref a1, k));
            c10 = Vector512.FusedMultiplyAdd(x1, b0, c10);
            var x2 = Vector512.Create(Unsafe.Add(ref a2, k));
            c20 = Vector512.FusedMultiplyAdd(x2, b0, c20);
            var x3 = Vector512.Create(Unsafe.Add(ref a3, k));
            c30 = Vector512.FusedMultiplyAdd(x3, b0, c30);
            var x4 = Vector512.Create(Unsafe.Add(ref a4, k));
            c40 = Vector512.FusedMultiplyAdd(x4, b0, c40);
            var x5 = Vector512.Create(Unsafe.Add(ref a5, k));
            c50 = Vector512.FusedMultiplyAdd(x5, b0, c50);
            var x6 = Vector512.Create(Unsafe.Add(ref a6, k));
            c60 = Vector512.FusedMultiplyAdd(x6, b0, c60);
            var x7 = Vector512.Create(Unsafe.Add(ref a7, k));
            c70 = Vector512.FusedMultiplyAdd(x7, b0, c70);
        }

        c00.StoreUnsafe(ref c, 0);
        c10.StoreUnsafe(ref Unsafe.Add(ref c, 1 * cStride), 0);
        c20.StoreUnsafe(ref Unsafe.Add(ref c, 2 * cStride), 0);
        c30.StoreUnsafe(ref Unsafe.Add(ref c, 3 * cStride), 0);
        c40.StoreUnsafe(ref Unsafe.Add(ref c, 4 * cStride), 0);
        c50.StoreUnsafe(ref Unsafe.Add(ref c, 5 * cStride), 0);
        c60.StoreUnsafe(ref Unsafe.Add(ref c, 6 * cStride), 0);
        c70.StoreUnsafe(ref Unsafe.Add(ref c, 7 * cStride), 0);
    }

    /// <summary>An accumulator's start: C's value there with <paramref name="accumulate"/>, else zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Start(bool accumulate, ref float c, nuint at) => accumulate ? Vector512.LoadUnsafe(ref c, at) : Vector512<float>.Zero;
}
