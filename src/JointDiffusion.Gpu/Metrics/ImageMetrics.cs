using JointDiffusion.Gpu.IO;

namespace JointDiffusion.Gpu.Metrics;

/// <summary>
/// Image quality metrics for the evaluation tables: PSNR and SSIM (as computed by scikit-image, so numbers
/// compare with the paper's Python evaluation) and the generalized contrast-to-noise ratio gCNR. All sums
/// run in double precision. Images are planar <c>[C, H, W]</c> float32 (the layout of <see cref="PlanarImage"/>).
/// </summary>
public static class ImageMetrics
{
    /// <summary>SSIM constant K1 of Wang et al. (2004), eq. 7: C1 = (K1 · L)².</summary>
    public const double SsimK1 = 0.01;

    /// <summary>SSIM constant K2 of Wang et al. (2004), eq. 7: C2 = (K2 · L)².</summary>
    public const double SsimK2 = 0.03;

    /// <summary>Standard deviation in pixels of the SSIM Gaussian window (Wang et al. 2004, section III-C).</summary>
    public const double SsimSigma = 1.5;

    /// <summary>
    /// Side of the SSIM window, 11: scikit-image truncates the Gaussian at 3.5 σ, radius int(3.5 · 1.5 + 0.5) = 5.
    /// Also the smallest accepted height and width.
    /// </summary>
    public const int SsimWindowSize = 11;

    // scikit-image's truncate for gaussian_weights=True, chosen there to give the 11-tap window of Wang et al.
    private const double SsimTruncate = 3.5;

    /// <summary>
    /// Peak signal-to-noise ratio, 10 · log10(R² / MSE) dB with MSE = mean((estimate − truth)²) accumulated in
    /// double, as <c>skimage.metrics.peak_signal_noise_ratio(truth, estimate, data_range=R)</c> on float64 data.
    /// Identical images have MSE 0 and give <see cref="double.PositiveInfinity"/> (not an exception), so that a
    /// perfect reconstruction is representable; a NaN pixel gives NaN.
    /// </summary>
    /// <param name="estimate">The reconstruction.</param>
    /// <param name="truth">The reference; same length as <paramref name="estimate"/>.</param>
    /// <param name="dataRange">R: the range of possible values (1 for images in [0, 1]); finite and positive.</param>
    /// <returns>PSNR in dB.</returns>
    /// <exception cref="ArgumentException">When the lengths differ or the images are empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="dataRange"/> is not finite and positive.</exception>
    public static double Psnr(ReadOnlySpan<float> estimate, ReadOnlySpan<float> truth, double dataRange = 1.0)
    {
        RequireSameLength(estimate, truth);
        if (estimate.IsEmpty)
        {
            throw new ArgumentException("PSNR of empty images is undefined.", nameof(estimate));
        }

        RequireDataRange(dataRange);
        double sumSquares = 0;
        for (int i = 0; i < estimate.Length; i++)
        {
            // The difference of two floats is exact in double (for values of similar magnitude).
            double d = (double)estimate[i] - truth[i];
            sumSquares += d * d;
        }

        double mse = sumSquares / estimate.Length;
        return 10.0 * Math.Log10(dataRange * dataRange / mse);
    }

    /// <summary>PSNR of two images of the same shape; see <see cref="Psnr(ReadOnlySpan{float}, ReadOnlySpan{float}, double)"/>.</summary>
    /// <param name="estimate">The reconstruction.</param>
    /// <param name="truth">The reference, same <c>[C, H, W]</c> shape.</param>
    /// <param name="dataRange">R: the range of possible values; finite and positive.</param>
    /// <returns>PSNR in dB; +∞ for identical images.</returns>
    /// <exception cref="ArgumentException">When the shapes differ.</exception>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="dataRange"/> is not finite and positive.</exception>
    public static double Psnr(PlanarImage estimate, PlanarImage truth, double dataRange = 1.0)
    {
        RequireSameShape(estimate, truth);
        return Psnr(estimate.Pixels, truth.Pixels, dataRange);
    }

