using JointDiffusion.Gpu.IO;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace JointDiffusion.Gpu.Tests.IO;

public sealed class ImageFileRoundTripTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("image-tests-");

    public void Dispose() => _directory.Delete(recursive: true);

    // Random values in [-0.25, 1.25], so clamping is exercised at both ends.
    private static PlanarImage RandomImage(int channels, int height, int width, int seed)
    {
        var random = new Random(seed);
        var image = new PlanarImage(channels, height, width);
        for (int i = 0; i < image.Pixels.Length; i++)
        {
            image.Pixels[i] = (float)((random.NextDouble() * 1.5) - 0.25);
        }

        return image;
    }

    private static float Quantised(float value) => MathF.Round(Math.Clamp(value, 0f, 1f) * 255f) / 255f;

    private string PathOf(string name) => Path.Combine(_directory.FullName, name);

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void SavedPng_LoadsBackAsTheQuantisedValues_Exactly(int channels)
    {
        PlanarImage original = RandomImage(channels, 13, 17, seed: channels);
        string path = PathOf("round.png");

        ImageFile.SavePng(path, original);
        PlanarImage loaded = ImageFile.Load(path, channels);

        Assert.Equal((channels, 13, 17), (loaded.Channels, loaded.Height, loaded.Width));
        Assert.Equal(original.Pixels.Select(Quantised), loaded.Pixels);
        Assert.Contains(0f, loaded.Pixels);
        Assert.Contains(1f, loaded.Pixels);
    }

    [Fact]
    public void SavePng_WritesGreyAsOneChannelAndRgbAsThree()
    {
        string grey = PathOf("grey.png");
        string rgb = PathOf("rgb.png");
        ImageFile.SavePng(grey, RandomImage(1, 4, 5, seed: 1));
        ImageFile.SavePng(rgb, RandomImage(3, 4, 5, seed: 2));

        Assert.Equal(PngColorType.Grayscale, Image.Identify(grey).Metadata.GetPngMetadata().ColorType);
        Assert.Equal(PngColorType.Rgb, Image.Identify(rgb).Metadata.GetPngMetadata().ColorType);
        Assert.Equal(8, Image.Identify(grey).PixelType.BitsPerPixel);
        Assert.Equal(24, Image.Identify(rgb).PixelType.BitsPerPixel);
    }

    [Fact]
    public void SavePng_ReplacesAnExistingFileAndLeavesNoTemporaryFile()
    {
        string path = PathOf("out.png");
        File.WriteAllText(path, "old content");

        ImageFile.SavePng(path, RandomImage(1, 3, 3, seed: 3));

        Assert.Equal([path], Directory.GetFiles(_directory.FullName));
        Assert.Equal(3, ImageFile.Load(path, 1).Width);
    }

    [Fact]
    public void GreyFile_LoadedAsRgb_RepeatsItsValueOnAllChannels()
    {
        PlanarImage grey = RandomImage(1, 6, 7, seed: 4);
        string path = PathOf("grey.png");
        ImageFile.SavePng(path, grey);

        PlanarImage rgb = ImageFile.Load(path, 3);

        float[] expected = grey.Pixels.Select(Quantised).ToArray();
        Assert.Equal([.. expected, .. expected, .. expected], rgb.Pixels);
    }

    [Fact]
    public void SixteenBitPng_KeepsItsSixteenBitValues()
    {
        // Values that are not multiples of 257, so an 8-bit round trip would change them.
        ushort[] levels = [0, 1, 258, 12345, 40000, 65534, 65535];
        byte[] greyPng = EncodedImages.Encode(levels.Length, 1, (x, _) => new L16(levels[x]),
            new PngEncoder { BitDepth = PngBitDepth.Bit16, ColorType = PngColorType.Grayscale });
        byte[] rgbPng = EncodedImages.Encode(levels.Length, 1, (x, _) => new Rgb48(levels[x], levels[^(x + 1)], 777),
            new PngEncoder { BitDepth = PngBitDepth.Bit16, ColorType = PngColorType.Rgb });

        PlanarImage grey = ImageFile.Load(greyPng, "grey16.png", 1);
        PlanarImage rgb = ImageFile.Load(rgbPng, "rgb16.png", 3);

        Assert.Equal(levels.Select(v => v / 65535f), grey.Pixels);
        float[] red = levels.Select(v => v / 65535f).ToArray();
        Assert.Equal([.. red, .. red.Reverse(), .. Enumerable.Repeat(777 / 65535f, levels.Length)], rgb.Pixels);
    }

    [Fact]
    public void BmpAndStreamInput_LoadExactly()
    {
        Func<int, int, Rgb24> pattern = (x, y) => new Rgb24((byte)(x * 40), (byte)(y * 50), (byte)(255 - (x * y)));
        byte[] bmp = EncodedImages.Encode(6, 5, pattern, new BmpEncoder { BitsPerPixel = BmpBitsPerPixel.Pixel24 });

        using var stream = new MemoryStream(bmp);
        PlanarImage image = ImageFile.Load(stream, "pattern.bmp", 3);

        Assert.Equal(pattern(3, 4).G / 255f, image[1, 4, 3]);
        Assert.Equal(pattern(5, 2).B / 255f, image[2, 2, 5]);
        Assert.Equal(pattern(5, 0).R / 255f, image[0, 0, 5]);
    }

    [Fact]
    public void Jpeg_LoadsCloseToItsSource()
    {
        // A smooth ramp: baseline JPEG at quality 90 stays within a few levels of it on average.
        Func<int, int, Rgb24> ramp = (x, y) => new Rgb24((byte)(x * 8), (byte)(y * 8), 128);
        byte[] jpeg = EncodedImages.Encode(32, 24, ramp, new JpegEncoder { Quality = 90 });

        PlanarImage image = ImageFile.Load(jpeg, "ramp.jpg", 3);

        Assert.Equal((3, 24, 32), (image.Channels, image.Height, image.Width));
        double meanError = Enumerable.Range(0, 24 * 32).Average(i => Math.Abs(image.Pixels[i] - (ramp(i % 32, i / 32).R / 255.0)));
        Assert.InRange(meanError, 0, 4 / 255.0);
    }

    [Fact]
    public void AnimatedGif_LoadsItsFirstFrame()
    {
        using Image<Rgb24> animation = EncodedImages.Build(4, 3, (_, _) => new Rgb24(255, 0, 0));
        using Image<Rgb24> second = EncodedImages.Build(4, 3, (_, _) => new Rgb24(0, 0, 255));
        animation.Frames.AddFrame(second.Frames.RootFrame);
        Assert.Equal(2, animation.Frames.Count);
        byte[] gif = EncodedImages.Encode(animation, new GifEncoder());

        PlanarImage image = ImageFile.Load(gif, "two-frames.gif", 3);

        Assert.All(image.Pixels[..12], v => Assert.Equal(1f, v));
        Assert.All(image.Pixels[12..], v => Assert.Equal(0f, v));
    }
}
