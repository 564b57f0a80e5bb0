using JointDiffusion.Gpu.Data;

namespace JointDiffusion.Gpu.Tests.Data;

public sealed class RainNoiseGeneratorTests
{
    [Theory]
    [InlineData(1, 32, 32)]
    [InlineData(3, 24, 40)]
    public void Images_AreInUnitRange_NotEmpty_AndFixedBySeedAndIndex(int channels, int height, int width)
    {
        var rain = new RainNoiseGenerator(channels, height, width, seed: 7);
        var again = new RainNoiseGenerator(channels, height, width, seed: 7);
        var other = new RainNoiseGenerator(channels, height, width, seed: 8);
        int plane = height * width;
        for (int i = 0; i < 20; i++)
        {
            float[] image = DigitNoiseGeneratorTests.Draw(rain, i);
            Assert.Equal(channels * plane, image.Length);
            Assert.All(image, v => Assert.InRange(v, 0f, 1f));
            Assert.True(image.Max() > 0.2f, $"image {i} has no visible streak");
            // Rain, not fog: even the densest default images leave over a third of the pixels dark (measured 37 % at least).
            Assert.True(image.Count(v => v < 0.01f) > image.Length / 5, $"image {i} has almost no dark pixel");
            for (int c = 1; c < channels; c++)
            {
                Assert.Equal(image[..plane], image[(c * plane)..((c + 1) * plane)]);
            }

            Assert.Equal(image, DigitNoiseGeneratorTests.Draw(again, i));
            Assert.NotEqual(image, DigitNoiseGeneratorTests.Draw(rain, i + 1));
            Assert.NotEqual(image, DigitNoiseGeneratorTests.Draw(other, i));
        }
    }

    [Theory]
    [InlineData(32, 32)]
    [InlineData(32, 64)]
    public void Layouts_FollowTheModelRanges_AndTheStatedDensity(int height, int width)
    {
        const int images = 2000;
        var model = new NoiseRainModel();
        var rain = new RainNoiseGenerator(1, height, width, seed: 2025, model);
        double angleSum = 0, countSum = 0;
        for (int i = 0; i < images; i++)
        {
            double angle = rain.AngleOf(i);
            IReadOnlyList<NoiseRainStreak> streaks = rain.StreaksOf(i);
            Assert.InRange(angle, -model.MaxAngleDegrees, model.MaxAngleDegrees);
            Assert.InRange(streaks.Count, (int)(model.MinDensity * width / height), (int)Math.Ceiling(model.MaxDensity * width / height));
            angleSum += angle;
            countSum += streaks.Count;
            foreach (NoiseRainStreak s in streaks)
            {
                Assert.InRange(s.AngleDegrees - angle, -model.AngleJitterDegrees - 1e-9, model.AngleJitterDegrees + 1e-9);
                Assert.InRange(s.CentreX, 0, width);
                Assert.InRange(s.CentreY, 0, height);
                Assert.InRange(s.Length, (model.MinLength * height) - 1e-9, (model.MaxLength * height) + 1e-9);
                Assert.InRange(s.Width, (model.MinWidth * height) - 1e-9, (model.MaxWidth * height) + 1e-9);
                Assert.InRange(s.Intensity, model.MinIntensity - 1e-9, model.MaxIntensity + 1e-9);
            }
        }

        // The image angle is uniform on [−20°, 20°]: standard deviation 40/√12 = 11.5°, so the mean of 2000 has a
        // standard error of 0.26° and ±1.3° is five of them.
        Assert.InRange(angleSum / images, -1.3, 1.3);
        // E[N] = E[ρ]·W/H = 16·W/H. Var N ≤ Var ρ·(W/H)² + 1/4 (rounding), so for W/H ≤ 2 its standard deviation
        // is at most 9.3 and the mean of 2000 has a standard error of at most 0.21: ±1.05 is five of them.
        Assert.InRange(countSum / images, (16.0 * width / height) - 1.05, (16.0 * width / height) + 1.05);
    }

