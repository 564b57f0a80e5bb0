using JointDiffusion.Gpu.Data;

namespace JointDiffusion.Gpu.Tests.Data;

public sealed class DigitNoiseGeneratorTests
{
    [Fact]
    public void Grey_IsTheDigitItself()
    {
        var digits = new SyntheticDigitDataset(count: 20);
        var noise = new DigitNoiseGenerator(digits);

        Assert.Equal((20, 1, 16, 12), (noise.Count, noise.Channels, noise.Height, noise.Width));
        for (int i = 0; i < noise.Count; i++)
        {
            Assert.Equal(digits.Image(i), Draw(noise, i));
        }
    }

    [Fact]
    public void RandomChannel_PutsTheDigitInExactlyTheDrawnChannel()
    {
        var digits = new SyntheticDigitDataset(count: 300);
        var noise = new DigitNoiseGenerator(digits, channels: 3, NoiseChannelPlacement.RandomChannel, seed: 42);
        int plane = digits.Height * digits.Width;
        var perChannel = new int[3];
        for (int i = 0; i < noise.Count; i++)
        {
            float[] image = Draw(noise, i);
            int channel = noise.ChannelOf(i);
            perChannel[channel]++;
            for (int c = 0; c < 3; c++)
            {
                float[] planeValues = image[(c * plane)..((c + 1) * plane)];
                Assert.Equal(c == channel ? digits.Image(i) : new float[plane], planeValues);
            }
        }

        // Each channel is chosen with p = 1/3: the count is Binomial(300, 1/3), mean 100 and standard deviation
        // 8.2, so [59, 141] is ±5 standard deviations and a fair draw falls outside with probability < 1e-6.
        Assert.All(perChannel, n => Assert.InRange(n, 59, 141));
    }

    [Fact]
    public void Replicate_RepeatsTheDigitOnEveryChannel()
    {
        var digits = new SyntheticDigitDataset(count: 5);
        var noise = new DigitNoiseGenerator(digits, channels: 3, NoiseChannelPlacement.Replicate);
        for (int i = 0; i < noise.Count; i++)
        {
            float[] digit = digits.Image(i);
            Assert.Equal([.. digit, .. digit, .. digit], Draw(noise, i));
        }
    }

    [Fact]
    public void ChannelChoice_IsFixedBySeedAndIndex()
    {
        var digits = new SyntheticDigitDataset(count: 64);
        var first = new DigitNoiseGenerator(digits, 3, NoiseChannelPlacement.RandomChannel, seed: 7);
        var again = new DigitNoiseGenerator(digits, 3, NoiseChannelPlacement.RandomChannel, seed: 7);
        var other = new DigitNoiseGenerator(digits, 3, NoiseChannelPlacement.RandomChannel, seed: 8);

        // Read in reverse order the second time: the choice depends on (seed, index), not on call order.
        int[] forward = [.. Enumerable.Range(0, 64).Select(first.ChannelOf)];
        int[] backward = [.. Enumerable.Range(0, 64).Reverse().Select(again.ChannelOf).Reverse()];
        Assert.Equal(forward, backward);
        Assert.Equal(Draw(first, 17), Draw(again, 17));
        Assert.NotEqual(forward, Enumerable.Range(0, 64).Select(other.ChannelOf));
    }

    [Fact]
    public void Refuses_ColourDigitsBadChannelsWrongBufferAndIndex()
    {
        Assert.Throws<ArgumentException>(() => new DigitNoiseGenerator(new SyntheticDigitDataset(4, channels: 3)));
        Assert.Throws<ArgumentException>(() => new DigitNoiseGenerator(new SyntheticDigitDataset(4), channels: 2));
        var noise = new DigitNoiseGenerator(new SyntheticDigitDataset(4), channels: 3);
        Assert.Throws<ArgumentException>(() => noise.CopyTo(0, new float[16 * 12]));
        Assert.Throws<ArgumentOutOfRangeException>(() => noise.CopyTo(4, new float[3 * 16 * 12]));
        Assert.Throws<ArgumentOutOfRangeException>(() => noise.CopyTo(-1, new float[3 * 16 * 12]));
    }

    internal static float[] Draw(IImageDataset dataset, int index)
    {
        var image = new float[dataset.Channels * dataset.Height * dataset.Width];
        dataset.CopyTo(index, image);
        return image;
    }
}

/// <summary>
/// Small stand-in for MNIST: 16 × 12 images with a black border of 2 pixels and a pattern inside that differs
/// per image and per channel, so any misplaced, shifted or swapped pixel changes the result.
/// </summary>
internal sealed class SyntheticDigitDataset(int count, int channels = 1) : IImageDataset
{
    public int Count => count;

    public int Channels => channels;

    public int Height => 16;

    public int Width => 12;

    public string Description => $"synthetic digits ({count})";

    public float[] Image(int index)
    {
        var image = new float[Channels * Height * Width];
        CopyTo(index, image);
        return image;
    }

    public void CopyTo(int index, Span<float> destination)
    {
        Assert.InRange(index, 0, count - 1);
        destination.Clear();
        for (int c = 0; c < channels; c++)
        {
            for (int y = 2; y < Height - 2; y++)
            {
                for (int x = 2; x < Width - 2; x++)
                {
                    destination[(((c * Height) + y) * Width) + x] = (1 + (((7 * y) + (3 * x) + (5 * index) + (11 * c)) % 10)) / 10f;
                }
            }
        }
    }
}
