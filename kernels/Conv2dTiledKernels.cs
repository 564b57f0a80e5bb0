using ILGPU;

namespace JointDiffusion.Kernels;

/// <summary>
/// Stride-1 2-D convolution (zero padding, dilation, NCHW; the same geometry and flags as
/// <see cref="Conv2dKernels"/>) as implicit GEMMs tiled through shared memory. Each group computes a
/// BM × BN tile of a product C = A·B, staging BK-deep slices of A and B in shared memory between two
/// barriers, and each thread keeps a 4 × 4 block of C in registers (rows ty + i·TM, columns tx + j·TN,
/// so that neighbouring threads touch neighbouring shared and global addresses).
/// <list type="bullet">
/// <item>Forward: C = y[n, ·, ·, ·] with rows o (Cout), columns the output pixels of the whole batch, and the
/// reduction ordered tap-major, (p, q) outer and input channel c inner, so that a thread's image offset is
/// fixed over a tap and a slice of BK channels needs no index division:
/// y[n,o,i,j] = b[o] + Σ_{p,q} Σ_c w[o,c,p,q]·x[n, c, i − pad + p·dil, j − pad + q·dil].</item>
/// <item>Backward-data: the same kernel with the roles of x and y swapped and the taps mirrored, rows c (Cin),
/// reduction over (p, q, o): dx[n,c,h,v] (+)= Σ_{p,q} Σ_o w[o,c,p,q]·dy[n, o, h + pad − p·dil, v + pad − q·dil].</item>
/// <item>Backward-weight: for each tap (p, q) a GEMM dw[·,·,p,q] = dY·X_{p,q}ᵀ with rows o, columns c and the
/// reduction over the N·Ho·Wo output positions, optionally split into ranges whose partial sums
/// <see cref="SumSplits"/> adds in split order.</item>
/// </list>
/// Every output is a float sum in a fixed order set by the geometry and the <see cref="Tiling"/>, never by
/// thread timing, and nothing uses atomics: results are the same bits on every run of a given device. The
/// order differs from the direct kernels', so the two agree to rounding, not bit for bit.
/// </summary>
public static class Conv2dTiledKernels
{
    /// <summary>Rows and columns of C each thread accumulates in registers.</summary>
    public const int RegisterBlock = 4;

    /// <summary>
    /// Floats of shared memory every tiled kernel reserves: BK·(BM + 1 + BN + 1) for the largest tiling the
    /// backend launches (BK = 16 with a 16 × 256 tile; a 64 × 64 one needs less), about 17 KiB.
    /// </summary>
    public const int MaxTileFloats = 16 * (16 + 1 + 256 + 1);

    /// <summary>
    /// A group's thread layout and slice depth: ThreadsM × ThreadsN threads (the group size), a tile of
    /// BM = 4·ThreadsM rows by BN = 4·ThreadsN columns, and BK-deep slices of the reduction. Valid when every
    /// size is a power of two, BN and BK divide the group size, and the slices fit in
    /// <see cref="MaxTileFloats"/> (<see cref="IsValid"/>). A slice of A is stored BK rows of BM + 1 floats and
    /// one of B BK rows of BN + 1: threads that store down a column (consecutive k) then hit distinct banks.
    /// </summary>
    public readonly struct Tiling
    {
        /// <summary>Threads along the rows of C (TM).</summary>
        public readonly int ThreadsM;

        /// <summary>Threads along the columns of C (TN).</summary>
        public readonly int ThreadsN;

        /// <summary>Depth BK of a shared slice of the reduction.</summary>
        public readonly int Depth;

        /// <summary>Creates a tiling.</summary>
        public Tiling(int threadsM, int threadsN, int depth)
        {
            ThreadsM = threadsM;
            ThreadsN = threadsN;
            Depth = depth;
        }

        /// <summary>Group size TM·TN.</summary>
        public int Threads => ThreadsM * ThreadsN;

        /// <summary>Tile rows BM.</summary>
        public int BlockM => RegisterBlock * ThreadsM;

        /// <summary>Tile columns BN.</summary>
        public int BlockN => RegisterBlock * ThreadsN;

        /// <summary>Row stride of a shared slice of A: BM + 1.</summary>
        public int StrideA => BlockM + 1;

        /// <summary>Row stride of a shared slice of B: BN + 1.</summary>
        public int StrideB => BlockN + 1;

        /// <summary>Floats of shared memory one slice of A and B takes: BK·(BM + 1 + BN + 1).</summary>
        public int SharedFloats => Depth * (StrideA + StrideB);

        /// <summary>Whether the kernels accept this tiling (see the type's summary).</summary>
        public bool IsValid =>
            IsPowerOfTwo(ThreadsM) && IsPowerOfTwo(ThreadsN) && IsPowerOfTwo(Depth)
            && BlockN <= Threads && Depth <= Threads && SharedFloats <= MaxTileFloats;

        private static bool IsPowerOfTwo(int v) => v > 0 && (v & (v - 1)) == 0;
    }

