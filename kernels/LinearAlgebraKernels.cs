using ILGPU;

namespace JointDiffusion.Kernels;

/// <summary>
/// Batched matrix–vector products with a row-major matrix A [rows, cols], one thread per output element and
/// one float accumulator per thread, so that results are deterministic without atomics. Batch item b of x and
/// y starts at b times its per-sample length.
/// </summary>
public static class LinearAlgebraKernels
{
    /// <summary>
    /// y[b, r] = Σ_c A[r, c]·x[b, c]; thread o computes b = o / rows, r = o mod rows. Neighbouring threads read
    /// the same x[b, c] (a broadcast) and rows of A that are <paramref name="cols"/> apart.
    /// </summary>
    public static void MatVec(Index1D index, ArrayView<float> a, ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        int o = index;
        if (o >= y.IntLength)
        {
            return;
        }

        int b = o / rows, r = o - b * rows;
        int ai = r * cols, xi = b * cols;
        float sum = 0f;
        for (int c = 0; c < cols; c++)
        {
            sum += a[ai + c] * x[xi + c];
        }

        y[o] = sum;
    }

    /// <summary>
    /// y[b, c] = Σ_r A[r, c]·x[b, r]; thread o computes b = o / cols, c = o mod cols. Neighbouring threads read
    /// neighbouring columns of one row of A (coalesced) and the same x[b, r] (a broadcast).
    /// </summary>
    public static void MatVecTransposed(Index1D index, ArrayView<float> a, ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        int o = index;
        if (o >= y.IntLength)
        {
            return;
        }

        int b = o / cols, c = o - b * cols;
        int xi = b * rows;
        float sum = 0f;
        for (int r = 0; r < rows; r++)
        {
            sum += a[r * cols + c] * x[xi + r];
        }

        y[o] = sum;
    }
}