    [Fact]
    public void SingleStreak_HasTheModelsMassCentreDirectionAndPeak()
    {
        // One streak per 64 × 64 image (density 1 per H × H): the image is that streak's v exactly.
        var model = new NoiseRainModel { MinDensity = 1, MaxDensity = 1 };
        var rain = new RainNoiseGenerator(1, 64, 64, seed: 31, model);
        int checkedStreaks = 0;
        for (int i = 0; i < 200 && checkedStreaks < 25; i++)
        {
            NoiseRainStreak s = Assert.Single(rain.StreaksOf(i));
            double theta = s.AngleDegrees * Math.PI / 180;
            double sigmaAcross = Math.Sqrt(Math.Pow(s.Width / 2.3548200450309493, 2) + Math.Pow(model.Blur * 64, 2));
            double reach = (s.Length / 2) + (4 * sigmaAcross);
            if (s.CentreX - reach < 0 || s.CentreX + reach > 64 || s.CentreY - reach < 0 || s.CentreY + reach > 64)
            {
                continue; // clipped by the border: its mass and centre are not the model's
            }

            checkedStreaks++;
            float[] image = DigitNoiseGeneratorTests.Draw(rain, i);
            double mass = 0, mx = 0, my = 0;
            for (int p = 0; p < image.Length; p++)
            {
                mass += image[p];
                mx += image[p] * ((p % 64) + 0.5);
                my += image[p] * ((p / 64) + 0.5);
            }

            mx /= mass;
            my /= mass;
            double cxx = 0, cyy = 0, cxy = 0;
            for (int p = 0; p < image.Length; p++)
            {
                double dx = (p % 64) + 0.5 - mx, dy = (p / 64) + 0.5 - my;
                cxx += image[p] * dx * dx;
                cyy += image[p] * dy * dy;
                cxy += image[p] * dx * dy;
            }

            // Mass = a · L · √(2π) σ_t: the blurred segment integrates to L along and the Gaussian to √(2π) σ_t
            // across. Truncating the Gaussian at 3σ loses 0.27 %, and a unit-grid sum of profiles this smooth
            // (σ ≥ 0.8 px) differs from the integral by less than 1e-5, so 0.5 % is a safe bound.
            double expectedMass = s.Intensity * s.Length * Math.Sqrt(2 * Math.PI) * sigmaAcross;
            Assert.InRange(mass / expectedMass, 0.995, 1.005);
            // The streak is symmetric about its midpoint and its axis, so the centroid and the principal axis of
            // the second moments are the midpoint and the direction (sin θ, cos θ) up to sampling error.
            Assert.InRange(mx - s.CentreX, -0.02, 0.02);
            Assert.InRange(my - s.CentreY, -0.02, 0.02);
            double axisFromVertical = (Math.PI / 2) - (0.5 * Math.Atan2(2 * cxy, cxx - cyy));
            Assert.InRange(WrapHalfTurn(axisFromVertical - theta) * 180 / Math.PI, -0.5, 0.5);
            // The pixel centre nearest the axis is within half a pixel of it: exp(−0.5²/2σ_t²) ≥ 0.87 of the peak.
            Assert.InRange(image.Max(), 0.87 * s.Intensity, s.Intensity + 1e-6);
        }

        Assert.True(checkedStreaks >= 10, $"only {checkedStreaks} streaks lay inside the image");
    }

    [Fact]
    public void RenderedRain_RunsInTheDrawnDirection()
    {
        // The structure tensor J = Σ ∇I ∇Iᵀ of parallel streaks (no jitter) has its major eigenvector across
        // them, at −θ from the x axis for streaks along (sin θ, cos θ). Plain central differences respond less to
        // the finer x-structure of a tilted 1-pixel line and bias the estimate by up to 5° away from vertical;
        // Scharr's derivative does not. The streak ends and crossings still add gradients in other directions:
        // over these 200 images the estimate is off by 0.7° rms and 2.3° at most, so 3° is the bound.
        var rain = new RainNoiseGenerator(1, 64, 64, seed: 5, new NoiseRainModel { AngleJitterDegrees = 0 });
        for (int i = 0; i < 200; i++)
        {
            float[] image = DigitNoiseGeneratorTests.Draw(rain, i);
            double jxx = 0, jyy = 0, jxy = 0;
            for (int y = 1; y < 63; y++)
            {
                for (int x = 1; x < 63; x++)
                {
                    double gx = Scharr(image, y, x, 0, 1);
                    double gy = Scharr(image, y, x, 1, 0);
                    jxx += gx * gx;
                    jyy += gy * gy;
                    jxy += gx * gy;
                }
            }

            double gradientAngle = 0.5 * Math.Atan2(2 * jxy, jxx - jyy);
            double error = WrapHalfTurn(gradientAngle + (rain.AngleOf(i) * Math.PI / 180)) * 180 / Math.PI;
            Assert.True(Math.Abs(error) < 3, $"image {i}: drawn {rain.AngleOf(i):F1}°, measured {-gradientAngle * 180 / Math.PI:F1}°");
        }
    }

    [Fact]
    public void Refuses_BadModelsSizesAndBuffers()
    {
        Assert.Throws<ArgumentException>(() => new RainNoiseGenerator(1, 32, 32, 0, new NoiseRainModel { MinDensity = 5, MaxDensity = 4 }));
        Assert.Throws<ArgumentException>(() => new RainNoiseGenerator(1, 32, 32, 0, new NoiseRainModel { MaxIntensity = 1.5 }));
        Assert.Throws<ArgumentException>(() => new RainNoiseGenerator(1, 32, 32, 0, new NoiseRainModel { MaxAngleDegrees = double.NaN }));
        Assert.Throws<ArgumentException>(() => new RainNoiseGenerator(1, 32, 32, 0, new NoiseRainModel { MinWidth = 0 }));
        Assert.Throws<ArgumentException>(() => new RainNoiseGenerator(2, 32, 32, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RainNoiseGenerator(1, 2, 32, 0));
        var rain = new RainNoiseGenerator(1, 8, 8, 0, count: 3);
        Assert.Throws<ArgumentOutOfRangeException>(() => rain.CopyTo(3, new float[64]));
        Assert.Throws<ArgumentException>(() => rain.CopyTo(0, new float[63]));
    }

    // Scharr's 3 × 3 derivative (weights 3, 10, 3 across): a central difference smoothed across the derivative
    // direction so that its response depends little on the orientation of an edge.
    private static double Scharr(float[] image, int y, int x, int stepY, int stepX)
    {
        double Difference(int offset) =>
            image[((y + stepY + (offset * stepX)) * 64) + x + stepX + (offset * stepY)] - image[((y - stepY + (offset * stepX)) * 64) + x - stepX + (offset * stepY)];
        return ((3 * Difference(-1)) + (10 * Difference(0)) + (3 * Difference(1))) / 32;
    }

    // Wraps an angle difference of undirected axes into [−π/2, π/2).
    private static double WrapHalfTurn(double radians) => radians - (Math.PI * Math.Floor((radians / Math.PI) + 0.5));
}
