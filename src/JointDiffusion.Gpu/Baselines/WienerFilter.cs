namespace JointDiffusion.Gpu.Baselines;

/// <summary>
/// The local adaptive Wiener filter (Lee 1980; <c>scipy.signal.wiener</c>), a cheap denoising baseline for
/// <c>jointdiff eval</c>: with the local mean μ and variance v over a k × k window and the noise variance ν,
/// out = μ + (1 − ν / v)(x − μ) where v &gt; ν, else μ. Each channel is filtered on its own.
/// <para>Two departures from SciPy: the border is reflected (numpy 'reflect') rather than zero-padded, so edges do
/// not darken; and the default ν is Donoho's σ̂² (<see cref="HaarWavelet.EstimateNoiseStd"/>) rather than the
/// mean local variance, which counts image detail as noise.</para>
/// <para>Known limits: it assumes white noise of one variance everywhere, so structured (spatially varying,
/// correlated) noise is smoothed only where it happens to look like that level, and texture is lost with it.</para>
/// </summary>
public static class WienerFilter
{
    /// <summary>Filters one planar <c>[C, H, W]</c> image.</summary>
    /// <param name="image">C · H · W values.</param>
    /// <param name="channels">C ≥ 1.</param>
    /// <param name="height">H ≥ 2.</param>
    /// <param name="width">W ≥ 2.</param>
    /// <param name="windowSize">k, odd and ≥ 1; 5 by default.</param>
    /// <param name="noiseVariance">ν ≥ 0; null for σ̂² of the image.</param>
    /// <returns>A new filtered image of the same shape.</returns>
    /// <exception cref="ArgumentException">When a size or setting is out of range or the length does not match.</exception>
    public static float[] Denoise(ReadOnlySpan<float> image, int channels, int height, int width, int windowSize = 5, double? noiseVariance = null)
    {
        Validate(image.Length, 1, channels, height, width, windowSize, noiseVariance);
        var output = new float[image.Length];
        DenoiseInto(image, output, channels, height, width, windowSize, noiseVariance);
        return output;
    }

    /// <summary>Filters <paramref name="count"/> images in parallel, each with its own σ̂² unless ν is given.</summary>
    /// <param name="images">Row-major [count, C, H, W].</param>
    /// <param name="count">The number of images, ≥ 1.</param>
    /// <param name="channels">C ≥ 1.</param>
    /// <param name="height">H ≥ 2.</param>
    /// <param name="width">W ≥ 2.</param>
    /// <param name="windowSize">k, odd and ≥ 1; 5 by default.</param>
    /// <param name="noiseVariance">ν ≥ 0; null for σ̂² of each image.</param>
    /// <returns>The filtered images, [count, C, H, W].</returns>
    public static float[] DenoiseBatch(float[] images, int count, int channels, int height, int width, int windowSize = 5, double? noiseVariance = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        Validate(images.Length, count, channels, height, width, windowSize, noiseVariance);
        int length = channels * height * width;
        var output = new float[images.Length];
        Parallel.For(0, count, k => DenoiseInto(images.AsSpan(k * length, length), output.AsSpan(k * length, length), channels, height, width, windowSize, noiseVariance));
        return output;
    }

    private static void Validate(long length, int count, int channels, int height, int width, int windowSize, double? noiseVariance)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 2);
        if (windowSize < 1 || windowSize % 2 == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(windowSize), $"The window size must be odd and ≥ 1; got {windowSize}.");
        }

        if (noiseVariance is { } nu && !(nu >= 0 && double.IsFinite(nu)))
        {
            throw new ArgumentOutOfRangeException(nameof(noiseVariance), $"The noise variance must be finite and ≥ 0; got {nu}.");
        }

        long expected = (long)count * channels * height * width;
        if (length != expected)
        {
            throw new ArgumentException($"{count} image(s) of [{channels}, {height}, {width}] need {expected} values; got {length}.");
        }
    }

    private static void DenoiseInto(ReadOnlySpan<float> image, Span<float> output, int channels, int height, int width, int windowSize, double? noiseVariance)
    {
        double nu = noiseVariance ?? Math.Pow(HaarWavelet.EstimateNoiseStd(image, channels, height, width), 2);
        int radius = windowSize / 2;
        double inverseArea = 1.0 / (windowSize * windowSize);
        int planeLength = height * width;
        for (int c = 0; c < channels; c++)
        {
            ReadOnlySpan<float> plane = image.Slice(c * planeLength, planeLength);
            Span<float> result = output.Slice(c * planeLength, planeLength);
            for (int y = 0; y < height; y++)
            {
                for (int x = 0; x < width; x++)
                {
                    double sum = 0, sumSquares = 0;
                    for (int i = -radius; i <= radius; i++)
                    {
                        int row = Reflect(y + i, height) * width;
                        for (int j = -radius; j <= radius; j++)
                        {
                            double v = plane[row + Reflect(x + j, width)];
                            sum += v;
                            sumSquares += v * v;
                        }
                    }

                    double mean = sum * inverseArea;
                    double variance = (sumSquares * inverseArea) - (mean * mean);
                    double value = plane[(y * width) + x];
                    result[(y * width) + x] = variance <= nu ? (float)mean : (float)(mean + ((1 - (nu / variance)) * (value - mean)));
                }
            }
        }
    }

    /// <summary>numpy's 'reflect' index (the edge sample not repeated), for any offset.</summary>
    private static int Reflect(int index, int length)
    {
        int period = 2 * (length - 1);
        int folded = ((index % period) + period) % period;
        return folded < length ? folded : period - folded;
    }
}
