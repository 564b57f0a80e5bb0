using JointDiffusion.Gpu.Data;
using JointDiffusion.Gpu.IO;

namespace JointDiffusion.Gpu.Tests.Data;

/// <summary>The folder dataset on temporary folders of a few generated PNGs: which files, their order, crop and resize.</summary>
public sealed class ImageFolderDatasetTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("folder-tests-");

    public void Dispose() => _directory.Delete(recursive: true);

    /// <summary>Writes an 8-bit PNG whose pixel (c, y, x) is <paramref name="value"/>(c, y, x), rounded to the 256 levels.</summary>
    internal static void WritePng(string path, int channels, int height, int width, Func<int, int, int, float> value)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var image = new PlanarImage(channels, height, width);
        for (int c = 0; c < channels; c++)
        {
            for (int y = 0; y < height; y++)
            {
                for (int x = 0; x < width; x++)
                {
                    image[c, y, x] = value(c, y, x);
                }
            }
        }

        ImageFile.SavePng(path, image);
    }

    private string PathOf(string relative) => Path.Combine(_directory.FullName, relative);

    private static float[] Image(IImageDataset dataset, int index)
    {
        var values = new float[dataset.Channels * dataset.Height * dataset.Width];
        dataset.CopyTo(index, values);
        return values;
    }

    [Fact]
    public void Files_AreTheImagesUnderTheFolder_SortedByRelativePath_WithoutHiddenOnes()
    {
        foreach (string name in new[] { "b.png", "a.PNG", "B2.jpg.png", "sub/c.png", "sub/deeper/a.png", "a0.png", ".hidden.png", ".cache/x.png" })
        {
            WritePng(PathOf(name), 1, 4, 4, (_, _, _) => 0.5f);
        }

        File.WriteAllText(PathOf("notes.txt"), "not an image");

        var dataset = ImageFolderDataset.Load(_directory.FullName, size: 4, channels: 1);

        // Ordinal order of the '/'-separated relative paths: upper case before lower case, '.' before '/'.
        string[] expected = ["B2.jpg.png", "a.PNG", "a0.png", "b.png", "sub/c.png", "sub/deeper/a.png"];
        Assert.Equal(expected.Select(PathOf), dataset.Files);
        Assert.Equal(ImageFolderDataset.FindImageFiles(_directory.FullName), dataset.Files);
        Assert.Equal(6, dataset.Count);
        Assert.Empty(dataset.Skipped);
    }

    [Fact]
    public void EachImage_IsCentreCroppedToASquareThenResized()
    {
        // 30 × 10: columns 10..19 (the centre square) white, the rest black. After the crop only white is left,
        // so a resize to 5 × 5 must be exactly 1 everywhere, and a missing crop would mix in black.
        WritePng(PathOf("wide.png"), 1, 10, 30, (_, _, x) => x is >= 10 and < 20 ? 1f : 0f);
        // 9 × 3 tall: rows 3..5 the centre square, grey 0.4 (exactly 102/255); black above and below.
        WritePng(PathOf("tall.png"), 1, 9, 3, (_, y, _) => y is >= 3 and < 6 ? 102 / 255f : 0f);

        var dataset = ImageFolderDataset.Load(_directory.FullName, size: 5, channels: 1);

        Assert.Equal((2, 1, 5, 5), (dataset.Count, dataset.Channels, dataset.Height, dataset.Width));
        Assert.All(Image(dataset, 0), v => Assert.Equal(102 / 255f, v));
        Assert.All(Image(dataset, 1), v => Assert.Equal(1f, v));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Images_AreWhatImageFileLoadsWithTheSameCropAndResize(int channels)
    {
        var random = new Random(5);
        WritePng(PathOf("noise.png"), 3, 23, 41, (_, _, _) => (float)random.NextDouble());

        var dataset = ImageFolderDataset.Load(_directory.FullName, size: 8, channels: channels);
        var direct = ImageFile.Load(PathOf("noise.png"), channels,
            ImageLoadOptions.Default with { CenterCropToSquare = true, ResizeHeight = 8, ResizeWidth = 8 });

        Assert.Equal(channels, dataset.Channels);
        Assert.Equal(direct.Pixels, Image(dataset, 0));
        Assert.Contains(channels == 3 ? "resized to 8x8 RGB" : "resized to 8x8 grey", dataset.Description);
    }

    [Fact]
    public void UnreadableFiles_AreSkippedAndListed_TheOthersServed()
    {
        WritePng(PathOf("a.png"), 1, 6, 6, (_, _, _) => 1f);
        File.WriteAllBytes(PathOf("b.png"), [1, 2, 3, 4, 5]);
        WritePng(PathOf("c.png"), 1, 6, 6, (_, _, _) => 0f);

        var dataset = ImageFolderDataset.Load(_directory.FullName, size: 3, channels: 1);

        Assert.Equal(2, dataset.Count);
        Assert.Equal([PathOf("a.png"), PathOf("c.png")], dataset.Files);
        var skipped = Assert.Single(dataset.Skipped);
        Assert.Equal(PathOf("b.png"), skipped.Path);
        Assert.Contains("is not a PNG, JPEG, BMP or GIF file", skipped.Reason);
        Assert.Contains("1 unreadable file(s) skipped", dataset.Description);
        Assert.All(Image(dataset, 1), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void AFolderWithoutImages_IsAnErrorThatSaysSo()
    {
        File.WriteAllText(PathOf("readme.txt"), "no images here");

        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Load(_directory.FullName, 32, 1));

        Assert.Contains($"{_directory.FullName} holds no PNG, JPEG, BMP or GIF file", e.Message);
    }

    [Fact]
    public void AFolderWhoseImagesAllFail_IsAnErrorWithTheReasons()
    {
        File.WriteAllBytes(PathOf("x.png"), [0x89, (byte)'P', (byte)'N', (byte)'G']);

        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Load(_directory.FullName, 32, 1));

        Assert.Contains("None of the 1 image file(s)", e.Message);
        Assert.Contains("x.png", e.Message);
    }

    [Fact]
    public void AMissingFolder_IsDirectoryNotFound()
    {
        Assert.Throws<DirectoryNotFoundException>(() => ImageFolderDataset.Load(PathOf("absent"), 32, 1));
    }

    [Fact]
    public void CopyTo_RefusesAWrongSizedDestination()
    {
        WritePng(PathOf("a.png"), 1, 6, 6, (_, _, _) => 1f);
        var dataset = ImageFolderDataset.Load(_directory.FullName, size: 4, channels: 3);

        Assert.Throws<ArgumentException>(() => dataset.CopyTo(0, new float[16]));
        Assert.Throws<ArgumentOutOfRangeException>(() => dataset.CopyTo(1, new float[48]));
    }
}