    /// <summary>
    /// y = conv(x, w) + b. Grid: ⌈Cout/BM⌉·⌈N·Ho·Wo/BN⌉ groups of <see cref="Tiling.Threads"/> threads
    /// (b is read only with <see cref="Conv2dKernels.HasBias"/>).
    /// </summary>
    public static void Forward(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> y, Conv2dKernels.Geometry g, Tiling t)
    {
        int kk = g.Kernel * g.Kernel;
        var gemm = new GatherGemm(
            rows: g.OutChannels, reduced: g.InChannels, batch: g.Batch,
            inHeight: g.Height, inWidth: g.Width, outHeight: g.OutHeight, outWidth: g.OutWidth,
            kernel: g.Kernel, dilation: g.Dilation, shift: -g.Padding, sign: 1,
            rowStride: g.InChannels * kk, reducedStride: kk,
            bias: (g.Flags & Conv2dKernels.HasBias) != 0, accumulate: false);
        GatherProduct(x, w, b, y, gemm, t);
    }

    /// <summary>
    /// dx (+)= the transposed convolution of dy. Grid: ⌈Cin/BM⌉·⌈N·H·W/BN⌉ groups of
    /// <see cref="Tiling.Threads"/> threads; <see cref="Conv2dKernels.Accumulate"/> adds into dx.
    /// </summary>
    public static void BackwardData(ArrayView<float> dy, ArrayView<float> w, ArrayView<float> dx, Conv2dKernels.Geometry g, Tiling t)
    {
        int kk = g.Kernel * g.Kernel;
        // dx is the "output" of a gather over dy: the image offsets run backwards (h + pad − p·dil) and the
        // weight's row (c) and reduced (o) strides trade places.
        var gemm = new GatherGemm(
            rows: g.InChannels, reduced: g.OutChannels, batch: g.Batch,
            inHeight: g.OutHeight, inWidth: g.OutWidth, outHeight: g.Height, outWidth: g.Width,
            kernel: g.Kernel, dilation: g.Dilation, shift: g.Padding, sign: -1,
            rowStride: kk, reducedStride: g.InChannels * kk,
            bias: false, accumulate: (g.Flags & Conv2dKernels.Accumulate) != 0);
        GatherProduct(dy, w, dy, dx, gemm, t);
    }

    /// <summary>
    /// dw[o,c,p,q] = Σ dy[n,o,i,j]·x[n, c, i − pad + p·dil, j − pad + q·dil] over the output positions
    /// s = (n, i, j) of split range [split·<paramref name="splitLength"/>, (split + 1)·splitLength), written to
    /// output[split·|dw| + (o·Cin + c)·K² + p·K + q] (added to it with <see cref="Conv2dKernels.Accumulate"/>).
    /// Grid: ⌈Cout/BM⌉·⌈Cin/BN⌉·K²·splits groups of <see cref="Tiling.Threads"/> threads.
    /// </summary>
    public static void BackwardWeight(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> output, Conv2dKernels.Geometry g, Tiling t, int splitLength)
    {
        var shared = SharedMemory.Allocate<float>(MaxTileFloats);
        int tid = Group.IdxX, bm = t.BlockM, bn = t.BlockN, bk = t.Depth, threads = t.Threads;
        int tilesM = (g.OutChannels + bm - 1) / bm, tilesN = (g.InChannels + bn - 1) / bn, taps = g.Kernel * g.Kernel;
        int group = Grid.IdxX;
        int tileN = group % tilesN;
        group /= tilesN;
        int tileM = group % tilesM;
        group /= tilesM;
        int tap = group % taps, split = group / taps;
        int m0 = tileM * bm, n0 = tileN * bn;
        int di = tap / g.Kernel * g.Dilation - g.Padding, dj = tap % g.Kernel * g.Dilation - g.Padding;

        int ohw = g.OutHeight * g.OutWidth, hw = g.Height * g.Width;
        int sBegin = split * splitLength, sEnd = Math.Min(g.Batch * ohw, sBegin + splitLength);
        int sa = t.StrideA, sb = t.StrideB;
        var a = shared.SubView(0, bk * sa);
        var bs = shared.SubView(bk * sa, bk * sb);

        // Each thread loads reduction position k of the slice for rows tid/BK, tid/BK + T/BK, … of A and B.
        int k = tid % bk, lane = tid / bk, laneStep = threads / bk;
        int ty = tid / t.ThreadsN, tx = tid % t.ThreadsN;
        var acc = default(Block4x4);
        for (int s0 = sBegin; s0 < sEnd; s0 += bk)
        {
            int s = s0 + k;
            bool live = s < sEnd;
            int n = live ? s / ohw : 0, pixel = s - n * ohw;
            int i = pixel / g.OutWidth, j = pixel - i * g.OutWidth;
            int ii = i + di, jj = j + dj;
            bool inside = live && (uint)ii < (uint)g.Height && (uint)jj < (uint)g.Width;
            int dyBase = n * g.OutChannels * ohw + pixel, xBase = n * g.InChannels * hw + ii * g.Width + jj;
            for (int m = lane; m < bm; m += laneStep)
            {
                int o = m0 + m;
                a[k * sa + m] = live && o < g.OutChannels ? dy[dyBase + o * ohw] : 0f;
            }

            for (int c = lane; c < bn; c += laneStep)
            {
                int ch = n0 + c;
                bs[k * sb + c] = inside && ch < g.InChannels ? x[xBase + ch * hw] : 0f;
            }

            Group.Barrier();
            acc.MultiplyAddSlice(a, bs, t, ty, tx);
            Group.Barrier();
        }

        bool accumulate = (g.Flags & Conv2dKernels.Accumulate) != 0;
        int outBase = split * g.OutChannels * g.InChannels * taps + tap;
        for (int r = 0; r < RegisterBlock; r++)
        {
            int o = m0 + ty + r * t.ThreadsM;
            if (o >= g.OutChannels)
            {
                continue;
            }

            for (int col = 0; col < RegisterBlock; col++)
            {
                int c = n0 + tx + col * t.ThreadsN;
                if (c < g.InChannels)
                {
                    int e = outBase + (o * g.InChannels + c) * taps;
                    float v = acc.Get(r, col);
                    output[e] = accumulate ? output[e] + v : v;
                }
            }
        }
    }

