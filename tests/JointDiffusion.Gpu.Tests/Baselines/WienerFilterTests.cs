using JointDiffusion.Gpu.Baselines;

namespace JointDiffusion.Gpu.Tests.Baselines;

/// <summary>The local Wiener filter: a hand-computed pixel, its two limits, and that it reduces white noise.</summary>
public sealed class WienerFilterTests
{
    [Fact]
    public void Denoise_CentrePixel_MatchesHandComputation()
    {
        // 3×3 image, 3×3 window: the centre's window is the whole image. Mean 50/9, E[x²] = 360/9 = 40,
        // variance 40 − (50/9)², ν = 2: out = mean + (1 − ν/variance)(10 − mean).
        float[] image = [1, 2, 3, 4, 10, 6, 7, 8, 9];
        double mean = 50.0 / 9, variance = 40 - (mean * mean);

        float[] output = WienerFilter.Denoise(image, 1, 3, 3, windowSize: 3, noiseVariance: 2);

        Assert.Equal(mean + ((1 - (2 / variance)) * (10 - mean)), output[4], 1e-5);
    }

    [Fact]
    public void Denoise_WithZeroNoiseVariance_ReturnsInput()
    {
        float[] image = BaselineTestImages.Uniform(2 * 8 * 8, seed: 61);

        float[] output = WienerFilter.Denoise(image, 2, 8, 8, noiseVariance: 0);

        for (int p = 0; p < image.Length; p++)
        {
            Assert.Equal(image[p], output[p], 1e-6);
        }
    }

    [Fact]
    public void Denoise_WithHugeNoiseVariance_ReturnsLocalMean()
    {
        // v ≤ ν everywhere, so each pixel becomes its reflected 3×3 mean; pixel (0, 0) sees rows 1,0,1 × columns 1,0,1.
        float[] image = BaselineTestImages.Uniform(6 * 6, seed: 62);
        double expected = 0;
        foreach (int y in new[] { 1, 0, 1 })
        {
            foreach (int x in new[] { 1, 0, 1 })
            {
                expected += image[(y * 6) + x] / 9.0;
            }
        }

        float[] output = WienerFilter.Denoise(image, 1, 6, 6, windowSize: 3, noiseVariance: 100);

        Assert.Equal(expected, output[0], 1e-6);
    }

    [Fact]
    public void Denoise_OfPiecewiseImageWithWhiteNoise_ReducesMse()
    {
        float[] clean = BaselineTestImages.Piecewise(3, 32, 32);
        float[] noisy = BaselineTestImages.Add(clean, BaselineTestImages.Noise(clean.Length, 0.1, seed: 63));

        float[] denoised = WienerFilter.Denoise(noisy, 3, 32, 32);

        double before = BaselineTestImages.Mse(noisy, clean), after = BaselineTestImages.Mse(denoised, clean);
        Assert.True(after < 0.6 * before, $"MSE {before:G4} → {after:G4}");
    }

    [Fact]
    public void DenoiseBatch_MatchesDenoisingEachImage()
    {
        const int count = 2, length = 3 * 8 * 8;
        float[] images = BaselineTestImages.Uniform(count * length, seed: 64);

        float[] batch = WienerFilter.DenoiseBatch(images, count, 3, 8, 8);

        for (int k = 0; k < count; k++)
        {
            Assert.Equal(WienerFilter.Denoise(images.AsSpan(k * length, length), 3, 8, 8), batch.AsSpan(k * length, length).ToArray());
        }
    }

    [Fact]
    public void Denoise_RefusesBadSettings()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => WienerFilter.Denoise(new float[16], 1, 4, 4, windowSize: 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => WienerFilter.Denoise(new float[16], 1, 4, 4, noiseVariance: -1));
        Assert.Throws<ArgumentException>(() => WienerFilter.Denoise(new float[15], 1, 4, 4));
    }
}
