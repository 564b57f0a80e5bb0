using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// 1x1 unpadded convolutions (NCSNv2's shortcut convolutions) on AVX-512 as plain matrix products per sample, read from
/// and written to the NCHW arrays in place: destination[s][r][p] (+)= Σ_d A[r][d]·source[s][d][p] (+ bias[r]), with
/// A = weight[o][i] for the forward (r = o, d = i) and its transpose for backward-data (r = i, d = o).
/// </summary>
/// <remarks>
/// The general direct kernels run a 1x1 convolution through their padded copy of the source and their tile stores,
/// which cost more than its few multiply-adds (32→64 at 32x32, batch 8: 40–66 GFLOP/s; benchmarks/RESULTS.md §9).
/// Here a work item is one sample's run of 96 pixels (6 vectors, in L1 across its rows) through every block of 4
/// rows: per depth step 6 loads, 4 broadcasts and 24 multiply-adds. Each output sums its depth in order, so the result
/// does not depend on the thread count.
/// </remarks>
internal static class SimdConv1x1
{
    private const int Lanes = 16;

    /// <summary>Pixel vectors per register block.</summary>
    private const int Vectors = 6;

    /// <summary>Rows per register block.</summary>
    private const int Rows = 4;

    /// <summary>Whether a convolution is one of these: 1x1, no padding, and AVX-512 here.</summary>
    public static bool Applies(int kernel, int pad) => Vector512.IsHardwareAccelerated && kernel == 1 && pad == 0;

    /// <summary>y[s][o] = Σ_i weight[o][i]·x[s][i] + bias[o].</summary>
    public static void Forward(float[] x, float[] weight, float[]? bias, float[] y, int n, int cin, int cout, int pixels) =>
        Run(new Product(x, weight, (nuint)cin, 1, bias, y, n, cout, cin, pixels, accumulate: false));

    /// <summary>dx[s][i] (+)= Σ_o weight[o][i]·dy[s][o].</summary>
    public static void BackwardData(float[] dy, float[] weight, float[] dx, int n, int cin, int cout, int pixels, bool accumulate) =>
        Run(new Product(dy, weight, 1, (nuint)cin, null, dx, n, cin, cout, pixels, accumulate));

    private static void Run(in Product product)
    {
        if (product.Pixels == 0 || product.RowCount == 0 || product.Samples == 0)
        {
            return;
        }

        SimdWorkers.Shared.For(product.Samples * product.Chunks, product);
    }

