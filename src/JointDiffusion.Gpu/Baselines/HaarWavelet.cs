using System.Buffers;

namespace JointDiffusion.Gpu.Baselines;

/// <summary>
/// The orthonormal 2-D Haar wavelet transform of a planar <c>[C, H, W]</c> image, each channel on its own: the
/// sparsifying basis W of the LASSO-Haar compressed-sensing baseline (<see cref="FistaLasso"/>) that
/// <c>jointdiff eval</c> compares the diffusion methods against.
/// <para>One level maps each 2×2 block (a b; c d) to four coefficients, each a ±½ combination, so the 4×4
/// matrix is orthogonal and so is the whole transform (Wᵀ W = I, ‖W x‖ = ‖x‖):
/// approximation (a + b + c + d)/2, column difference (a − b + c − d)/2, row difference (a + b − c − d)/2 and
/// diagonal (a − b − c + d)/2. The layout is Mallat's, in place: after a level on an h × w block the four bands
/// are its quadrants [approximation | column difference; row difference | diagonal], and the next level
/// transforms the top-left (approximation) quadrant. After <see cref="Levels"/> levels the coarsest
/// approximation band is the top-left <see cref="ApproximationHeight"/> × <see cref="ApproximationWidth"/>
/// block of each channel plane (<see cref="ApproximationMask"/>).</para>
/// <para>An instance holds only its shape, so one may be shared between threads.</para>
/// </summary>
public sealed class HaarWavelet
{
    /// <summary>The smallest coarsest-band side that <see cref="DefaultLevels"/> transforms down to.</summary>
    public const int MinimumCoarseSize = 4;

    // Φ⁻¹(3/4): the median of |N(0, σ²)| is σ · Φ⁻¹(3/4) (Donoho & Johnstone 1994's 0.6745).
    private const double MedianAbsoluteNormal = 0.6744897501960817;

    private readonly bool[] _approximationMask;

    /// <summary>Creates the transform for <c>[channels, height, width]</c> images.</summary>
    /// <param name="channels">C ≥ 1.</param>
    /// <param name="height">H ≥ 2, divisible by 2^levels.</param>
    /// <param name="width">W ≥ 2, divisible by 2^levels.</param>
    /// <param name="levels">Decomposition levels ≥ 1; null for <see cref="DefaultLevels"/>.</param>
    /// <exception cref="ArgumentException">When a size is below its minimum, or H or W is not divisible by 2^levels.</exception>
    public HaarWavelet(int channels, int height, int width, int? levels = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        int resolved = levels ?? DefaultLevels(height, width);
        ArgumentOutOfRangeException.ThrowIfLessThan(resolved, 1, nameof(levels));
        if (resolved > 30 || height % (1 << resolved) != 0 || width % (1 << resolved) != 0)
        {
            throw new ArgumentException(
                $"A {resolved}-level Haar transform needs H and W divisible by 2^{resolved}; got {height}x{width}.", nameof(levels));
        }

        if ((long)channels * height * width > Array.MaxLength)
        {
            throw new ArgumentException($"A [{channels}, {height}, {width}] image has more values than an array can hold.");
        }

        Channels = channels;
        Height = height;
        Width = width;
        Levels = resolved;
        ApproximationHeight = height >> resolved;
        ApproximationWidth = width >> resolved;
        _approximationMask = new bool[Length];
        for (int c = 0; c < channels; c++)
        {
            for (int y = 0; y < ApproximationHeight; y++)
            {
                _approximationMask.AsSpan((((c * height) + y) * width), ApproximationWidth).Fill(true);
            }
        }
    }

    /// <summary>C: the number of channel planes.</summary>
    public int Channels { get; }

    /// <summary>H: rows per plane.</summary>
    public int Height { get; }

    /// <summary>W: columns per plane.</summary>
    public int Width { get; }

    /// <summary>The number of decomposition levels.</summary>
    public int Levels { get; }

    /// <summary>C · H · W: the length of an image and of its coefficient vector.</summary>
    public int Length => Channels * Height * Width;

    /// <summary>Rows of the coarsest approximation band, H / 2^levels.</summary>
    public int ApproximationHeight { get; }

    /// <summary>Columns of the coarsest approximation band, W / 2^levels.</summary>
    public int ApproximationWidth { get; }

    /// <summary>C · (H / 2^levels) · (W / 2^levels): how many coefficients form the coarsest approximation band.</summary>
    public int ApproximationCount => Channels * ApproximationHeight * ApproximationWidth;

    /// <summary>
    /// One flag per coefficient index, true where it belongs to the coarsest approximation band (the top-left
    /// <see cref="ApproximationHeight"/> × <see cref="ApproximationWidth"/> block of each channel plane), which a
    /// sparsity penalty usually leaves unpenalised.
    /// </summary>
    public ReadOnlySpan<bool> ApproximationMask => _approximationMask;

