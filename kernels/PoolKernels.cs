using ILGPU;

namespace JointDiffusion.Kernels;

/// <summary>
/// 2×2 mean pooling and K×K stride-1 max pooling (padding K/2 with −∞, ties to the first maximum in
/// row-major window order, a NaN wins at once, as in PyTorch), forward and backward. Backward passes are
/// gathers — each input element sums what reaches it — so no atomics are needed.
/// </summary>
public static class PoolKernels
{
    /// <summary>Plane geometry of a pool: the input (= max-pool output) height and width and the max-pool radius K/2.</summary>
    public readonly struct Geometry
    {
        /// <summary>Input height.</summary>
        public readonly int Height;

        /// <summary>Input width.</summary>
        public readonly int Width;

        /// <summary>Max-pool window radius K/2 (unused by the mean pool).</summary>
        public readonly int Radius;

        /// <summary>Creates the geometry.</summary>
        public Geometry(int height, int width, int radius)
        {
            Height = height;
            Width = width;
            Radius = radius;
        }
    }

    /// <summary>y[p, i, j] = mean of x[p, 2i..2i+1, 2j..2j+1], one thread per output element.</summary>
    public static void MeanPool2x2Forward(Index1D index, ArrayView<float> x, ArrayView<float> y, Geometry g)
    {
        int o = index;
        if (o >= y.IntLength)
        {
            return;
        }

        int wo = g.Width / 2, ho = g.Height / 2;
        int j = o % wo, t = o / wo;
        int i = t % ho, plane = t / ho;
        int p = plane * g.Height * g.Width + 2 * i * g.Width + 2 * j;
        // Summed in PyTorch NCSNv2's order: [::2,::2] + [1::2,::2] + [::2,1::2] + [1::2,1::2].
        y[o] = (x[p] + x[p + g.Width] + x[p + 1] + x[p + g.Width + 1]) / 4f;
    }

    /// <summary>dx (+)= dy/4 of the window each input element belongs to, one thread per input element.</summary>
    public static void MeanPool2x2Backward(Index1D index, ArrayView<float> dy, ArrayView<float> dx, Geometry g, int accumulate)
    {
        int q = index;
        if (q >= dx.IntLength)
        {
            return;
        }

        int wo = g.Width / 2, ho = g.Height / 2;
        int jj = q % g.Width, t = q / g.Width;
        int ii = t % g.Height, plane = t / g.Height;
        float v = 0.25f * dy[(plane * ho + ii / 2) * wo + jj / 2];
        dx[q] = accumulate != 0 ? dx[q] + v : v;
    }

    /// <summary>y = the window maximum, one thread per element (output size = input size).</summary>
    public static void MaxPoolForward(Index1D index, ArrayView<float> x, ArrayView<float> y, Geometry g)
    {
        int o = index;
        if (o >= y.IntLength)
        {
            return;
        }

        int hw = g.Height * g.Width;
        int offset = o / hw * hw;
        y[o] = x[offset + WindowArgMax(x, offset, o - offset, g)];
    }

    /// <summary>argMax[o] = the in-plane offset of the (first) maximum of window o, for the backward gather.</summary>
    public static void MaxPoolArgMax(Index1D index, ArrayView<float> x, ArrayView<int> argMax, Geometry g)
    {
        int o = index;
        if (o >= argMax.IntLength)
        {
            return;
        }

        int hw = g.Height * g.Width;
        int offset = o / hw * hw;
        argMax[o] = WindowArgMax(x, offset, o - offset, g);
    }

    /// <summary>
    /// dx[q] (+)= Σ dy[o] over the windows o that contain q and whose maximum is q (from <see cref="MaxPoolArgMax"/>),
    /// in row-major window order; one thread per input element.
    /// </summary>
    public static void MaxPoolBackward(Index1D index, ArrayView<int> argMax, ArrayView<float> dy, ArrayView<float> dx, Geometry g, int accumulate)
    {
        int q = index;
        if (q >= dx.IntLength)
        {
            return;
        }

        int hw = g.Height * g.Width;
        int offset = q / hw * hw, local = q - offset;
        int ii = local / g.Width, jj = local % g.Width;
        float sum = 0f;
        // The window centred at (i, j) covers (ii, jj) exactly when |i − ii| ≤ r and |j − jj| ≤ r.
        for (int i = ii - g.Radius; i <= ii + g.Radius; i++)
        {
            if ((uint)i >= (uint)g.Height)
            {
                continue;
            }

            for (int j = jj - g.Radius; j <= jj + g.Radius; j++)
            {
                if ((uint)j >= (uint)g.Width)
                {
                    continue;
                }

                int o = offset + i * g.Width + j;
                if (argMax[o] == local)
                {
                    sum += dy[o];
                }
            }
        }

        dx[q] = accumulate != 0 ? dx[q] + sum : sum;
    }

    /// <summary>
    /// In-plane offset of the first maximum of the window centred at plane offset <paramref name="centre"/>;
    /// padding never wins. The first element in the window is taken unconditionally (so a window of −∞ has a
    /// maximum) and a NaN ends the search (PyTorch propagates it), exactly as the SIMD backend's rule.
    /// </summary>
    private static int WindowArgMax(ArrayView<float> x, int offset, int centre, Geometry g)
    {
        int ci = centre / g.Width, cj = centre % g.Width;
        int best = -1;
        float bestValue = float.NegativeInfinity;
        for (int i = ci - g.Radius; i <= ci + g.Radius; i++)
        {
            if ((uint)i >= (uint)g.Height)
            {
                continue;
            }

            for (int j = cj - g.Radius; j <= cj + g.Radius; j++)
            {
                if ((uint)j >= (uint)g.Width)
                {
                    continue;
                }

                float v = x[offset + i * g.Width + j];
                if (best < 0 || v > bestValue || float.IsNaN(v))
                {
                    best = i * g.Width + j;
                    bestValue = v;
                    if (float.IsNaN(v))
                    {
                        return best;
                    }
                }
            }
        }

        // The window always holds its centre, which is inside the plane, so best ≥ 0 here.
        return best;
    }
}