    /// <summary>
    /// Mean structural similarity (Wang et al. 2004), exactly as
    /// <c>skimage.metrics.structural_similarity(truth, estimate, gaussian_weights=True, sigma=1.5,
    /// use_sample_covariance=False, data_range=R, channel_axis=0)</c> on float64 data:
    /// per channel, local means, variances and covariance are Gaussian-weighted (σ 1.5, 11×11 window, SciPy's
    /// <c>gaussian_filter</c>, population moments), the SSIM map
    /// ((2 μx μy + C1)(2 σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2)) (eq. 13) with C1 = (0.01 R)², C2 = (0.03 R)²
    /// is averaged over the pixels at least 5 from every border (scikit-image's crop of the filter radius), and
    /// the channel means are averaged. Because the crop equals the window radius, no averaged pixel's window
    /// reaches past the image, so scikit-image's 'reflect' boundary has no effect on the result and is not needed
    /// here. Symmetric in its two images; 1 for identical images.
    /// </summary>
    /// <param name="estimate">The reconstruction, planar <c>[channels, height, width]</c>.</param>
    /// <param name="truth">The reference, same layout.</param>
    /// <param name="channels">C ≥ 1; each channel is compared on its own and the results averaged.</param>
    /// <param name="height">H ≥ 11.</param>
    /// <param name="width">W ≥ 11.</param>
    /// <param name="dataRange">R: the range of possible values (1 for images in [0, 1]); finite and positive.</param>
    /// <returns>The mean SSIM in [−1, 1], 1 for identical images.</returns>
    /// <exception cref="ArgumentException">When an image is smaller than 11×11 (scikit-image refuses these too) or
    /// a length is not <c>channels · height · width</c>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="channels"/> is below 1 or
    /// <paramref name="dataRange"/> is not finite and positive.</exception>
    public static double Ssim(
        ReadOnlySpan<float> estimate, ReadOnlySpan<float> truth, int channels, int height, int width, double dataRange = 1.0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        if (height < SsimWindowSize || width < SsimWindowSize)
        {
            throw new ArgumentException(
                $"SSIM needs images of at least {SsimWindowSize}×{SsimWindowSize} pixels (its Gaussian window), not {height}×{width}.");
        }

        long expected = (long)channels * height * width;
        if (estimate.Length != expected || truth.Length != expected)
        {
            throw new ArgumentException(
                $"A [{channels}, {height}, {width}] image has {expected} values; got {estimate.Length} (estimate) and {truth.Length} (truth).");
        }

        RequireDataRange(dataRange);
        var filter = new InteriorGaussianFilter(SsimSigma, SsimTruncate);
        var planes = new SsimPlanes(height, width, filter.Radius);
        double c1 = SsimK1 * dataRange * (SsimK1 * dataRange);
        double c2 = SsimK2 * dataRange * (SsimK2 * dataRange);
        int plane = height * width;
        double sum = 0;
        for (int c = 0; c < channels; c++)
        {
            sum += MeanSsimOfPlane(
                estimate.Slice(c * plane, plane), truth.Slice(c * plane, plane), height, width, filter, planes, c1, c2);
        }

        return sum / channels;
    }

    /// <summary>SSIM of two images of the same shape; see <see cref="Ssim(ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, int, double)"/>.</summary>
    /// <param name="estimate">The reconstruction.</param>
    /// <param name="truth">The reference, same <c>[C, H, W]</c> shape, H and W ≥ 11.</param>
    /// <param name="dataRange">R: the range of possible values; finite and positive.</param>
    /// <returns>The mean SSIM over pixels and channels.</returns>
    /// <exception cref="ArgumentException">When the shapes differ or an image is smaller than 11×11.</exception>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="dataRange"/> is not finite and positive.</exception>
    public static double Ssim(PlanarImage estimate, PlanarImage truth, double dataRange = 1.0)
    {
        RequireSameShape(estimate, truth);
        return Ssim(estimate.Pixels, truth.Pixels, estimate.Channels, estimate.Height, estimate.Width, dataRange);
    }

