using ILGPU;

namespace JointDiffusion.Kernels;

/// <summary>
/// Bilinear resize with align_corners = true (source coordinate = dst·(in − 1)/(out − 1), 0 when out = 1),
/// forward and its adjoint. The backward is a gather: each input element finds the few output rows and
/// columns whose taps touch it and recomputes those taps exactly as the forward does, so no atomics are needed.
/// </summary>
public static class BilinearKernels
{
    /// <summary>Plane sizes and the source-per-destination scales (computed once on the host).</summary>
    public readonly struct Geometry
    {
        /// <summary>Input height.</summary>
        public readonly int InHeight;

        /// <summary>Input width.</summary>
        public readonly int InWidth;

        /// <summary>Output height.</summary>
        public readonly int OutHeight;

        /// <summary>Output width.</summary>
        public readonly int OutWidth;

        /// <summary>(InHeight − 1)/(OutHeight − 1), or 0 when OutHeight = 1.</summary>
        public readonly float ScaleH;

        /// <summary>(InWidth − 1)/(OutWidth − 1), or 0 when OutWidth = 1.</summary>
        public readonly float ScaleW;

        /// <summary>Creates the geometry.</summary>
        public Geometry(int inHeight, int inWidth, int outHeight, int outWidth, float scaleH, float scaleW)
        {
            InHeight = inHeight;
            InWidth = inWidth;
            OutHeight = outHeight;
            OutWidth = outWidth;
            ScaleH = scaleH;
            ScaleW = scaleW;
        }
    }

    /// <summary>y = resize(x), one thread per output element.</summary>
    public static void Forward(Index1D index, ArrayView<float> x, ArrayView<float> y, Geometry g)
    {
        int o = index;
        if (o >= y.IntLength)
        {
            return;
        }

        int j = o % g.OutWidth, t = o / g.OutWidth;
        int i = t % g.OutHeight, plane = t / g.OutHeight;
        Tap(i, g.ScaleH, g.InHeight, out int i0, out int i1, out float li);
        Tap(j, g.ScaleW, g.InWidth, out int j0, out int j1, out float lj);
        int xo = plane * g.InHeight * g.InWidth;
        float top = (1f - lj) * x[xo + i0 * g.InWidth + j0] + lj * x[xo + i0 * g.InWidth + j1];
        float bottom = (1f - lj) * x[xo + i1 * g.InWidth + j0] + lj * x[xo + i1 * g.InWidth + j1];
        y[o] = (1f - li) * top + li * bottom;
    }

    /// <summary>dx (+)= resizeᵀ(dy), one thread per input element.</summary>
    public static void Backward(Index1D index, ArrayView<float> dy, ArrayView<float> dx, Geometry g, int accumulate)
    {
        int q = index;
        if (q >= dx.IntLength)
        {
            return;
        }

        int jj = q % g.InWidth, t = q / g.InWidth;
        int ii = t % g.InHeight, plane = t / g.InHeight;
        CandidateRange(ii, g.ScaleH, g.OutHeight, out int iFirst, out int iLast);
        CandidateRange(jj, g.ScaleW, g.OutWidth, out int jFirst, out int jLast);
        int yo = plane * g.OutHeight * g.OutWidth;
        float sum = 0f;
        for (int i = iFirst; i <= iLast; i++)
        {
            float wi = TapWeight(i, ii, g.ScaleH, g.InHeight);
            if (wi == 0f)
            {
                continue;
            }

            float row = 0f;
            for (int j = jFirst; j <= jLast; j++)
            {
                float wj = TapWeight(j, jj, g.ScaleW, g.InWidth);
                row += wj * dy[yo + i * g.OutWidth + j];
            }

            sum += wi * row;
        }

        dx[q] = accumulate != 0 ? dx[q] + sum : sum;
    }

    /// <summary>The two source taps and the weight of the second for destination <paramref name="dst"/> (the SIMD backend's rule).</summary>
    private static void Tap(int dst, float scale, int input, out int i0, out int i1, out float lambda)
    {
        float src = scale * dst;
        i0 = Math.Min((int)src, input - 1);
        i1 = Math.Min(i0 + 1, input - 1);
        lambda = src - i0;
    }

    /// <summary>Weight with which destination <paramref name="dst"/> reads source <paramref name="source"/> (0 when it does not).</summary>
    private static float TapWeight(int dst, int source, float scale, int input)
    {
        Tap(dst, scale, input, out int i0, out int i1, out float lambda);
        float w = 0f;
        if (i0 == source)
        {
            w += 1f - lambda;
        }

        if (i1 == source)
        {
            w += lambda;
        }

        return w;
    }

    /// <summary>
    /// Destinations that can read source <paramref name="source"/>: it is tap 0 or 1 of destination d only when
    /// source − 1 ≤ scale·d &lt; source + 1, widened by one on each side for float rounding; all of them when
    /// scale = 0 (a single output, or a single input).
    /// </summary>
    private static void CandidateRange(int source, float scale, int output, out int first, out int last)
    {
        if (scale <= 0f)
        {
            first = 0;
            last = output - 1;
            return;
        }

        first = Math.Max(0, (int)((source - 1) / scale) - 1);
        last = Math.Min(output - 1, (int)((source + 1) / scale) + 1);
    }
}