    /// <summary>
    /// dw[e] (+)= Σ_{s &lt; splits} partials[s·|dw| + e], the split sums added in split order; one thread per
    /// element of dw (<paramref name="flags"/>: <see cref="Conv2dKernels.Accumulate"/>).
    /// </summary>
    public static void SumSplits(Index1D index, ArrayView<float> partials, ArrayView<float> dw, int splits, int flags)
    {
        int e = index;
        int length = dw.IntLength;
        if (e >= length)
        {
            return;
        }

        float total = 0f;
        for (int s = 0; s < splits; s++)
        {
            total += partials[s * length + e];
        }

        dw[e] = (flags & Conv2dKernels.Accumulate) != 0 ? dw[e] + total : total;
    }

    /// <summary>
    /// The gather-GEMM both <see cref="Forward"/> and <see cref="BackwardData"/> run:
    /// out[n, m, pixel] (+)= bias[m] + Σ_{p,q} Σ_k w[m·rowStride + k·reducedStride + p·K + q]·in[n, k, pixel + tap offset].
    /// </summary>
    private static void GatherProduct(ArrayView<float> input, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> output, GatherGemm s, Tiling t)
    {
        var shared = SharedMemory.Allocate<float>(MaxTileFloats);
        int tid = Group.IdxX, bm = t.BlockM, bn = t.BlockN, bk = t.Depth, threads = t.Threads;
        int outPlane = s.OutHeight * s.OutWidth, inPlane = s.InHeight * s.InWidth;
        int columns = s.Batch * outPlane;
        int tilesN = (columns + bn - 1) / bn;
        int m0 = Grid.IdxX / tilesN * bm, n0 = Grid.IdxX % tilesN * bn;
        int sa = t.StrideA, sb = t.StrideB;
        var a = shared.SubView(0, bk * sa);
        var bs = shared.SubView(bk * sa, bk * sb);

        // B: each thread loads one column (output pixel) of every slice, at depths tid/BN, tid/BN + T/BN, …
        int column = tid % bn, depthLane = tid / bn, depthStep = threads / bn;
        int pixelIndex = n0 + column;
        bool columnLive = pixelIndex < columns;
        int n = columnLive ? pixelIndex / outPlane : 0, pixel = pixelIndex - n * outPlane;
        int i = pixel / s.OutWidth, j = pixel - i * s.OutWidth;
        int inputBatch = n * s.Reduced * inPlane;

        // A: each thread loads one reduced index of every slice, for rows tid/BK, tid/BK + T/BK, …
        int k = tid % bk, rowLane = tid / bk, rowStep = threads / bk;
        int ty = tid / t.ThreadsN, tx = tid % t.ThreadsN;
        var acc = default(Block4x4);
        int taps = s.Kernel * s.Kernel;
        for (int tap = 0; tap < taps; tap++)
        {
            int p = tap / s.Kernel, q = tap - p * s.Kernel;
            int ii = i + s.Shift + s.Sign * p * s.Dilation, jj = j + s.Shift + s.Sign * q * s.Dilation;
            bool inside = columnLive && (uint)ii < (uint)s.InHeight && (uint)jj < (uint)s.InWidth;
            int inputBase = inputBatch + ii * s.InWidth + jj;
            for (int k0 = 0; k0 < s.Reduced; k0 += bk)
            {
                int kA = k0 + k;
                for (int m = rowLane; m < bm; m += rowStep)
                {
                    int row = m0 + m;
                    a[k * sa + m] = row < s.Rows && kA < s.Reduced ? w[row * s.RowStride + kA * s.ReducedStride + tap] : 0f;
                }

                for (int d = depthLane; d < bk; d += depthStep)
                {
                    int kB = k0 + d;
                    bs[d * sb + column] = inside && kB < s.Reduced ? input[inputBase + kB * inPlane] : 0f;
                }

                Group.Barrier();
                acc.MultiplyAddSlice(a, bs, t, ty, tx);
                Group.Barrier();
            }
        }

        for (int r = 0; r < RegisterBlock; r++)
        {
            int row = m0 + ty + r * t.ThreadsM;
            if (row >= s.Rows)
            {
                continue;
            }

            float add = s.Bias ? bias[row] : 0f;
            for (int col = 0; col < RegisterBlock; col++)
            {
                int pi = n0 + tx + col * t.ThreadsN;
                if (pi < columns)
                {
                    int pn = pi / outPlane;
                    int e = (pn * s.Rows + row) * outPlane + pi - pn * outPlane;
                    float v = acc.Get(r, col);
                    output[e] = s.Accumulate ? output[e] + v : s.Bias ? v + add : v;
                }
            }
        }
    }

