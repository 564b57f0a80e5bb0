using ILGPU;

namespace JointDiffusion.Kernels;

/// <summary>
/// Stride-1 2-D convolution with zero padding and dilation, NCHW: x [N, Cin, H, W], w [Cout, Cin, K, K],
/// y [N, Cout, Ho, Wo], y[n,o,i,j] = b[o] + Σ_{c,p,q} w[o,c,p,q]·x[n, c, i − pad + p·dil, j − pad + q·dil].
/// Direct versions: one thread per output element; backward-data is a gather over the outputs each
/// input element feeds, backward-weight one thread per weight element reducing over N·Ho·Wo, the bias
/// gradient one group per output channel with a deterministic group sum. No atomics. The backend runs the
/// tiled shared-memory kernels of <see cref="Conv2dTiledKernels"/> where the device takes a tile and keeps
/// these as the fallback (and for the bias gradient always).
/// </summary>
public static class Conv2dKernels
{
    /// <summary>Bit of <see cref="Geometry.Flags"/>: a bias is present (forward).</summary>
    public const int HasBias = 1;

    /// <summary>Bit of <see cref="Geometry.Flags"/>: add into the output instead of overwriting it (backward).</summary>
    public const int Accumulate = 2;

    /// <summary>Shapes and geometry of one convolution.</summary>
    public readonly struct Geometry
    {
        /// <summary>Batch size N.</summary>
        public readonly int Batch;

        /// <summary>Input channels.</summary>
        public readonly int InChannels;

        /// <summary>Input height.</summary>
        public readonly int Height;

        /// <summary>Input width.</summary>
        public readonly int Width;

        /// <summary>Output channels.</summary>
        public readonly int OutChannels;

        /// <summary>Kernel size K.</summary>
        public readonly int Kernel;

        /// <summary>Output height Ho = H + 2·pad − dil·(K − 1).</summary>
        public readonly int OutHeight;

        /// <summary>Output width Wo = W + 2·pad − dil·(K − 1).</summary>
        public readonly int OutWidth;

        /// <summary>Zero padding on each side.</summary>
        public readonly int Padding;

        /// <summary>Dilation.</summary>
        public readonly int Dilation;

        /// <summary>Combination of <see cref="HasBias"/> and <see cref="Accumulate"/>.</summary>
        public readonly int Flags;

        /// <summary>Creates the geometry; output sizes follow from the others.</summary>
        public Geometry(int batch, int inChannels, int height, int width, int outChannels, int kernel, int padding, int dilation, int flags)
        {
            Batch = batch;
            InChannels = inChannels;
            Height = height;
            Width = width;
            OutChannels = outChannels;
            Kernel = kernel;
            Padding = padding;
            Dilation = dilation;
            OutHeight = height + 2 * padding - dilation * (kernel - 1);
            OutWidth = width + 2 * padding - dilation * (kernel - 1);
            Flags = flags;
        }
    }

    /// <summary>y = conv(x, w) + b, one thread per output element (b is read only with <see cref="HasBias"/>).</summary>
    public static void Forward(Index1D index, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> y, Geometry g)
    {
        int e = index;
        if (e >= y.IntLength)
        {
            return;
        }

        int j = e % g.OutWidth, t = e / g.OutWidth;
        int i = t % g.OutHeight;
        t /= g.OutHeight;
        int o = t % g.OutChannels, n = t / g.OutChannels;
        int k = g.Kernel, hw = g.Height * g.Width;
        float acc = 0f;
        for (int c = 0; c < g.InChannels; c++)
        {
            int xPlane = (n * g.InChannels + c) * hw;
            int wBase = (o * g.InChannels + c) * k * k;
            for (int p = 0; p < k; p++)
            {
                int ii = i - g.Padding + p * g.Dilation;
                if ((uint)ii >= (uint)g.Height)
                {
                    continue;
                }

                for (int q = 0; q < k; q++)
                {
                    int jj = j - g.Padding + q * g.Dilation;
                    if ((uint)jj < (uint)g.Width)
                    {
                        acc += x[xPlane + ii * g.Width + jj] * w[wBase + p * k + q];
                    }
                }
            }
        }

        y[e] = (g.Flags & HasBias) != 0 ? acc + b[o] : acc;
    }

