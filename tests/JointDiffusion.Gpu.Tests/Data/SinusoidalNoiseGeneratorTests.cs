using JointDiffusion.Gpu.Data;
using JointDiffusion.Kernels;

namespace JointDiffusion.Gpu.Tests.Data;

public sealed class SinusoidalNoiseGeneratorTests
{
    [Fact]
    public void PerRowStdMap_IsScaleTimesExpSinOfTheRow()
    {
        var noise = SinusoidalNoiseGenerator.PerRow(channels: 3, height: 40, width: 5, seed: 1, scale: 0.25);
        float[] std = noise.StdMap();

        Assert.Equal(3 * 40 * 5, std.Length);
        for (int c = 0; c < 3; c++)
        {
            for (int y = 0; y < 40; y++)
            {
                float expected = (float)(0.25 * Math.Exp(Math.Sin(2 * Math.PI * y / 16)));
                for (int x = 0; x < 5; x++)
                {
                    Assert.Equal(expected, std[(((c * 40) + y) * 5) + x], 6);
                }
            }
        }
    }

    [Fact]
    public void PerElementStdMap_IsScaleTimesExpSinOfTheFlatIndex()
    {
        var noise = SinusoidalNoiseGenerator.PerElement(channels: 1, height: 1, width: 100, seed: 1, scale: 2);
        float[] std = noise.StdMap();
        for (int k = 0; k < 100; k++)
        {
            Assert.Equal((float)(2 * Math.Exp(Math.Sin(2 * Math.PI * k / 16))), std[k], 5);
        }

        // The extremes of exp(sin): e at k ≡ 4 (mod 16), 1/e at k ≡ 12.
        Assert.Equal(2 * Math.E, std[4], 5);
        Assert.Equal(2 / Math.E, std[12], 5);
    }

    [Fact]
    public void EmpiricalRowStd_MatchesTheFormula()
    {
        const int samples = 200;
        var noise = SinusoidalNoiseGenerator.PerRow(channels: 1, height: 32, width: 32, seed: 2024, scale: 0.5);
        var sumSquares = new double[32];
        var image = new float[32 * 32];
        for (int i = 0; i < samples; i++)
        {
            noise.CopyTo(i, image);
            for (int p = 0; p < image.Length; p++)
            {
                sumSquares[p / 32] += (double)image[p] * image[p];
            }
        }

        // n = 200 · 32 = 6400 zero-mean normal values per row: the relative standard error of the root mean
        // square is 1/√(2n) = 0.88 %. Five standard errors (4.4 %) bound all 32 rows with probability > 0.9999.
        int n = samples * 32;
        double bound = 5 / Math.Sqrt(2.0 * n);
        for (int k = 0; k < 32; k++)
        {
            double expected = 0.5 * Math.Exp(Math.Sin(2 * Math.PI * k / 16));
            double measured = Math.Sqrt(sumSquares[k] / n);
            Assert.InRange(measured / expected, 1 - bound, 1 + bound);
        }
    }

    [Fact]
    public void EmpiricalElementStd_MatchesTheFormula()
    {
        const int samples = 4000;
        var noise = SinusoidalNoiseGenerator.PerElement(channels: 1, height: 1, width: 48, seed: 77);
        var sumSquares = new double[48];
        var sum = new double[48];
        var image = new float[48];
        for (int i = 0; i < samples; i++)
        {
            noise.CopyTo(i, image);
            for (int k = 0; k < 48; k++)
            {
                sum[k] += image[k];
                sumSquares[k] += (double)image[k] * image[k];
            }
        }

        // 4000 values per element: relative standard error of the root mean square 1/√8000 = 1.1 %, of the
        // mean σ/√4000 = 1.6 % of σ; five standard errors each bound all 48 elements with probability > 0.9999.
        for (int k = 0; k < 48; k++)
        {
            double sigma = Math.Exp(Math.Sin(2 * Math.PI * k / 16));
            Assert.InRange(Math.Sqrt(sumSquares[k] / samples) / sigma, 1 - (5 / Math.Sqrt(8000.0)), 1 + (5 / Math.Sqrt(8000.0)));
            Assert.InRange(sum[k] / samples / sigma, -5 / Math.Sqrt(4000.0), 5 / Math.Sqrt(4000.0));
        }
    }

    [Fact]
    public void ImageI_IsTheStdMapTimesThePhiloxStreamAtOffsetITimesD()
    {
        // The contract that lets a device draw the same noise with FillGaussian(batch, seed, i₀·d).
        var noise = SinusoidalNoiseGenerator.PerRow(channels: 3, height: 8, width: 4, seed: 99, scale: 0.3);
        float[] std = noise.StdMap();
        const ulong d = 3 * 8 * 4;
        foreach (int index in new[] { 0, 1, 12345, int.MaxValue - 1 })
        {
            float[] image = DigitNoiseGeneratorTests.Draw(noise, index);
            for (int p = 0; p < image.Length; p++)
            {
                Assert.Equal(std[p] * Philox.Gaussian(99, ((ulong)index * d) + (ulong)p), image[p]);
            }
        }
    }

    [Fact]
    public void Images_AreFixedBySeedAndIndex_AndDifferAcrossIndicesAndSeeds()
    {
        var noise = SinusoidalNoiseGenerator.PerRow(1, 16, 16, seed: 5);
        var again = SinusoidalNoiseGenerator.PerRow(1, 16, 16, seed: 5);
        var other = SinusoidalNoiseGenerator.PerRow(1, 16, 16, seed: 6);

        Assert.Equal(DigitNoiseGeneratorTests.Draw(noise, 3), DigitNoiseGeneratorTests.Draw(again, 3));
        Assert.NotEqual(DigitNoiseGeneratorTests.Draw(noise, 3), DigitNoiseGeneratorTests.Draw(noise, 4));
        Assert.NotEqual(DigitNoiseGeneratorTests.Draw(noise, 3), DigitNoiseGeneratorTests.Draw(other, 3));
        Assert.Equal(int.MaxValue, noise.Count);
    }

    [Fact]
    public void WithRmsStd_SetsTheRootMeanSquareStd()
    {
        var noise = SinusoidalNoiseGenerator.PerRow(1, 32, 32, seed: 1).WithRmsStd(0.2);
        float[] std = noise.StdMap();

        Assert.Equal(0.2, Math.Sqrt(std.Average(s => (double)s * s)), 6);
        Assert.Equal(0.2, noise.RmsStd, 6);
        // Over whole periods mean exp(2 sin) is the Bessel value I₀(2) = 2.2795853, so scale = 0.2 / √I₀(2).
        Assert.Equal(0.2 / Math.Sqrt(2.2795853023360673), noise.Scale, 6);
    }

    [Fact]
    public void Refuses_BadScaleShapeCountAndBuffer()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SinusoidalNoiseGenerator.PerRow(1, 4, 4, 0, scale: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => SinusoidalNoiseGenerator.PerRow(1, 4, 4, 0, scale: double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => SinusoidalNoiseGenerator.PerElement(1, 0, 4, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => SinusoidalNoiseGenerator.PerElement(1, 4, 4, 0, count: 0));
        var noise = SinusoidalNoiseGenerator.PerRow(1, 4, 4, 0, count: 10);
        Assert.Throws<ArgumentOutOfRangeException>(() => noise.CopyTo(10, new float[16]));
        Assert.Throws<ArgumentException>(() => noise.CopyTo(0, new float[15]));
    }
}