    /// <summary>
    /// destination[s][r][p] (+)= Σ_d A[r][d]·source[s][d][p] (+ bias[r]) with A[r][d] at a[r·rowStride + d·depthStride];
    /// item = (sample, chunk of <see cref="Vectors"/>·16 pixels).
    /// </summary>
    private readonly struct Product(float[] source, float[] a, nuint rowStride, nuint depthStride, float[]? bias, float[] destination,
        int samples, int rowCount, int depth, int pixels, bool accumulate) : IParallelBody
    {
        public int Samples => samples;

        public int RowCount => rowCount;

        public int Pixels => pixels;

        public int Chunks => (pixels + Vectors * Lanes - 1) / (Vectors * Lanes);

        [SkipLocalsInit]
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int item)
        {
            int s = item / Chunks, p0 = item % Chunks * Vectors * Lanes;
            int width = Math.Min(Vectors * Lanes, pixels - p0), whole = width / Lanes;
            ref float src = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(source), (nint)s * depth * pixels + p0);
            ref float dst = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(destination), (nint)s * rowCount * pixels + p0);
            ref float a0 = ref MemoryMarshal.GetArrayDataReference(a);
            Span<float> block = stackalloc float[Rows * Vectors * Lanes];
            ref float sums = ref MemoryMarshal.GetReference(block);
            for (int r = 0; r < rowCount; r += Rows)
            {
                // Rows past the end repeat the last one; their sums are not stored.
                nuint r0 = (nuint)Math.Min(r, rowCount - 1) * rowStride, r1 = (nuint)Math.Min(r + 1, rowCount - 1) * rowStride;
                nuint r2 = (nuint)Math.Min(r + 2, rowCount - 1) * rowStride, r3 = (nuint)Math.Min(r + 3, rowCount - 1) * rowStride;
                if (whole == Vectors)
                {
                    Block6(ref src, (nuint)pixels, depth, ref a0, r0, r1, r2, r3, depthStride, ref sums);
                }
                else
                {
                    BlockNarrow(ref src, (nuint)pixels, depth, width, ref a0, r0, r1, r2, r3, depthStride, ref sums);
                }

                for (int row = r; row < Math.Min(r + Rows, rowCount); row++)
                {
                    Store(ref Unsafe.Add(ref sums, (row - r) * Vectors * Lanes), width, bias is null ? 0f : bias[row],
                        ref Unsafe.Add(ref dst, (nint)row * pixels), accumulate);
                }
            }
        }
    }

    /// <summary>target[p] (+)= sums[p] + bias for p &lt; width: whole vectors, then the lanes past them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ref float sums, int width, float bias, ref float target, bool accumulate)
    {
        var b = Vector512.Create(bias);
        int p = 0;
        for (; p + Lanes <= width; p += Lanes)
        {
            var value = Vector512.LoadUnsafe(ref sums, (nuint)p) + b;
            (accumulate ? Vector512.LoadUnsafe(ref target, (nuint)p) + value : value).StoreUnsafe(ref target, (nuint)p);
        }

        for (; p < width; p++)
        {
            float value = Unsafe.Add(ref sums, p) + bias;
            Unsafe.Add(ref target, p) = accumulate ? Unsafe.Add(ref target, p) + value : value;
        }
    }

    /// <summary>sums[q][16j + l] = Σ_d A[row q][d]·source[d][16j + l] for 4 rows and 6 whole vectors.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block6(ref float source, nuint pixels, int depth, ref float a, nuint r0, nuint r1, nuint r2, nuint r3, nuint depthStride,
        ref float sums)
    {
        const int L = Lanes;
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default, c04 = default, c05 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default, c14 = default, c15 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default, c24 = default, c25 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default, c34 = default, c35 = default;
        for (int d = 0; d < depth; d++)
        {
            var x0 = Vector512.LoadUnsafe(ref source, 0 * L);
            var x1 = Vector512.LoadUnsafe(ref source, 1 * L);
            var x2 = Vector512.LoadUnsafe(ref source, 2 * L);
            var x3 = Vector512.LoadUnsafe(ref source, 3 * L);
            var x4 = Vector512.LoadUnsafe(ref source, 4 * L);
            var x5 = Vector512.LoadUnsafe(ref source, 5 * L);
            source = ref Unsafe.Add(ref source, pixels);
            var w = Vector512.Create(Unsafe.Add(ref a, r0));
            c00 = Vector512.FusedMultiplyAdd(x0, w, c00);
            c01 = Vector512.FusedMultiplyAdd(x1, w, c01);
            c02 = Vector512.FusedMultiplyAdd(x2, w, c02);
            c03 = Vector512.FusedMultiplyAdd(x3, w, c03);
            c04 = Vector512.FusedMultiplyAdd(x4, w, c04);
            c05 = Vector512.FusedMultiplyAdd(x5, w, c05);
            w = Vector512.Create(Unsafe.Add(ref a, r1));
            c10 = Vector512.FusedMultiplyAdd(x0, w, c10);
            c11 = Vector512.FusedMultiplyAdd(x1, w, c11);
            c12 = Vector512.FusedMultiplyAdd(x2, w, c12);
            c13 = Vector512.FusedMultiplyAdd(x3, w, c13);
            c14 = Vector512.FusedMultiplyAdd(x4, w, c14);
            c15 = Vector512.FusedMultiplyAdd(x5, w, c15);
            w = Vector512.Create(Unsafe.Add(ref a, r2));
            c20 = Vector512.FusedMultiplyAdd(x0, w, c20);
            c21 = Vector512.FusedMultiplyAdd(x1, w, c21);
            c22 = Vector512.FusedMultiplyAdd(x2, w, c22);
            c23 = Vector512.FusedMultiplyAdd(x3, w, c23);
            c24 = Vector512.FusedMultiplyAdd(x4, w, c24);
            c25 = Vector512.FusedMultiplyAdd(x5, w, c25);
            w = Vector512.Create(Unsafe.Add(ref a, r3));
            c30 = Vector512.FusedMultiplyAdd(x0, w, c30);
            c31 = Vector512.FusedMultiplyAdd(x1, w, c31);
            c32 = Vector512.FusedMultiplyAdd(x2, w, c32);
            c33 = Vector512.FusedMultiplyAdd(x3, w, c33);
            c34 = Vector512.FusedMultiplyAdd(x4, w, c34);
            c35 = Vector512.FusedMultiplyAdd(x5, w, c35);
            a = ref Unsafe.Add(ref a, depthStride);
        }

        const int R = Vectors * L;
        c00.StoreUnsafe(ref sums, 0 * L);
        c01.StoreUnsafe(ref sums, 1 * L);
        c02.StoreUnsafe(ref sums, 2 * L);
        c03.StoreUnsafe(ref sums, 3 * L);
        c04.StoreUnsafe(ref sums, 4 * L);
        c05.StoreUnsafe(ref sums, 5 * L);
        c10.StoreUnsafe(ref sums, R + 0 * L);
        c11.StoreUnsafe(ref sums, R + 1 * L);
        c12.StoreUnsafe(ref sums, R + 2 * L);
        c13.StoreUnsafe(ref sums, R + 3 * L);
        c14.StoreUnsafe(ref sums, R + 4 * L);
        c15.StoreUnsafe(ref sums, R + 5 * L);
        c20.StoreUnsafe(ref sums, 2 * R + 0 * L);
        c21.StoreUnsafe(ref sums, 2 * R + 1 * L);
        c22.StoreUnsafe(ref sums, 2 * R + 2 * L);
        c23.StoreUnsafe(ref sums, 2 * R + 3 * L);
        c24.StoreUnsafe(ref sums, 2 * R + 4 * L);
        c25.StoreUnsafe(ref sums, 2 * R + 5 * L);
        c30.StoreUnsafe(ref sums, 3 * R + 0 * L);
        c31.StoreUnsafe(ref sums, 3 * R + 1 * L);
        c32.StoreUnsafe(ref sums, 3 * R + 2 * L);
        c33.StoreUnsafe(ref sums, 3 * R + 3 * L);
        c34.StoreUnsafe(ref sums, 3 * R + 4 * L);
        c35.StoreUnsafe(ref sums, 3 * R + 5 * L);
    }

    /// <summary>As <see cref="Block6"/> for the last, narrower run of a plane: whole vectors, then the lanes past them one by one.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BlockNarrow(ref float source, nuint pixels, int depth, int width, ref float a, nuint r0, nuint r1, nuint r2, nuint r3,
        nuint depthStride, ref float sums)
    {
        const int R = Vectors * Lanes;
        int whole = width / Lanes;
        for (int j = 0; j < whole; j++)
        {
            Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
            ref float x = ref Unsafe.Add(ref source, j * Lanes);
            ref float w = ref a;
            for (int d = 0; d < depth; d++)
            {
                var v = Vector512.LoadUnsafe(ref x);
                c0 = Vector512.FusedMultiplyAdd(v, Vector512.Create(Unsafe.Add(ref w, r0)), c0);
                c1 = Vector512.FusedMultiplyAdd(v, Vector512.Create(Unsafe.Add(ref w, r1)), c1);
                c2 = Vector512.FusedMultiplyAdd(v, Vector512.Create(Unsafe.Add(ref w, r2)), c2);
                c3 = Vector512.FusedMultiplyAdd(v, Vector512.Create(Unsafe.Add(ref w, r3)), c3);
                x = ref Unsafe.Add(ref x, pixels);
                w = ref Unsafe.Add(ref w, depthStride);
            }

            c0.StoreUnsafe(ref sums, (nuint)(j * Lanes));
            c1.StoreUnsafe(ref sums, (nuint)(R + j * Lanes));
            c2.StoreUnsafe(ref sums, (nuint)(2 * R + j * Lanes));
            c3.StoreUnsafe(ref sums, (nuint)(3 * R + j * Lanes));
        }

        for (int p = whole * Lanes; p < width; p++)
        {
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            ref float x = ref Unsafe.Add(ref source, p);
            ref float w = ref a;
            for (int d = 0; d < depth; d++)
            {
                float v = x;
                s0 = MathF.FusedMultiplyAdd(v, Unsafe.Add(ref w, r0), s0);
                s1 = MathF.FusedMultiplyAdd(v, Unsafe.Add(ref w, r1), s1);
                s2 = MathF.FusedMultiplyAdd(v, Unsafe.Add(ref w, r2), s2);
                s3 = MathF.FusedMultiplyAdd(v, Unsafe.Add(ref w, r3), s3);
                x = ref Unsafe.Add(ref x, pixels);
                w = ref Unsafe.Add(ref w, depthStride);
            }

            Unsafe.Add(ref sums, p) = s0;
            Unsafe.Add(ref sums, R + p) = s1;
            Unsafe.Add(ref sums, 2 * R + p) = s2;
            Unsafe.Add(ref sums, 3 * R + p) = s3;
        }
    }
}