    /// <summary>The shapes and index maps of one <see cref="GatherProduct"/>.</summary>
    private readonly struct GatherGemm
    {
        public readonly int Rows, Reduced, Batch, InHeight, InWidth, OutHeight, OutWidth, Kernel, Dilation, Shift, Sign, RowStride, ReducedStride;
        public readonly bool Bias, Accumulate;

        public GatherGemm(int rows, int reduced, int batch, int inHeight, int inWidth, int outHeight, int outWidth, int kernel, int dilation,
            int shift, int sign, int rowStride, int reducedStride, bool bias, bool accumulate)
        {
            Rows = rows;
            Reduced = reduced;
            Batch = batch;
            InHeight = inHeight;
            InWidth = inWidth;
            OutHeight = outHeight;
            OutWidth = outWidth;
            Kernel = kernel;
            Dilation = dilation;
            Shift = shift;
            Sign = sign;
            RowStride = rowStride;
            ReducedStride = reducedStride;
            Bias = bias;
            Accumulate = accumulate;
        }
    }

    /// <summary>A thread's 4 × 4 register block of C, as sixteen scalars so that a GPU keeps them in registers.</summary>
    private struct Block4x4
    {
        private float _c00, _c01, _c02, _c03, _c10, _c11, _c12, _c13, _c20, _c21, _c22, _c23, _c30, _c31, _c32, _c33;

        /// <summary>C += A[:, slice]·B[slice, :] over one shared slice, in slice order.</summary>
        public void MultiplyAddSlice(ArrayView<float> a, ArrayView<float> b, Tiling t, int ty, int tx)
        {
            int sa = t.StrideA, sb = t.StrideB, tm = t.ThreadsM, tn = t.ThreadsN;
            for (int d = 0; d < t.Depth; d++)
            {
                int ra = d * sa + ty, rb = d * sb + tx;
                float a0 = a[ra], a1 = a[ra + tm], a2 = a[ra + 2 * tm], a3 = a[ra + 3 * tm];
                float b0 = b[rb], b1 = b[rb + tn], b2 = b[rb + 2 * tn], b3 = b[rb + 3 * tn];
                _c00 += a0 * b0;
                _c01 += a0 * b1;
                _c02 += a0 * b2;
                _c03 += a0 * b3;
                _c10 += a1 * b0;
                _c11 += a1 * b1;
                _c12 += a1 * b2;
                _c13 += a1 * b3;
                _c20 += a2 * b0;
                _c21 += a2 * b1;
                _c22 += a2 * b2;
                _c23 += a2 * b3;
                _c30 += a3 * b0;
                _c31 += a3 * b1;
                _c32 += a3 * b2;
                _c33 += a3 * b3;
            }
        }

        /// <summary>Element (r, c) of the block.</summary>
        public readonly float Get(int r, int c) => (r * RegisterBlock + c) switch
        {
            0 => _c00,
            1 => _c01,
            2 => _c02,
            3 => _c03,
            4 => _c10,
            5 => _c11,
            6 => _c12,
            7 => _c13,
            8 => _c20,
            9 => _c21,
            10 => _c22,
            11 => _c23,
            12 => _c30,
            13 => _c31,
            14 => _c32,
            _ => _c33,
        };
    }
}
