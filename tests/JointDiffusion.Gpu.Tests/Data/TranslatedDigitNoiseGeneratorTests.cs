using JointDiffusion.Gpu.Data;

namespace JointDiffusion.Gpu.Tests.Data;

public sealed class TranslatedDigitNoiseGeneratorTests
{
    [Fact]
    public void EveryImage_IsItsDigitShiftedByTheDrawnOffset_WithZerosShiftedIn()
    {
        var digits = new SyntheticDigitDataset(count: 200, channels: 3);
        var noise = new TranslatedDigitNoiseGenerator(digits, maxShift: 5, seed: 3);
        int h = digits.Height, w = digits.Width;
        for (int i = 0; i < noise.Count; i++)
        {
            float[] digit = digits.Image(i);
            float[] shifted = DigitNoiseGeneratorTests.Draw(noise, i);
            (int dy, int dx) = noise.ShiftOf(i);
            for (int c = 0; c < 3; c++)
            {
                for (int y = 0; y < h; y++)
                {
                    for (int x = 0; x < w; x++)
                    {
                        int sy = y - dy, sx = x - dx;
                        float expected = sy >= 0 && sy < h && sx >= 0 && sx < w ? digit[(((c * h) + sy) * w) + sx] : 0f;
                        Assert.Equal(expected, shifted[(((c * h) + y) * w) + x]);
                    }
                }
            }
        }
    }

    [Fact]
    public void Shifts_CoverTheWholeRange_AndNothingBeyond()
    {
        var noise = new TranslatedDigitNoiseGenerator(new SyntheticDigitDataset(count: 2000), maxShift: 4, seed: 11);
        var seenDy = new int[9];
        var seenDx = new int[9];
        for (int i = 0; i < noise.Count; i++)
        {
            (int dy, int dx) = noise.ShiftOf(i);
            Assert.InRange(dy, -4, 4);
            Assert.InRange(dx, -4, 4);
            seenDy[dy + 4]++;
            seenDx[dx + 4]++;
        }

        // Each of the 9 offsets per axis has p = 1/9: Binomial(2000, 1/9) has mean 222 and standard deviation
        // 14, so [152, 292] is ±5 standard deviations (a fair draw falls outside with probability < 1e-6).
        Assert.All(seenDy, n => Assert.InRange(n, 152, 292));
        Assert.All(seenDx, n => Assert.InRange(n, 152, 292));
    }

    [Fact]
    public void Shifts_AreFixedBySeedAndIndex_AndDifferAcrossIndices()
    {
        var digits = new SyntheticDigitDataset(count: 50);
        var first = new TranslatedDigitNoiseGenerator(digits, 6, seed: 5);
        var again = new TranslatedDigitNoiseGenerator(digits, 6, seed: 5);
        var other = new TranslatedDigitNoiseGenerator(digits, 6, seed: 6);
        var shifts = Enumerable.Range(0, 50).Select(first.ShiftOf).ToList();

        Assert.Equal(shifts, Enumerable.Range(0, 50).Reverse().Select(again.ShiftOf).Reverse());
        Assert.Equal(DigitNoiseGeneratorTests.Draw(first, 9), DigitNoiseGeneratorTests.Draw(again, 9));
        Assert.True(shifts.Distinct().Count() > 20, "50 draws from 169 offsets should give many distinct ones.");
        Assert.NotEqual(shifts, Enumerable.Range(0, 50).Select(other.ShiftOf));
    }

    [Fact]
    public void ZeroMaxShift_IsTheIdentity()
    {
        var digits = new SyntheticDigitDataset(count: 10);
        var noise = new TranslatedDigitNoiseGenerator(digits, 0, seed: 1);
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal(digits.Image(i), DigitNoiseGeneratorTests.Draw(noise, i));
        }
    }

    [Fact]
    public void StacksOnDigitNoise_SoColourDigitsAreTranslatedToo()
    {
        var digits = new SyntheticDigitDataset(count: 30);
        var coloured = new DigitNoiseGenerator(digits, 3, NoiseChannelPlacement.RandomChannel, seed: 9);
        // The same seed for both stages: each stage draws from its own stream, so this is allowed.
        var noise = new TranslatedDigitNoiseGenerator(coloured, 3, seed: 9);
        int plane = digits.Height * digits.Width;
        for (int i = 0; i < noise.Count; i++)
        {
            float[] image = DigitNoiseGeneratorTests.Draw(noise, i);
            int channel = coloured.ChannelOf(i);
            for (int c = 0; c < 3; c++)
            {
                float mass = image[(c * plane)..((c + 1) * plane)].Sum();
                Assert.True(c == channel ? mass > 0 : mass == 0, $"image {i}, channel {c}: mass {mass}, digit channel {channel}");
            }
        }
    }

    [Fact]
    public void Refuses_ShiftsAsLargeAsTheImage()
    {
        var digits = new SyntheticDigitDataset(count: 3);
        Assert.Throws<ArgumentOutOfRangeException>(() => new TranslatedDigitNoiseGenerator(digits, -1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TranslatedDigitNoiseGenerator(digits, digits.Width, 0));
    }
}