    /// <summary>
    /// The levels used when none are given: the most levels for which H and W stay divisible by 2^levels and the
    /// coarsest band keeps both sides ≥ <see cref="MinimumCoarseSize"/>, but at least one (so a 2×2 image gets one
    /// level). For example 32×32 → 3 (4×4 band), 28×28 → 2 (7×7), 16×16 → 2 (4×4), 2×2 → 1 (1×1).
    /// </summary>
    /// <param name="height">H, even and ≥ 2.</param>
    /// <param name="width">W, even and ≥ 2.</param>
    /// <returns>The number of levels, ≥ 1.</returns>
    /// <exception cref="ArgumentException">When H or W is odd or below 2, so that not even one level fits.</exception>
    public static int DefaultLevels(int height, int width)
    {
        if (height < 2 || width < 2 || height % 2 != 0 || width % 2 != 0)
        {
            throw new ArgumentException($"A Haar transform needs an even height and width of at least 2; got {height}x{width}.");
        }

        int levels = 1;
        while (levels < 30
            && height % (2 << levels) == 0 && width % (2 << levels) == 0
            && (height >> (levels + 1)) >= MinimumCoarseSize && (width >> (levels + 1)) >= MinimumCoarseSize)
        {
            levels++;
        }

        return levels;
    }

    /// <summary>The Haar coefficients of <paramref name="image"/>, W x.</summary>
    /// <param name="image">A <c>[C, H, W]</c> image of <see cref="Length"/> values.</param>
    /// <returns>A new coefficient vector of <see cref="Length"/> values in the layout described on the class.</returns>
    public float[] Forward(ReadOnlySpan<float> image)
    {
        var coefficients = new float[Length];
        Forward(image, coefficients);
        return coefficients;
    }

