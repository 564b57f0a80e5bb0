using System.Numerics;
using System.Runtime.InteropServices;
using JointDiffusion.Kernels;

namespace JointDiffusion.Gpu.Baselines;

/// <summary>
/// LASSO in the Haar basis, the classical compressed-sensing baseline of <c>jointdiff eval</c>: from
/// y = A x + noise it solves min_c ½‖y − A Wᵀ c‖² + μ‖c‖₁ with W the orthonormal <see cref="HaarWavelet"/>
/// (its coarsest approximation band left out of the ℓ₁ term) and returns x = Wᵀ c. The solver is FISTA
/// (Beck &amp; Teboulle 2009, "A fast iterative shrinkage-thresholding algorithm", eq. 4.1–4.3) from c = 0 with the
/// constant step 1/L, L = ‖A‖₂² = ‖A Wᵀ‖₂² (W orthonormal), found once per matrix by power iteration on AᵀA.
/// <para>Known limits: the prior is "few large Haar coefficients", which fits piecewise-constant images and
/// blurs texture into blocks; the data term is plain least squares, so it knows nothing of the structured
/// (spatially varying, correlated) noise that the joint diffusion methods model — that noise is fitted as if
/// it were signal up to what μ suppresses. μ is a single global weight, not tuned per image.</para>
/// <para>A is a dense row-major float matrix [m, d] with d = C·H·W, or a diagonal gain (<see cref="Diagonal"/>).
/// Several observations against the same A are solved in lock step, eight at a time, so that each pass over
/// A serves all of them; the two matrix products run on all cores. The matrix is held, not copied.</para>
/// </summary>
public sealed class FistaLasso
{
    // Observations solved together: each row (and column block) of A is read once per iteration for all of them.
    private const int LaneCount = 8;

    // Columns per task of Aᵀ r: 256 floats (1 KiB) of a row, with the lanes' output blocks, stay in L1.
    private const int ColumnBlock = 256;

    // Below this many multiply-adds a product runs on the calling thread (a Parallel.For costs microseconds).
    private const long ParallelThreshold = 1 << 16;

    private const int PowerIterationLimit = 300;
    private const double PowerTolerance = 1e-6;

    // Power iteration approaches ‖A‖₂² from below; FISTA's guarantee needs step ≤ 1/L, so L is taken 1 % high
    // (a step up to ~4/3 of 1/L would still be stable on a quadratic, so a slightly low estimate is harmless too).
    private const double LipschitzMargin = 1.01;

    private const ulong PowerSeed = 0x5EED_F157A;

    private readonly float[]? _matrix;
    private readonly float[]? _gain;

    /// <summary>Prepares the solver for a dense measurement matrix and estimates L = ‖A‖₂².</summary>
    /// <param name="matrix">A, row-major [m, d] with d = C·H·W; finite. Held, not copied.</param>
    /// <param name="rows">m ≥ 1.</param>
    /// <param name="channels">C of the signal.</param>
    /// <param name="height">H of the signal (divisible by 2^levels).</param>
    /// <param name="width">W of the signal (divisible by 2^levels).</param>
    /// <param name="levels">Haar levels; null for <see cref="HaarWavelet.DefaultLevels"/>.</param>
    /// <exception cref="ArgumentException">When the sizes do not match, A holds a non-finite value, or A is zero.</exception>
    public FistaLasso(float[] matrix, int rows, int channels, int height, int width, int? levels = null)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        Wavelet = new HaarWavelet(channels, height, width, levels);
        if (matrix.LongLength != (long)rows * Wavelet.Length)
        {
            throw new ArgumentException(
                $"A dense operator for a signal of {Wavelet.Length} values needs an [m, {Wavelet.Length}] matrix; got {matrix.LongLength} values for m = {rows}.",
                nameof(matrix));
        }

        if (!AllFinite(matrix))
        {
            throw new ArgumentException("The operator matrix must be finite.", nameof(matrix));
        }

