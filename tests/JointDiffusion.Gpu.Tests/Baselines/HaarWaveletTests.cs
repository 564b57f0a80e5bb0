using JointDiffusion.Gpu.Baselines;

namespace JointDiffusion.Gpu.Tests.Baselines;

/// <summary>
/// The Haar transform is orthonormal (its matrix satisfies Wᵀ W = I), has the Mallat layout, and Donoho's σ̂
/// finds white noise. Tolerances: float32 sums of four ±½ terms per level, a few levels deep, err by ~1e-7
/// relative, so 1e-5 leaves ample room while any wrong sign or index gives errors of order 1.
/// </summary>
public sealed class HaarWaveletTests
{
    [Fact]
    public void Forward_OfTwoByTwo_MatchesHandComputedCoefficients()
    {
        // (a b; c d) = (1 2; 4 8): approximation (1+2+4+8)/2, column difference (1−2+4−8)/2,
        // row difference (1+2−4−8)/2, diagonal (1−2−4+8)/2, laid out [approx, column; row, diagonal].
        var wavelet = new HaarWavelet(1, 2, 2);

        float[] coefficients = wavelet.Forward([1f, 2f, 4f, 8f]);

        Assert.Equal([7.5f, -2.5f, -4.5f, 1.5f], coefficients);
        Assert.Equal([true, false, false, false], wavelet.ApproximationMask.ToArray());
    }

    [Fact]
    public void Matrix_IsOrthogonal()
    {
        // Build W column by column from unit vectors and check Wᵀ W = I: orthonormality, not just invertibility.
        var wavelet = new HaarWavelet(2, 8, 4, levels: 2);
        int d = wavelet.Length;
        var columns = new float[d][];
        for (int j = 0; j < d; j++)
        {
            var unit = new float[d];
            unit[j] = 1f;
            columns[j] = wavelet.Forward(unit);
        }

        for (int i = 0; i < d; i++)
        {
            for (int j = 0; j < d; j++)
            {
                double dot = columns[i].Select((v, k) => (double)v * columns[j][k]).Sum();
                Assert.Equal(i == j ? 1.0 : 0.0, dot, 1e-6);
            }
        }
    }

    [Theory]
    [InlineData(1, 8, 8, 1)]
    [InlineData(3, 16, 8, 3)]
    [InlineData(2, 12, 20, 2)]
    [InlineData(3, 32, 32, null)]
    public void InverseOfForward_RecoversImage_AndPreservesNorm(int channels, int height, int width, int? levels)
    {
        var wavelet = new HaarWavelet(channels, height, width, levels);
        float[] image = BaselineTestImages.Uniform(wavelet.Length, seed: 3);

        float[] coefficients = wavelet.Forward(image);
        float[] back = wavelet.Inverse(coefficients);

        for (int p = 0; p < image.Length; p++)
        {
            Assert.Equal(image[p], back[p], 1e-5);
        }

        Assert.Equal(BaselineTestImages.Norm(image), BaselineTestImages.Norm(coefficients), 1e-5 * BaselineTestImages.Norm(image));
        Assert.NotEqual(image, coefficients);
    }

    [Fact]
    public void ForwardAndInverse_WorkInPlace()
    {
        var wavelet = new HaarWavelet(3, 8, 8);
        float[] image = BaselineTestImages.Uniform(wavelet.Length, seed: 5);
        float[] expected = wavelet.Forward(image);
        float[] buffer = [.. image];

        wavelet.Forward(buffer, buffer);
        Assert.Equal(expected, buffer);
        wavelet.Inverse(buffer, buffer);
        for (int p = 0; p < image.Length; p++)
        {
            Assert.Equal(image[p], buffer[p], 1e-5);
        }
    }

    [Fact]
    public void ConstantImage_HasEnergyOnlyInApproximationBand()
    {
        // Each level doubles a constant's approximation coefficient (four values times ½): 0.3 · 2^levels.
        var wavelet = new HaarWavelet(2, 16, 16, levels: 3);
        float[] image = Enumerable.Repeat(0.3f, wavelet.Length).ToArray();

        float[] coefficients = wavelet.Forward(image);

        Assert.Equal(2 * 2 * 2, wavelet.ApproximationCount);
        for (int j = 0; j < coefficients.Length; j++)
        {
            Assert.Equal(wavelet.ApproximationMask[j] ? 0.3 * 8 : 0.0, coefficients[j], 1e-5);
        }
    }

    [Fact]
    public void ApproximationMask_IsTopLeftCoarseBlockOfEachPlane()
    {
        var wavelet = new HaarWavelet(2, 8, 12, levels: 2);

        Assert.Equal(2, wavelet.ApproximationHeight);
        Assert.Equal(3, wavelet.ApproximationWidth);
        Assert.Equal(12, wavelet.ApproximationCount);
        for (int j = 0; j < wavelet.Length; j++)
        {
            int y = j / 12 % 8, x = j % 12;
            Assert.Equal(y < 2 && x < 3, wavelet.ApproximationMask[j]);
        }
    }

    [Theory]
    [InlineData(32, 32, 3)]
    [InlineData(28, 28, 2)]
    [InlineData(16, 16, 2)]
    [InlineData(64, 32, 3)]
    [InlineData(6, 6, 1)]
    [InlineData(2, 2, 1)]
    public void DefaultLevels_StopAtCoarsestSideFourOrDivisibility(int height, int width, int expected)
    {
        Assert.Equal(expected, HaarWavelet.DefaultLevels(height, width));
        Assert.Equal(expected, new HaarWavelet(1, height, width).Levels);
    }

    [Fact]
    public void Constructor_RefusesSizesNotDivisibleByTwoToTheLevels()
    {
        Assert.Throws<ArgumentException>(() => new HaarWavelet(1, 6, 6, levels: 2));
        Assert.Throws<ArgumentException>(() => new HaarWavelet(1, 7, 8));
        Assert.Throws<ArgumentException>(() => new HaarWavelet(1, 1, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HaarWavelet(0, 8, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HaarWavelet(1, 8, 8, levels: 0));
        var wavelet = new HaarWavelet(1, 8, 8);
        Assert.Throws<ArgumentException>(() => wavelet.Forward(new float[63]));
        Assert.Throws<ArgumentException>(() => wavelet.Inverse(new float[65]));
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.03)]
    public void EstimateNoiseStd_OfSmoothImagePlusWhiteNoise_IsWithinThirtyPercent(double sigma)
    {
        // 3 · 32 · 32 / 4 = 768 diagonal coefficients: the median's relative standard error is ~1.9/√768 ≈ 7 %, so
        // ±30 % is over four standard errors; the ramp's own diagonal band is exactly zero.
        float[] clean = BaselineTestImages.Ramp(3, 32, 32);
        float[] noisy = BaselineTestImages.Add(clean, BaselineTestImages.Noise(clean.Length, sigma, seed: 11));

        double estimate = HaarWavelet.EstimateNoiseStd(noisy, 3, 32, 32);

        Assert.InRange(estimate, 0.7 * sigma, 1.3 * sigma);
        Assert.Equal(0.0, HaarWavelet.EstimateNoiseStd(clean, 3, 32, 32), 1e-6);
    }

    [Fact]
    public void EstimateNoiseStd_RefusesMismatchedLength()
    {
        Assert.Throws<ArgumentException>(() => HaarWavelet.EstimateNoiseStd(new float[15], 1, 4, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => HaarWavelet.EstimateNoiseStd(new float[4], 1, 1, 4));
    }
}
