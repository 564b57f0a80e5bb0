using JointDiffusion.Gpu.Baselines;

namespace JointDiffusion.Gpu.Tests.Baselines;

/// <summary>
/// Non-local means against a direct double-precision evaluation of its definition, and its behaviour: it halves
/// the error of white noise on a piecewise image, leaves the input alone as h → 0 and a constant image unchanged,
/// and is deterministic.
/// </summary>
public sealed class NonLocalMeansTests
{
    /// <summary>numpy's 'reflect' index.</summary>
    private static int Reflect(int i, int n)
    {
        while (i < 0 || i >= n)
        {
            i = i < 0 ? -i : (2 * (n - 1)) - i;
        }

        return i;
    }

    /// <summary>The definition, pixel by pixel: mean of neighbours weighted by exp(−max(d² − 2σ², 0)/h²).</summary>
    private static float[] Direct(float[] image, int channels, int height, int width, int patchRadius, int searchRadius, double sigma, double h)
    {
        var output = new float[image.Length];
        int area = ((2 * patchRadius) + 1) * ((2 * patchRadius) + 1);
        for (int c = 0; c < channels; c++)
        {
            double At(int y, int x) => image[(((c * height) + Reflect(y, height)) * width) + Reflect(x, width)];
            for (int y = 0; y < height; y++)
            {
                for (int x = 0; x < width; x++)
                {
                    double numerator = 0, denominator = 0;
                    for (int dy = -searchRadius; dy <= searchRadius; dy++)
                    {
                        for (int dx = -searchRadius; dx <= searchRadius; dx++)
                        {
                            double distance = 0;
                            for (int py = -patchRadius; py <= patchRadius; py++)
                            {
                                for (int px = -patchRadius; px <= patchRadius; px++)
                                {
                                    double e = At(y + py, x + px) - At(y + dy + py, x + dx + px);
                                    distance += e * e;
                                }
                            }

                            double weight = Math.Exp(-Math.Max((distance / area) - (2 * sigma * sigma), 0) / (h * h));
                            numerator += weight * At(y + dy, x + dx);
                            denominator += weight;
                        }
                    }

                    output[(((c * height) + y) * width) + x] = (float)(numerator / denominator);
                }
            }
        }

        return output;
    }

    [Theory]
    [InlineData(1, 2, 0.05, 0.04)]
    [InlineData(2, 5, 0.1, 0.08)]
    [InlineData(0, 3, 0.0, 0.2)]
    public void Denoise_MatchesDirectDefinition(int patchRadius, int searchRadius, double sigma, double h)
    {
        // 12×10 is smaller than the 2·7 + 1 reflected margin of the default window, so the border folds more than
        // once. Float box sums of ≤ 25 squares and float weights: 1e-5 absolute on values in [0, 1.3].
        const int channels = 2, height = 12, width = 10;
        float[] image = BaselineTestImages.Add(BaselineTestImages.Piecewise(channels, height, width), BaselineTestImages.Noise(channels * height * width, 0.1, seed: 31));
        var options = new NonLocalMeansOptions { PatchRadius = patchRadius, SearchRadius = searchRadius, Sigma = sigma, H = h };

        float[] fast = NonLocalMeans.Denoise(image, channels, height, width, options);
        float[] direct = Direct(image, channels, height, width, patchRadius, searchRadius, sigma, h);

        for (int p = 0; p < image.Length; p++)
        {
            Assert.Equal(direct[p], fast[p], 1e-5);
        }
    }

    [Fact]
    public void Denoise_OfPiecewiseImageWithWhiteNoise_AtLeastHalvesMse()
    {
        const int channels = 3, height = 32, width = 32;
        float[] clean = BaselineTestImages.Piecewise(channels, height, width);
        float[] noisy = BaselineTestImages.Add(clean, BaselineTestImages.Noise(clean.Length, 0.1, seed: 41));

        float[] denoised = NonLocalMeans.Denoise(noisy, channels, height, width);

        double before = BaselineTestImages.Mse(noisy, clean), after = BaselineTestImages.Mse(denoised, clean);
        Assert.True(after < 0.5 * before, $"MSE {before:G4} → {after:G4}");
    }

    [Fact]
    public void Denoise_WithTinyHAndNoSigma_ReturnsInput()
    {
        // Every neighbour whose patch differs at all gets weight exp(−d²/h²) = 0; identical patches have equal centres.
        float[] image = BaselineTestImages.Uniform(2 * 16 * 16, seed: 43);

        float[] output = NonLocalMeans.Denoise(image, 2, 16, 16, new NonLocalMeansOptions { Sigma = 0, H = 1e-6 });

        for (int p = 0; p < image.Length; p++)
        {
            Assert.Equal(image[p], output[p], 1e-6);
        }
    }

    [Fact]
    public void Denoise_LeavesConstantImageUnchanged()
    {
        float[] image = Enumerable.Repeat(0.37f, 3 * 8 * 8).ToArray();

        float[] output = NonLocalMeans.Denoise(image, 3, 8, 8);

        Assert.All(output, v => Assert.Equal(0.37f, v, 1e-6f));
    }

    [Fact]
    public void Denoise_IsDeterministicFiniteAndShapePreserving()
    {
        float[] image = BaselineTestImages.Add(BaselineTestImages.Ramp(3, 16, 24), BaselineTestImages.Noise(3 * 16 * 24, 0.2, seed: 47));

        float[] first = NonLocalMeans.Denoise(image, 3, 16, 24);
        float[] second = NonLocalMeans.Denoise(image, 3, 16, 24);

        Assert.Equal(image.Length, first.Length);
        Assert.All(first, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(first, second);
        Assert.NotEqual(image, first);
    }

    [Fact]
    public void DenoiseBatch_MatchesDenoisingEachImage()
    {
        const int count = 3, length = 1 * 16 * 16;
        var images = new float[count * length];
        for (int k = 0; k < count; k++)
        {
            BaselineTestImages.Add(BaselineTestImages.Piecewise(1, 16, 16), BaselineTestImages.Noise(length, 0.05 * (k + 1), seed: (ulong)(50 + k))).CopyTo(images, k * length);
        }

        float[] batch = NonLocalMeans.DenoiseBatch(images, count, 1, 16, 16);

        for (int k = 0; k < count; k++)
        {
            Assert.Equal(NonLocalMeans.Denoise(images.AsSpan(k * length, length), 1, 16, 16), batch.AsSpan(k * length, length).ToArray());
        }
    }

    [Fact]
    public void Denoise_RefusesBadShapesAndSettings()
    {
        Assert.Throws<ArgumentException>(() => NonLocalMeans.Denoise(new float[15], 1, 4, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => NonLocalMeans.Denoise(new float[4], 1, 1, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => NonLocalMeans.Denoise(new float[16], 1, 4, 4, new NonLocalMeansOptions { H = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => NonLocalMeans.Denoise(new float[16], 1, 4, 4, new NonLocalMeansOptions { PatchRadius = -1 }));
        Assert.Throws<ArgumentException>(() => NonLocalMeans.DenoiseBatch(new float[31], 2, 1, 4, 4));
    }
}
