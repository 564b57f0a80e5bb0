namespace JointDiffusion.Gpu.Metrics;

/// <summary>
/// SciPy's <c>gaussian_filter(plane, sigma, truncate=truncate)</c> on one <c>[H, W]</c> plane in double precision,
/// evaluated only at the interior pixels, those at least the kernel radius r from every border: the output is
/// the <c>[H − 2r, W − 2r]</c> block that scikit-image's SSIM keeps after cropping r pixels per side. The window
/// of an interior pixel lies inside the image, so no boundary rule is ever applied, and the values equal SciPy's
/// for any mode (scikit-image uses 'reflect'; it only changes the cropped border). As in SciPy, the correlation
/// runs first along the rows axis (axis 0), then along the columns axis (axis 1).
/// </summary>
internal sealed class InteriorGaussianFilter
{
    private readonly double[] _weights;

    /// <summary>Builds the 1-D kernel of SciPy's <c>_gaussian_kernel1d</c> (order 0).</summary>
    /// <param name="sigma">Standard deviation in pixels.</param>
    /// <param name="truncate">Radius in standard deviations; the radius is <c>int(truncate · sigma + 0.5)</c>.</param>
    public InteriorGaussianFilter(double sigma, double truncate)
    {
        Radius = (int)((truncate * sigma) + 0.5);
        _weights = new double[(2 * Radius) + 1];
        // phi(x) = exp(-x² / (2σ²)) for x = -r..r, normalised to sum 1 (not by the continuous 1/(σ√(2π))), so
        // that a constant image is left unchanged.
        double sum = 0;
        for (int j = -Radius; j <= Radius; j++)
        {
            double phi = Math.Exp(-0.5 / (sigma * sigma) * j * j);
            _weights[j + Radius] = phi;
            sum += phi;
        }

        for (int j = 0; j < _weights.Length; j++)
        {
            _weights[j] /= sum;
        }
    }

    /// <summary>The kernel half-width r; the window is 2r + 1 taps.</summary>
    public int Radius { get; }

    /// <summary>Filters the interior of <paramref name="input"/> into <paramref name="output"/>.</summary>
    /// <param name="input">The <c>[height, width]</c> plane, row-major; height and width at least 2r + 1.</param>
    /// <param name="output">Receives the <c>[height − 2r, width − 2r]</c> interior, row-major.</param>
    /// <param name="scratch">Work space of at least <c>(height − 2r) · width</c> values (the rows-filtered intermediate).</param>
    /// <param name="height">Rows.</param>
    /// <param name="width">Columns.</param>
    public void Apply(ReadOnlySpan<double> input, Span<double> output, Span<double> scratch, int height, int width)
    {
        int innerHeight = height - (2 * Radius);
        int innerWidth = width - (2 * Radius);

        // Axis 0, every column: intermediate row y mixes input rows y .. y + 2r (output row y + r of SciPy's).
        for (int y = 0; y < innerHeight; y++)
        {
            Span<double> row = scratch.Slice(y * width, width);
            row.Clear();
            for (int j = 0; j < _weights.Length; j++)
            {
                double weight = _weights[j];
                ReadOnlySpan<double> source = input.Slice((y + j) * width, width);
                for (int x = 0; x < width; x++)
                {
                    row[x] += weight * source[x];
                }
            }
        }

        // Axis 1, interior columns: output column x mixes intermediate columns x .. x + 2r.
        for (int y = 0; y < innerHeight; y++)
        {
            ReadOnlySpan<double> source = scratch.Slice(y * width, width);
            Span<double> row = output.Slice(y * innerWidth, innerWidth);
            for (int x = 0; x < innerWidth; x++)
            {
                double acc = 0;
                for (int j = 0; j < _weights.Length; j++)
                {
                    acc += _weights[j] * source[x + j];
                }

                row[x] = acc;
            }
        }
    }
}
