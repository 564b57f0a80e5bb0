using JointDiffusion.Gpu.Data;
using JointDiffusion.Gpu.IO;

namespace JointDiffusion.Gpu.Tests.Data;

/// <summary>Random crops: determinism per index, window bounds, exact copies at scale 1 and the resampling geometry.</summary>
public sealed class RandomCropDatasetTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("crop-tests-");

    public void Dispose() => _directory.Delete(recursive: true);

    /// <summary>An image of 8-bit levels (so the dataset's 8-bit storage keeps it exactly) from a seeded generator.</summary>
    private static PlanarImage RandomLevels(int channels, int height, int width, int seed)
    {
        var random = new Random(seed);
        var image = new PlanarImage(channels, height, width);
        for (int i = 0; i < image.Pixels.Length; i++)
        {
            image.Pixels[i] = random.Next(256) / 255f;
        }

        return image;
    }

    private static PlanarImage[] Photos(int channels) =>
        [RandomLevels(channels, 60, 80, 1), RandomLevels(channels, 120, 50, 2), RandomLevels(channels, 40, 40, 3)];

    private static float[] Image(IImageDataset dataset, int index)
    {
        var values = new float[dataset.Channels * dataset.Height * dataset.Width];
        dataset.CopyTo(index, values);
        return values;
    }

    [Fact]
    public void CropK_IsTheSameOnEveryCall_InAnyOrder_AndForASecondInstance()
    {
        var first = new RandomCropDataset(Photos(3), count: 50, cropSize: 16, seed: 42, minScale: 0.5f, maxScale: 3f);
        var second = new RandomCropDataset(Photos(3), count: 50, cropSize: 16, seed: 42, minScale: 0.5f, maxScale: 3f);

        float[][] forward = [.. Enumerable.Range(0, 50).Select(k => Image(first, k))];
        for (int k = 49; k >= 0; k--)
        {
            Assert.Equal(forward[k], Image(first, k));
            Assert.Equal(forward[k], Image(second, k));
            Assert.Equal(first.Window(k), second.Window(k));
        }
    }

    [Fact]
    public void AnotherSeed_GivesOtherCrops()
    {
        var a = new RandomCropDataset(Photos(1), 20, 16, seed: 1);
        var b = new RandomCropDataset(Photos(1), 20, 16, seed: 2);

        int same = Enumerable.Range(0, 20).Count(k => a.Window(k) == b.Window(k));

        // Equal windows by chance need the same source, x and y: with ≥ 25 positions per axis, P ≈ 1/3 · 1/625 each.
        Assert.True(same <= 1, $"{same} of 20 windows coincide");
    }

    [Fact]
    public void Windows_LieInsideTheirSource_WithSidesInTheScaleRange_AndUseEverySource()
    {
        PlanarImage[] photos = Photos(1);
        var dataset = new RandomCropDataset(photos, count: 2000, cropSize: 16, seed: 9, minScale: 0.5f, maxScale: 2f);

        var sides = new List<int>();
        var sources = new HashSet<int>();
        for (int k = 0; k < dataset.Count; k++)
        {
            CropWindow w = dataset.Window(k);
            PlanarImage source = photos[w.Source];
            sources.Add(w.Source);
            sides.Add(w.Side);
            Assert.InRange(w.X, 0, source.Width - w.Side);
            Assert.InRange(w.Y, 0, source.Height - w.Side);
            Assert.InRange(w.Side, 8, 32);
        }

        Assert.Equal(3, sources.Count);
        // Log-uniform scale s in [0.5, 2]: P(round(16 s) < 16) = log₄(0.96875 / 0.5) ≈ 0.477, so ≈ 954 of 2000
        // (binomial σ ≈ 22); the range allows ±4σ.
        int below = sides.Count(s => s < 16);
        Assert.InRange(below, 865, 1045);
    }

    [Fact]
    public void AtScaleOne_ACropIsTheSourcePixels_Exactly()
    {
        PlanarImage[] photos = Photos(3);
        var dataset = new RandomCropDataset(photos, count: 30, cropSize: 12, seed: 3);

        for (int k = 0; k < dataset.Count; k++)
        {
            CropWindow w = dataset.Window(k);
            Assert.Equal(12, w.Side);
            float[] crop = Image(dataset, k);
            for (int c = 0; c < 3; c++)
            {
                for (int y = 0; y < 12; y++)
                {
                    for (int x = 0; x < 12; x++)
                    {
                        Assert.Equal(photos[w.Source][c, w.Y + y, w.X + x], crop[(((c * 12) + y) * 12) + x]);
                    }
                }
            }
        }
    }

    [Fact]
    public void Shrinking_SamplesAtPixelCentres_ALinearRampStaysLinear()
    {
        // Source value (x) / 255 on 256 columns. Output column j of a 2× shrink is centred at source position
        // x0 + 2j + 1 (pixel centres at i + ½), and a symmetric normalised filter reproduces a linear function at
        // its centre: value (x0 + 2j + ½) / 255. Checked away from the crop edges, where the filter is cut off.
        var ramp = new PlanarImage(1, 64, 256);
        for (int y = 0; y < 64; y++)
        {
            for (int x = 0; x < 256; x++)
            {
                ramp[0, y, x] = x / 255f;
            }
        }

        var dataset = new RandomCropDataset([ramp], count: 20, cropSize: 16, seed: 11, minScale: 2f, maxScale: 2f);
        for (int k = 0; k < dataset.Count; k++)
        {
            CropWindow w = dataset.Window(k);
            Assert.Equal(32, w.Side);
            float[] crop = Image(dataset, k);
            for (int y = 0; y < 16; y++)
            {
                for (int j = 2; j < 14; j++)
                {
                    // float32 sums of ≤ 5 weighted terms, each < 1: error well below 1e-6.
                    Assert.Equal((w.X + (2 * j) + 0.5) / 255, crop[(y * 16) + j], 1e-6);
                }
            }
        }
    }

    [Fact]
    public void Shrinking_AveragesFineDetailInsteadOfAliasingIt()
    {
        // Alternating black and white columns shrunk 4×: an antialiased filter (support widened to 4 source
        // pixels) gives grey ≈ 0.5; point sampling or a fixed 2-tap bilinear filter would give 0 or 1 columns.
        var stripes = new PlanarImage(1, 64, 64);
        for (int i = 0; i < stripes.Pixels.Length; i++)
        {
            stripes.Pixels[i] = i % 2;
        }

        var dataset = new RandomCropDataset([stripes], count: 5, cropSize: 8, seed: 4, minScale: 4f, maxScale: 4f);
        for (int k = 0; k < dataset.Count; k++)
        {
            float[] crop = Image(dataset, k);
            for (int y = 0; y < 8; y++)
            {
                for (int x = 1; x < 7; x++)
                {
                    // Interior outputs have 8 taps with weights (1, 3, 5, 7, 7, 5, 3, 1) / 32: the even and the
                    // odd columns get half each, so 0.5 up to float32 rounding.
                    Assert.Equal(0.5f, crop[(y * 8) + x], 1e-6f);
                }
            }
        }
    }

    [Fact]
    public void ASourceSmallerThanTheCrop_IsEnlarged_AndValuesStayInZeroOne()
    {
        var tiny = RandomLevels(1, 6, 9, 8);
        var dataset = new RandomCropDataset([tiny], count: 10, cropSize: 16, seed: 5);

        for (int k = 0; k < dataset.Count; k++)
        {
            Assert.Equal(6, dataset.Window(k).Side);
            Assert.All(Image(dataset, k), v => Assert.InRange(v, 0f, 1f));
        }
    }

    [Fact]
    public void FromFolder_CropsTheImagesOfTheFolder_InFileOrder()
    {
        ImageFolderDatasetTests.WritePng(Path.Combine(_directory.FullName, "a.png"), 1, 30, 30, (_, _, _) => 0f);
        ImageFolderDatasetTests.WritePng(Path.Combine(_directory.FullName, "b.png"), 1, 30, 30, (_, _, _) => 1f);
        File.WriteAllBytes(Path.Combine(_directory.FullName, "c.png"), [1, 2, 3]);

        var dataset = RandomCropDataset.FromFolder(_directory.FullName, channels: 1, count: 40, cropSize: 8, seed: 6, label: "photos");

        Assert.Equal(2, dataset.SourceCount);
        Assert.Single(dataset.Skipped);
        Assert.Equal("photos (40 random 8x8 grey crops of 2 images, scale 1, seed 6)", dataset.Description);
        for (int k = 0; k < dataset.Count; k++)
        {
            float expected = dataset.Window(k).Source;
            Assert.All(Image(dataset, k), v => Assert.Equal(expected, v));
        }
    }

    [Fact]
    public void InvalidArguments_AreRefused()
    {
        PlanarImage[] photos = Photos(1);
        Assert.Throws<ArgumentException>(() => new RandomCropDataset([], 10, 8, 0));
        Assert.Throws<ArgumentException>(() => new RandomCropDataset([photos[0], RandomLevels(3, 10, 10, 0)], 10, 8, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RandomCropDataset(photos, 0, 8, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RandomCropDataset(photos, 10, 8, 0, minScale: 0f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RandomCropDataset(photos, 10, 8, 0, minScale: 2f, maxScale: 1f));
        var dataset = new RandomCropDataset(photos, 10, 8, 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => dataset.Window(10));
        Assert.Throws<ArgumentException>(() => dataset.CopyTo(0, new float[63]));
    }
}