    /// <summary>Writes W x into <paramref name="coefficients"/>; the two may be the same span (in place).</summary>
    /// <param name="image">A <c>[C, H, W]</c> image of <see cref="Length"/> values.</param>
    /// <param name="coefficients">Receives the <see cref="Length"/> coefficients.</param>
    public void Forward(ReadOnlySpan<float> image, Span<float> coefficients)
    {
        float[] scratch = ArrayPool<float>.Shared.Rent(Height * Width);
        try
        {
            Forward(image, coefficients, scratch);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    /// <summary>The image of <paramref name="coefficients"/>, Wᵀ c (the exact inverse of <see cref="Forward(ReadOnlySpan{float})"/>).</summary>
    /// <param name="coefficients">A coefficient vector of <see cref="Length"/> values.</param>
    /// <returns>A new <c>[C, H, W]</c> image.</returns>
    public float[] Inverse(ReadOnlySpan<float> coefficients)
    {
        var image = new float[Length];
        Inverse(coefficients, image);
        return image;
    }

    /// <summary>Writes Wᵀ c into <paramref name="image"/>; the two may be the same span (in place).</summary>
    /// <param name="coefficients">A coefficient vector of <see cref="Length"/> values.</param>
    /// <param name="image">Receives the <c>[C, H, W]</c> image.</param>
    public void Inverse(ReadOnlySpan<float> coefficients, Span<float> image)
    {
        float[] scratch = ArrayPool<float>.Shared.Rent(Height * Width);
        try
        {
            Inverse(coefficients, image, scratch);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    /// <summary>
    /// Donoho's robust noise standard deviation (Donoho &amp; Johnstone 1994): the median of the absolute
    /// finest-level diagonal Haar coefficients, (a − b − c + d)/2 over the 2×2 blocks of every plane, divided by
    /// Φ⁻¹(3/4) ≈ 0.6745. For white Gaussian noise of std σ those coefficients are N(0, σ²) plus the image's own
    /// diagonal detail, which is small on most of a natural image, so the median sees mostly noise. The blocks of
    /// all channels are pooled into one median (one σ̂ per image); an odd last row or column is left out.
    /// Structured (non-white, spatially varying) noise breaks the assumption: the estimate is then a typical
    /// level, not the std at any given pixel.
    /// </summary>
    /// <param name="image">A <c>[C, H, W]</c> image.</param>
    /// <param name="channels">C ≥ 1.</param>
    /// <param name="height">H ≥ 2.</param>
    /// <param name="width">W ≥ 2.</param>
    /// <returns>σ̂ ≥ 0.</returns>
    /// <exception cref="ArgumentException">When a size is below its minimum or the length does not match.</exception>
    public static double EstimateNoiseStd(ReadOnlySpan<float> image, int channels, int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 2);
        if (image.Length != (long)channels * height * width)
        {
            throw new ArgumentException(
                $"A [{channels}, {height}, {width}] image needs {(long)channels * height * width} values; got {image.Length}.", nameof(image));
        }

        int blockRows = height / 2, blockColumns = width / 2;
        var magnitudes = new double[channels * blockRows * blockColumns];
        int n = 0;
        for (int c = 0; c < channels; c++)
        {
            ReadOnlySpan<float> plane = image.Slice(c * height * width, height * width);
            for (int i = 0; i < blockRows; i++)
            {
                int top = 2 * i * width, bottom = top + width;
                for (int j = 0; j < blockColumns; j++)
                {
                    double a = plane[top + (2 * j)], b = plane[top + (2 * j) + 1];
                    double cc = plane[bottom + (2 * j)], d = plane[bottom + (2 * j) + 1];
                    magnitudes[n++] = Math.Abs(0.5 * ((a - b) - (cc - d)));
                }
            }
        }

        Array.Sort(magnitudes);
        int mid = magnitudes.Length / 2;
        double median = magnitudes.Length % 2 == 1 ? magnitudes[mid] : 0.5 * (magnitudes[mid - 1] + magnitudes[mid]);
        return median / MedianAbsoluteNormal;
    }

    /// <summary>W x with a caller's scratch of at least H · W values (no allocation; used in solver loops).</summary>
    internal void Forward(ReadOnlySpan<float> image, Span<float> coefficients, Span<float> scratch)
    {
        CheckLengths(image.Length, coefficients.Length);
        image.CopyTo(coefficients);
        int planeLength = Height * Width;
        for (int c = 0; c < Channels; c++)
        {
            Span<float> plane = coefficients.Slice(c * planeLength, planeLength);
            for (int level = 0; level < Levels; level++)
            {
                AnalyseBlock(plane, scratch, Height >> level, Width >> level);
            }
        }
    }

    /// <summary>Wᵀ c with a caller's scratch of at least H · W values (no allocation; used in solver loops).</summary>
    internal void Inverse(ReadOnlySpan<float> coefficients, Span<float> image, Span<float> scratch)
    {
        CheckLengths(image.Length, coefficients.Length);
        coefficients.CopyTo(image);
        int planeLength = Height * Width;
        for (int c = 0; c < Channels; c++)
        {
            Span<float> plane = image.Slice(c * planeLength, planeLength);
            for (int level = Levels - 1; level >= 0; level--)
            {
                SynthesiseBlock(plane, scratch, Height >> level, Width >> level);
            }
        }
    }

    private void CheckLengths(int imageLength, int coefficientLength)
    {
        if (imageLength != Length || coefficientLength != Length)
        {
            throw new ArgumentException(
                $"A [{Channels}, {Height}, {Width}] Haar transform needs {Length} values on each side; got {imageLength} and {coefficientLength}.");
        }
    }

    /// <summary>One analysis level on the top-left <paramref name="rows"/> × <paramref name="columns"/> block of a plane.</summary>
    private void AnalyseBlock(Span<float> plane, Span<float> scratch, int rows, int columns)
    {
        int halfRows = rows / 2, halfColumns = columns / 2;
        for (int i = 0; i < halfRows; i++)
        {
            int top = 2 * i * Width, bottom = top + Width;
            int upper = i * columns, lower = (i + halfRows) * columns;
            for (int j = 0; j < halfColumns; j++)
            {
                float a = plane[top + (2 * j)], b = plane[top + (2 * j) + 1];
                float c = plane[bottom + (2 * j)], d = plane[bottom + (2 * j) + 1];
                scratch[upper + j] = 0.5f * ((a + b) + (c + d));
                scratch[upper + halfColumns + j] = 0.5f * ((a - b) + (c - d));
                scratch[lower + j] = 0.5f * ((a + b) - (c + d));
                scratch[lower + halfColumns + j] = 0.5f * ((a - b) - (c - d));
            }
        }

        for (int y = 0; y < rows; y++)
        {
            scratch.Slice(y * columns, columns).CopyTo(plane.Slice(y * Width, columns));
        }
    }

    /// <summary>The inverse of <see cref="AnalyseBlock"/> (its transpose: the same ±½ matrix).</summary>
    private void SynthesiseBlock(Span<float> plane, Span<float> scratch, int rows, int columns)
    {
        for (int y = 0; y < rows; y++)
        {
            plane.Slice(y * Width, columns).CopyTo(scratch.Slice(y * columns, columns));
        }

        int halfRows = rows / 2, halfColumns = columns / 2;
        for (int i = 0; i < halfRows; i++)
        {
            int top = 2 * i * Width, bottom = top + Width;
            int upper = i * columns, lower = (i + halfRows) * columns;
            for (int j = 0; j < halfColumns; j++)
            {
                float approximation = scratch[upper + j], columnDifference = scratch[upper + halfColumns + j];
                float rowDifference = scratch[lower + j], diagonal = scratch[lower + halfColumns + j];
                plane[top + (2 * j)] = 0.5f * ((approximation + columnDifference) + (rowDifference + diagonal));
                plane[top + (2 * j) + 1] = 0.5f * ((approximation - columnDifference) + (rowDifference - diagonal));
                plane[bottom + (2 * j)] = 0.5f * ((approximation + columnDifference) - (rowDifference + diagonal));
                plane[bottom + (2 * j) + 1] = 0.5f * ((approximation - columnDifference) - (rowDifference - diagonal));
            }
        }
    }
}