        _matrix = matrix;
        Rows = rows;
        Lipschitz = LipschitzMargin * SquaredSpectralNorm();
        if (!(Lipschitz > 0))
        {
            throw new ArgumentException("The operator matrix is zero; there is nothing to fit.", nameof(matrix));
        }
    }

    private FistaLasso(float[] gain, HaarWavelet wavelet)
    {
        _gain = gain;
        Wavelet = wavelet;
        Rows = wavelet.Length;
        double largest = 0;
        foreach (float g in gain)
        {
            largest = Math.Max(largest, (double)g * g);
        }

        // For a diagonal A, ‖A‖₂² is exactly the largest squared gain.
        Lipschitz = largest;
    }

    /// <summary>m: the length of one observation y.</summary>
    public int Rows { get; }

    /// <summary>d = C·H·W: the length of the signal.</summary>
    public int Columns => Wavelet.Length;

    /// <summary>The sparsifying transform W.</summary>
    public HaarWavelet Wavelet { get; }

    /// <summary>L, the Lipschitz constant of the data term's gradient: ‖A‖₂² (1 % above the power-iteration estimate for a dense A).</summary>
    public double Lipschitz { get; }

    /// <summary>
    /// The solver for a diagonal operator, y = gain ⊙ x + noise (m = d), e.g. a global or per-pixel gain; L is
    /// the largest squared gain.
    /// </summary>
    /// <param name="gain">d finite gains, not all zero. Held, not copied.</param>
    /// <param name="channels">C of the signal.</param>
    /// <param name="height">H of the signal.</param>
    /// <param name="width">W of the signal.</param>
    /// <param name="levels">Haar levels; null for <see cref="HaarWavelet.DefaultLevels"/>.</param>
    /// <returns>The solver.</returns>
    /// <exception cref="ArgumentException">When the gain's length is not C·H·W, or a gain is not finite, or all are zero.</exception>
    public static FistaLasso Diagonal(float[] gain, int channels, int height, int width, int? levels = null)
    {
        ArgumentNullException.ThrowIfNull(gain);
        var wavelet = new HaarWavelet(channels, height, width, levels);
        if (gain.Length != wavelet.Length)
        {
            throw new ArgumentException($"A diagonal operator on {wavelet.Length} values needs {wavelet.Length} gains; got {gain.Length}.", nameof(gain));
        }

        if (!AllFinite(gain) || Array.TrueForAll(gain, g => g == 0))
        {
            throw new ArgumentException("The gains must be finite and not all zero.", nameof(gain));
        }

        return new FistaLasso(gain, wavelet);
    }

    /// <summary>Solves the LASSO for one observation.</summary>
    /// <param name="measurement">y, m values.</param>
    /// <param name="options">Settings; null for the defaults of <see cref="FistaLassoOptions"/>.</param>
    /// <returns>The image, coefficients, μ, iteration count and final objective.</returns>
    public FistaLassoResult Solve(ReadOnlySpan<float> measurement, FistaLassoOptions? options = null)
    {
        if (measurement.Length != Rows)
        {
            throw new ArgumentException($"An observation has m = {Rows} values; got {measurement.Length}.", nameof(measurement));
        }

        return SolveBatch(measurement, 1, options)[0];
    }

    /// <summary>Solves the LASSO for <paramref name="count"/> observations of the same A, each on its own (its own μ and stopping).</summary>
    /// <param name="measurements">Row-major [count, m].</param>
    /// <param name="count">The number of observations, ≥ 1.</param>
    /// <param name="options">Settings shared by all; null for the defaults.</param>
    /// <returns>One result per observation, in order.</returns>
    public FistaLassoResult[] SolveBatch(ReadOnlySpan<float> measurements, int count, FistaLassoOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (measurements.Length != (long)count * Rows)
        {
            throw new ArgumentException($"{count} observations of m = {Rows} need {(long)count * Rows} values; got {measurements.Length}.", nameof(measurements));
        }

        options ??= new FistaLassoOptions();
        Validate(options);
        var results = new FistaLassoResult[count];
        for (int first = 0; first < count; first += LaneCount)
        {
            int lanes = Math.Min(LaneCount, count - first);
            SolveLanes(measurements.Slice(first * Rows, lanes * Rows), lanes, options).CopyTo(results, first);
        }

        return results;
    }

    /// <summary>The LASSO image x = Wᵀ c for one observation (<see cref="Solve"/>'s image).</summary>
    /// <param name="measurement">y, m values.</param>
    /// <param name="options">Settings; null for the defaults.</param>
    /// <returns>The <c>[C, H, W]</c> estimate.</returns>
    public float[] Reconstruct(ReadOnlySpan<float> measurement, FistaLassoOptions? options = null) => Solve(measurement, options).Image;

    /// <summary>The LASSO images for <paramref name="count"/> observations (<see cref="SolveBatch"/>'s images).</summary>
    /// <param name="measurements">Row-major [count, m].</param>
    /// <param name="count">The number of observations, ≥ 1.</param>
    /// <param name="options">Settings; null for the defaults.</param>
    /// <returns>The estimates, row-major [count, C·H·W].</returns>
    public float[] ReconstructBatch(ReadOnlySpan<float> measurements, int count, FistaLassoOptions? options = null)
    {
        FistaLassoResult[] results = SolveBatch(measurements, count, options);
        var images = new float[(long)count * Columns];
        for (int k = 0; k < count; k++)
        {
            results[k].Image.CopyTo(images, (long)k * Columns);
        }

        return images;
    }

    /// <summary>
    /// The LASSO objective ½‖y − A Wᵀ c‖² + μ Σ |c_j| over the coefficients outside the approximation band,
    /// accumulated in double.
    /// </summary>
    /// <param name="measurement">y, m values.</param>
    /// <param name="coefficients">c, d values.</param>
    /// <param name="mu">μ ≥ 0.</param>
    /// <returns>The objective.</returns>
    public double Objective(ReadOnlySpan<float> measurement, ReadOnlySpan<float> coefficients, double mu)
    {
        if (measurement.Length != Rows || coefficients.Length != Columns)
        {
            throw new ArgumentException($"The objective needs y of {Rows} and c of {Columns} values; got {measurement.Length} and {coefficients.Length}.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(mu);
        float[] x = Wavelet.Inverse(coefficients);
        double residual = 0;
        for (int i = 0; i < Rows; i++)
        {
            double ax;
            if (_gain is not null)
            {
                ax = (double)_gain[i] * x[i];
            }
            else
            {
                ax = 0;
                ReadOnlySpan<float> row = _matrix!.AsSpan(i * Columns, Columns);
                for (int j = 0; j < Columns; j++)
                {
                    ax += (double)row[j] * x[j];
                }
            }

            double e = ax - measurement[i];
            residual += e * e;
        }

        double l1 = 0;
        ReadOnlySpan<bool> approximation = Wavelet.ApproximationMask;
        for (int j = 0; j < Columns; j++)
        {
            if (!approximation[j])
            {
                l1 += Math.Abs((double)coefficients[j]);
            }
        }

        return (0.5 * residual) + (mu * l1);
    }

    private static void Validate(FistaLassoOptions options)
    {
        if (options.Mu is { } mu && !(mu >= 0 && double.IsFinite(mu)))
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"Mu must be finite and ≥ 0; got {mu}.");
        }

        if (!(options.MuRelative >= 0 && double.IsFinite(options.MuRelative)))
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"MuRelative must be finite and ≥ 0; got {options.MuRelative}.");
        }

        if (options.Iterations < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"Iterations must be ≥ 1; got {options.Iterations}.");
        }

        if (!(options.Tolerance >= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"Tolerance must be ≥ 0; got {options.Tolerance}.");
        }
    }

    private static bool AllFinite(float[] values)
    {
        foreach (float v in values)
        {
            if (!float.IsFinite(v))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>FISTA for up to <see cref="LaneCount"/> observations in lock step; a lane stops on its own tolerance.</summary>
    private FistaLassoResult[] SolveLanes(ReadOnlySpan<float> measurements, int lanes, FistaLassoOptions options)
    {
        int m = Rows, d = Columns;
        var y = new float[lanes][];
        var c = new float[lanes][];
        var next = new float[lanes][];
        var z = new float[lanes][];
        var pixels = new float[lanes][];
        var residuals = new float[lanes][];
        var mu = new double[lanes];
        var t = new double[lanes];
        var iterations = new int[lanes];
        var converged = new bool[lanes];
        for (int k = 0; k < lanes; k++)
        {
            y[k] = measurements.Slice(k * m, m).ToArray();
            c[k] = new float[d];
            next[k] = new float[d];
            z[k] = new float[d];
            pixels[k] = new float[d];
            residuals[k] = new float[m];
            t[k] = 1;
        }

        if (options.Mu is { } fixedMu)
        {
            Array.Fill(mu, fixedMu);
        }
        else
        {
            MultiplyTranspose(y, pixels, lanes);
            for (int k = 0; k < lanes; k++)
            {
                float largest = 0;
                foreach (float v in pixels[k])
                {
                    largest = Math.Max(largest, Math.Abs(v));
                }

                mu[k] = options.MuRelative * largest;
            }
        }

        var scratch = new float[Wavelet.Height * Wavelet.Width];
        var activeLanes = new int[lanes];
        var activePixels = new float[lanes][];
        var activeResiduals = new float[lanes][];
        ReadOnlySpan<bool> approximation = Wavelet.ApproximationMask;
        for (int iteration = 0; iteration < options.Iterations; iteration++)
        {
            int active = 0;
            for (int k = 0; k < lanes; k++)
            {
                if (!converged[k])
                {
                    activeLanes[active] = k;
                    activePixels[active] = pixels[k];
                    activeResiduals[active] = residuals[k];
                    active++;
                }
            }

            if (active == 0)
            {
                break;
            }

            // Gradient of the data term at the extrapolated point z: W Aᵀ (A Wᵀ z − y).
            for (int a = 0; a < active; a++)
            {
                int k = activeLanes[a];
                Wavelet.Inverse(z[k], pixels[k], scratch);
            }

            Multiply(activePixels, activeResiduals, active);
            for (int a = 0; a < active; a++)
            {
                int k = activeLanes[a];
                Subtract(residuals[k], y[k]);
            }

            MultiplyTranspose(activeResiduals, activePixels, active);
            for (int a = 0; a < active; a++)
            {
                int k = activeLanes[a];
                float[] gradient = pixels[k];
                Wavelet.Forward(gradient, gradient, scratch);

                // eq. 4.1: c_k = p_L(z_k), a gradient step then soft-thresholding at μ/L off the approximation band.
                float step = (float)(1 / Lipschitz);
                float threshold = (float)(mu[k] / Lipschitz);
                float[] zk = z[k], ck = c[k], nk = next[k];
                double change = 0, norm = 0;
                for (int j = 0; j < d; j++)
                {
                    float v = zk[j] - (step * gradient[j]);
                    float shrunk = approximation[j] ? v : MathF.Sign(v) * MathF.Max(MathF.Abs(v) - threshold, 0f);
                    double delta = shrunk - ck[j];
                    change += delta * delta;
                    norm += (double)shrunk * shrunk;
                    nk[j] = shrunk;
                }

                // eq. 4.2–4.3: t_(k+1) = (1 + √(1 + 4 t_k²)) / 2, z_(k+1) = c_k + ((t_k − 1) / t_(k+1)) (c_k − c_(k−1)).
                double tNext = (1 + Math.Sqrt(1 + (4 * t[k] * t[k]))) / 2;
                float momentum = (float)((t[k] - 1) / tNext);
                for (int j = 0; j < d; j++)
                {
                    zk[j] = nk[j] + (momentum * (nk[j] - ck[j]));
                }

                t[k] = tNext;
                (c[k], next[k]) = (nk, ck);
                iterations[k]++;
                converged[k] = Math.Sqrt(change) <= options.Tolerance * Math.Sqrt(norm);
            }
        }

        var results = new FistaLassoResult[lanes];
        for (int k = 0; k < lanes; k++)
        {
            float[] image = Wavelet.Inverse(c[k]);
            if (options.ClampToUnitRange)
            {
                for (int j = 0; j < d; j++)
                {
                    image[j] = Math.Clamp(image[j], 0f, 1f);
                }
            }

            results[k] = new FistaLassoResult(image, c[k], mu[k], iterations[k], converged[k], Objective(y[k], c[k], mu[k]));
        }

        return results;
    }

    /// <summary>‖A‖₂² by power iteration on AᵀA from a fixed pseudo-random start: λ = ‖AᵀA v‖ for unit v.</summary>
    private double SquaredSpectralNorm()
    {
        int d = Columns;
        var v = new float[1][] { new float[d] };
        var u = new float[1][] { new float[Rows] };
        var w = new float[1][] { new float[d] };
        for (int j = 0; j < d; j++)
        {
            v[0][j] = Philox.Uniform(PowerSeed, (ulong)j) - 0.5f;
        }

        Normalise(v[0]);
        double estimate = 0;
        for (int iteration = 0; iteration < PowerIterationLimit; iteration++)
        {
            Multiply(v, u, 1);
            MultiplyTranspose(u, w, 1);
            double previous = estimate;
            estimate = Normalise(w[0]);
            (v, w) = (w, v);
            if (estimate == 0 || Math.Abs(estimate - previous) <= PowerTolerance * estimate)
            {
                break;
            }
        }

        return estimate;
    }

    /// <summary>Scales <paramref name="values"/> to unit norm and returns the norm it had (0 leaves it as is).</summary>
    private static double Normalise(float[] values)
    {
        double sum = 0;
        foreach (float v in values)
        {
            sum += (double)v * v;
        }

        double norm = Math.Sqrt(sum);
        if (norm > 0)
        {
            float scale = (float)(1 / norm);
            for (int j = 0; j < values.Length; j++)
            {
                values[j] *= scale;
            }
        }

        return norm;
    }

    private static void Subtract(float[] target, float[] values)
    {
        for (int i = 0; i < target.Length; i++)
        {
            target[i] -= values[i];
        }
    }

    /// <summary>output_k = A input_k for the first <paramref name="count"/> lanes (m values each).</summary>
    private void Multiply(float[][] input, float[][] output, int count)
    {
        if (_gain is not null)
        {
            for (int k = 0; k < count; k++)
            {
                for (int i = 0; i < Rows; i++)
                {
                    output[k][i] = _gain[i] * input[k][i];
                }
            }

            return;
        }

        float[] matrix = _matrix!;
        int m = Rows, d = Columns;
        void RowRange(int start, int end)
        {
            for (int i = start; i < end; i++)
            {
                ReadOnlySpan<float> row = matrix.AsSpan(i * d, d);
                for (int k = 0; k < count; k++)
                {
                    output[k][i] = Dot(row, input[k]);
                }
            }
        }

        if ((long)m * d * count < ParallelThreshold)
        {
            RowRange(0, m);
            return;
        }

        int chunks = Math.Min(m, Environment.ProcessorCount * 4);
        Parallel.For(0, chunks, chunk => RowRange(chunk * m / chunks, (chunk + 1) * m / chunks));
    }

    /// <summary>output_k = Aᵀ input_k for the first <paramref name="count"/> lanes (d values each).</summary>
    private void MultiplyTranspose(float[][] input, float[][] output, int count)
    {
        if (_gain is not null)
        {
            for (int k = 0; k < count; k++)
            {
                for (int i = 0; i < Rows; i++)
                {
                    output[k][i] = _gain[i] * input[k][i];
                }
            }

            return;
        }

        float[] matrix = _matrix!;
        int m = Rows, d = Columns;
        int blocks = (d + ColumnBlock - 1) / ColumnBlock;
        void ColumnRange(int block)
        {
            int start = block * ColumnBlock, length = Math.Min(ColumnBlock, d - start);
            for (int k = 0; k < count; k++)
            {
                output[k].AsSpan(start, length).Clear();
            }

            for (int i = 0; i < m; i++)
            {
                ReadOnlySpan<float> segment = matrix.AsSpan((i * d) + start, length);
                for (int k = 0; k < count; k++)
                {
                    Axpy(input[k][i], segment, output[k].AsSpan(start, length));
                }
            }
        }

        if ((long)m * d * count < ParallelThreshold)
        {
            for (int block = 0; block < blocks; block++)
            {
                ColumnRange(block);
            }

            return;
        }

        Parallel.For(0, blocks, ColumnRange);
    }

    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int width = Vector<float>.Count;
        ReadOnlySpan<Vector<float>> va = MemoryMarshal.Cast<float, Vector<float>>(a);
        ReadOnlySpan<Vector<float>> vb = MemoryMarshal.Cast<float, Vector<float>>(b[..a.Length]);
        Vector<float> sum0 = Vector<float>.Zero, sum1 = Vector<float>.Zero;
        int v = 0;
        for (; v + 1 < va.Length; v += 2)
        {
            sum0 += va[v] * vb[v];
            sum1 += va[v + 1] * vb[v + 1];
        }

        if (v < va.Length)
        {
            sum0 += va[v] * vb[v];
        }

        float sum = Vector.Sum(sum0 + sum1);
        for (int j = va.Length * width; j < a.Length; j++)
        {
            sum += a[j] * b[j];
        }

        return sum;
    }

    private static void Axpy(float alpha, ReadOnlySpan<float> x, Span<float> y)
    {
        int width = Vector<float>.Count;
        ReadOnlySpan<Vector<float>> vx = MemoryMarshal.Cast<float, Vector<float>>(x);
        Span<Vector<float>> vy = MemoryMarshal.Cast<float, Vector<float>>(y);
        var va = new Vector<float>(alpha);
        for (int v = 0; v < vx.Length; v++)
        {
            vy[v] += va * vx[v];
        }

        for (int j = vx.Length * width; j < x.Length; j++)
        {
            y[j] += alpha * x[j];
        }
    }
}