    /// <summary>
    /// dx[n,c,h,v] (+)= Σ_{o,p,q} dy[n, o, h + pad − p·dil, v + pad − q·dil]·w[o,c,p,q] over the outputs that
    /// exist: a gather, one thread per input element.
    /// </summary>
    public static void BackwardData(Index1D index, ArrayView<float> dy, ArrayView<float> w, ArrayView<float> dx, Geometry g)
    {
        int e = index;
        if (e >= dx.IntLength)
        {
            return;
        }

        int v = e % g.Width, t = e / g.Width;
        int h = t % g.Height;
        t /= g.Height;
        int c = t % g.InChannels, n = t / g.InChannels;
        int k = g.Kernel, ohw = g.OutHeight * g.OutWidth;
        float acc = 0f;
        for (int o = 0; o < g.OutChannels; o++)
        {
            int yPlane = (n * g.OutChannels + o) * ohw;
            int wBase = (o * g.InChannels + c) * k * k;
            for (int p = 0; p < k; p++)
            {
                int i = h + g.Padding - p * g.Dilation;
                if ((uint)i >= (uint)g.OutHeight)
                {
                    continue;
                }

                for (int q = 0; q < k; q++)
                {
                    int j = v + g.Padding - q * g.Dilation;
                    if ((uint)j < (uint)g.OutWidth)
                    {
                        acc += dy[yPlane + i * g.OutWidth + j] * w[wBase + p * k + q];
                    }
                }
            }
        }

        dx[e] = (g.Flags & Accumulate) != 0 ? dx[e] + acc : acc;
    }

    /// <summary>
    /// dw[o,c,p,q] (+)= Σ_{n,i,j} dy[n,o,i,j]·x[n, c, i − pad + p·dil, j − pad + q·dil], one thread per weight
    /// element looping over the output positions whose tap lands inside the input.
    /// </summary>
    public static void BackwardWeight(Index1D index, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dw, Geometry g)
    {
        int e = index;
        if (e >= dw.IntLength)
        {
            return;
        }

        int k = g.Kernel;
        int q = e % k, t = e / k;
        int p = t % k;
        t /= k;
        int c = t % g.InChannels, o = t / g.InChannels;
        int di = p * g.Dilation - g.Padding, dj = q * g.Dilation - g.Padding;
        // Output rows i with 0 ≤ i + di < H, columns j with 0 ≤ j + dj < W.
        int iFirst = Math.Max(0, -di), iEnd = Math.Min(g.OutHeight, g.Height - di);
        int jFirst = Math.Max(0, -dj), jEnd = Math.Min(g.OutWidth, g.Width - dj);
        int hw = g.Height * g.Width, ohw = g.OutHeight * g.OutWidth;
        float acc = 0f;
        for (int n = 0; n < g.Batch; n++)
        {
            int xPlane = (n * g.InChannels + c) * hw;
            int yPlane = (n * g.OutChannels + o) * ohw;
            for (int i = iFirst; i < iEnd; i++)
            {
                int xRow = xPlane + (i + di) * g.Width + dj;
                int yRow = yPlane + i * g.OutWidth;
                for (int j = jFirst; j < jEnd; j++)
                {
                    acc += dy[yRow + j] * x[xRow + j];
                }
            }
        }

        dw[e] = (g.Flags & Accumulate) != 0 ? dw[e] + acc : acc;
    }

    /// <summary>db[o] (+)= Σ_{n,i,j} dy[n,o,i,j], one group per output channel (grid = Cout groups).</summary>
    public static void BackwardBias(ArrayView<float> dy, ArrayView<float> db, Geometry g)
    {
        var shared = SharedMemory.Allocate<float>(ReductionKernels.MaxGroupSize);
        int o = Grid.IdxX;
        if (o >= g.OutChannels)
        {
            return; // uniform over the group, so no thread misses a barrier
        }

        int ohw = g.OutHeight * g.OutWidth, count = g.Batch * ohw;
        float acc = 0f;
        for (int e = Group.IdxX; e < count; e += Group.DimX)
        {
            int n = e / ohw;
            acc += dy[(n * g.OutChannels + o) * ohw + e - n * ohw];
        }

        float total = GroupReduction.Sum(acc, shared);
        if (Group.IdxX == 0)
        {
            db[o] = (g.Flags & Accumulate) != 0 ? db[o] + total : total;
        }
    }
}