    /// <summary>
    /// Generalized contrast-to-noise ratio (Rodriguez-Molares et al. 2020, eq. 5): gCNR = 1 − OVL, with the
    /// overlap OVL = Σ_k min(p_A(k), p_B(k)) of the two regions' pixel-value histograms, each normalised to sum 1.
    /// 0 when the regions' values are identically distributed, 1 when they are disjoint.
    /// <para>
    /// Binning: both histograms share <paramref name="bins"/> equal bins over [lo, hi], the minimum and maximum
    /// of the pixels of both regions together, with values widened to double; every bin is half-open
    /// [e_k, e_k+1) except the last, which also holds hi. Bin indices are computed as NumPy's
    /// <c>numpy.histogram(values, bins, range=(lo, hi))</c> computes them (index int((v − lo) · (bins / (hi − lo))),
    /// then corrected against the edges e_k = k · ((hi − lo) / bins) + lo, e_bins = hi), so the result equals a
    /// NumPy evaluation. When all pixels of both regions hold the same value, both histograms are the same single
    /// spike and the result is 0. The overlap is summed exactly, on counts scaled by the other region's size, and
    /// divided once, so the result lies in [0, 1] and is exactly 0 for equal histograms.
    /// </para>
    /// </summary>
    /// <param name="image">Pixel values (any layout; the masks index it element by element). Pixels in a region
    /// must be finite.</param>
    /// <param name="regionA">Mask of region A (e.g. inside a cyst); same length as <paramref name="image"/>.</param>
    /// <param name="regionB">Mask of region B (e.g. the background); same length. The regions may overlap.</param>
    /// <param name="bins">Number of histogram bins, ≥ 1.</param>
    /// <returns>gCNR in [0, 1].</returns>
    /// <exception cref="ArgumentException">When a mask's length differs from the image's, a region is empty, or a
    /// pixel in a region is NaN or infinite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="bins"/> is below 1.</exception>
    public static double Gcnr(ReadOnlySpan<float> image, ReadOnlySpan<bool> regionA, ReadOnlySpan<bool> regionB, int bins = 256)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 1);
        if (regionA.Length != image.Length || regionB.Length != image.Length)
        {
            throw new ArgumentException(
                $"The masks must have the image's length {image.Length}; got {regionA.Length} (A) and {regionB.Length} (B).");
        }

        (double loA, double hiA, int countA) = RegionRange(image, regionA, nameof(regionA));
        (double loB, double hiB, int countB) = RegionRange(image, regionB, nameof(regionB));
        double lo = Math.Min(loA, loB);
        double hi = Math.Max(hiA, hiB);
        if (lo == hi)
        {
            return 0.0;
        }

        var histogramA = new int[bins];
        var histogramB = new int[bins];
        var binning = new UniformHistogramBins(lo, hi, bins);
        for (int i = 0; i < image.Length; i++)
        {
            if (regionA[i])
            {
                histogramA[binning.IndexOf(image[i])]++;
            }

            if (regionB[i])
            {
                histogramB[binning.IndexOf(image[i])]++;
            }
        }

        // OVL · nA · nB = Σ_k min(hA(k) · nB, hB(k) · nA) in integers (≤ nA · nB < 2^62): exact, so the result
        // lies in [0, 1] and is exactly 0 for equal histograms, where summing rounded fractions can leave -7e-16.
        long scaledOverlap = 0;
        for (int k = 0; k < bins; k++)
        {
            scaledOverlap += Math.Min((long)histogramA[k] * countB, (long)histogramB[k] * countA);
        }

        long scale = (long)countA * countB;
        return (double)(scale - scaledOverlap) / scale;
    }

    private static double MeanSsimOfPlane(
        ReadOnlySpan<float> estimate,
        ReadOnlySpan<float> truth,
        int height,
        int width,
        InteriorGaussianFilter filter,
        SsimPlanes planes,
        double c1,
        double c2)
    {
        // Local moments by filtering x, y, x², y², xy (scikit-image's ux, uy, uxx, uyy, uxy).
        for (int i = 0; i < estimate.Length; i++)
        {
            planes.X[i] = truth[i];
            planes.Y[i] = estimate[i];
        }

        filter.Apply(planes.X, planes.MeanX, planes.Scratch, height, width);
        filter.Apply(planes.Y, planes.MeanY, planes.Scratch, height, width);
        FilterProduct(planes.X, planes.X, planes.MeanXX, planes, filter, height, width);
        FilterProduct(planes.Y, planes.Y, planes.MeanYY, planes, filter, height, width);
        FilterProduct(planes.X, planes.Y, planes.MeanXY, planes, filter, height, width);

        // Average the map over the interior pixels, whose window lies inside the image (skimage: crop(S, pad).mean()).
        double sum = 0;
        for (int i = 0; i < planes.MeanX.Length; i++)
        {
            double ux = planes.MeanX[i];
            double uy = planes.MeanY[i];
            // Population (biased) moments, as Wang et al. (use_sample_covariance=False).
            double vx = planes.MeanXX[i] - (ux * ux);
            double vy = planes.MeanYY[i] - (uy * uy);
            double vxy = planes.MeanXY[i] - (ux * uy);
            double a1 = (2 * ux * uy) + c1;
            double a2 = (2 * vxy) + c2;
            double b1 = (ux * ux) + (uy * uy) + c1;
            double b2 = vx + vy + c2;
            sum += a1 * a2 / (b1 * b2);
        }

        return sum / planes.MeanX.Length;
    }

    private static void FilterProduct(
        double[] a, double[] b, double[] output, SsimPlanes planes, InteriorGaussianFilter filter, int height, int width)
    {
        for (int i = 0; i < a.Length; i++)
        {
            planes.Product[i] = a[i] * b[i];
        }

        filter.Apply(planes.Product, output, planes.Scratch, height, width);
    }

    private static (double Lo, double Hi, int Count) RegionRange(ReadOnlySpan<float> image, ReadOnlySpan<bool> region, string name)
    {
        double lo = double.PositiveInfinity;
        double hi = double.NegativeInfinity;
        int count = 0;
        for (int i = 0; i < image.Length; i++)
        {
            if (!region[i])
            {
                continue;
            }

            if (!float.IsFinite(image[i]))
            {
                throw new ArgumentException($"Pixel {i} of the region is {image[i]}; a histogram needs finite values.", name);
            }

            lo = Math.Min(lo, image[i]);
            hi = Math.Max(hi, image[i]);
            count++;
        }

        if (count == 0)
        {
            throw new ArgumentException("The region is empty; gCNR needs pixels in both regions.", name);
        }

        return (lo, hi, count);
    }

    private static void RequireSameLength(ReadOnlySpan<float> estimate, ReadOnlySpan<float> truth)
    {
        if (estimate.Length != truth.Length)
        {
            throw new ArgumentException(
                $"The images must have the same number of values; got {estimate.Length} (estimate) and {truth.Length} (truth).");
        }
    }

    private static void RequireSameShape(PlanarImage estimate, PlanarImage truth)
    {
        ArgumentNullException.ThrowIfNull(estimate);
        ArgumentNullException.ThrowIfNull(truth);
        if (estimate.Channels != truth.Channels || estimate.Height != truth.Height || estimate.Width != truth.Width)
        {
            throw new ArgumentException($"The images must have the same shape; got {estimate} (estimate) and {truth} (truth).");
        }
    }

    private static void RequireDataRange(double dataRange)
    {
        if (!double.IsFinite(dataRange) || dataRange <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(dataRange), dataRange, "The data range must be finite and positive.");
        }
    }
}
