using System.Text;
using JointDiffusion.Gpu.IO;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tiff;
using SixLabors.ImageSharp.PixelFormats;

namespace JointDiffusion.Gpu.Tests.IO;

/// <summary>Untrusted input is refused with an <see cref="ImageFileException"/> that names the source; bad output data with an <see cref="ArgumentException"/>.</summary>
public sealed class ImageFileRefusalTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("image-refusal-tests-");

    public void Dispose() => _directory.Delete(recursive: true);

    private static Rgb24 Pattern(int x, int y) => new((byte)(x * 13), (byte)(y * 21), (byte)((x * y) + 7));

    [Theory]
    [InlineData(float.NaN, "NaN")]
    [InlineData(float.PositiveInfinity, "Infinity")]
    public void SavePng_RefusesNonFiniteValues_AndWritesNothing(float bad, string shown)
    {
        var image = new PlanarImage(3, 4, 5);
        image[1, 2, 3] = bad;
        string path = Path.Combine(_directory.FullName, "bad.png");

        var error = Assert.Throws<ArgumentException>(() => ImageFile.SavePng(path, image));

        Assert.Contains("channel 1, y 2, x 3", error.Message);
        Assert.Contains(shown, error.Message);
        Assert.Contains(path, error.Message);
        Assert.Empty(Directory.GetFiles(_directory.FullName));
    }

    [Fact]
    public void HugeDeclaredSize_IsRefusedFromTheHeader_WithoutAllocatingThePixels()
    {
        byte[] png = EncodedImages.PngHeaderOnly(100_000, 100_000);
        string path = Path.Combine(_directory.FullName, "huge.png");
        File.WriteAllBytes(path, png);
        ImageFile.Load(EncodedImages.Encode(2, 2, Pattern, new PngEncoder()), "warm-up.png", 3);

        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<ImageFileException>(() => ImageFile.Load(path, 3));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // Decoding would need 3·10^10 bytes; identifying the header needs buffers of kilobytes. 4 MB leaves room
        // for the decoder configuration and stream buffers while ruling out any per-pixel allocation.
        Assert.InRange(allocated, 0, 4 << 20);
        Assert.Equal(path, error.SourceName);
        Assert.StartsWith(path + ":", error.Message);
        Assert.Contains("100000 × 100000 = 10000000000 pixels", error.Message);
        Assert.Contains("MaxPixels", error.Message);
    }

    [Fact]
    public void MaxPixels_IsInclusiveAndConfigurable()
    {
        byte[] png = EncodedImages.Encode(40, 30, Pattern, new PngEncoder());

        Assert.Throws<ImageFileException>(() => ImageFile.Load(png, "a.png", 3, new ImageLoadOptions { MaxPixels = 1199 }));
        Assert.Equal(40, ImageFile.Load(png, "a.png", 3, new ImageLoadOptions { MaxPixels = 1200 }).Width);
    }

    [Fact]
    public void NonImageData_IsRefusedAsAnUnknownFormat()
    {
        string path = Path.Combine(_directory.FullName, "notes.png");
        File.WriteAllText(path, "These are not the pixels you are looking for.\n");

        var error = Assert.Throws<ImageFileException>(() => ImageFile.Load(path, 1));

        Assert.Equal($"{path}: is not a PNG, JPEG, BMP or GIF file (its first bytes match none of these; other formats are not accepted)", error.Message);
    }

    [Fact]
    public void FormatsOutsideTheFourAccepted_AreRefused_EvenWhenImageSharpCouldDecodeThem()
    {
        byte[] tiff = EncodedImages.Encode(4, 4, Pattern, new TiffEncoder());

        var error = Assert.Throws<ImageFileException>(() => ImageFile.Load(tiff, "scan.tiff", 3));

        Assert.Contains("is not a PNG, JPEG, BMP or GIF file", error.Message);
    }

    [Fact]
    public void EmptyFile_IsRefused()
    {
        var error = Assert.Throws<ImageFileException>(() => ImageFile.Load([], "empty.png", 3));

        Assert.Equal("empty.png: is empty (0 bytes)", error.Message);
    }

    [Theory]
    [InlineData(0u, 10u)]
    [InlineData(10u, 0u)]
    public void ZeroSizeImage_IsRefused(uint width, uint height)
    {
        var error = Assert.Throws<ImageFileException>(() => ImageFile.Load(EncodedImages.PngHeaderOnly(width, height), "flat.png", 3));

        Assert.Equal("flat.png", error.SourceName);
    }

    public static TheoryData<string> Formats => new() { "png", "jpeg", "bmp", "gif" };

    internal static byte[] SmallFile(string format) => format switch
    {
        "png" => EncodedImages.Encode(16, 12, Pattern, new PngEncoder()),
        "jpeg" => EncodedImages.Encode(16, 12, Pattern, new JpegEncoder { Quality = 90 }),
        "bmp" => EncodedImages.Encode(16, 12, Pattern, new BmpEncoder { BitsPerPixel = BmpBitsPerPixel.Pixel24 }),
        "gif" => EncodedImages.Encode(16, 12, Pattern, new GifEncoder()),
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    [Theory]
    [MemberData(nameof(Formats))]
    public void EveryTruncation_IsRefused(string format)
    {
        byte[] file = SmallFile(format);
        Assert.Equal(16, ImageFile.Load(file, "whole", 3).Width);

        // A GIF missing only its trailer byte still holds its whole first (and only) frame, the part we decode.
        int shortest = format == "gif" ? file.Length - 2 : file.Length - 1;
        for (int length = 1; length <= shortest; length++)
        {
            byte[] prefix = file[..length];
            var error = Assert.Throws<ImageFileException>(() => ImageFile.Load(prefix, $"cut-{length}.{format}", 3));
            Assert.StartsWith($"cut-{length}.{format}: ", error.Message);
        }
    }

    [Fact]
    public void TruncatedJpeg_NamesTheMissingEndMarker()
    {
        byte[] jpeg = SmallFile("jpeg");

        var error = Assert.Throws<ImageFileException>(() => ImageFile.Load(jpeg[..^10], "cut.jpg", 3));

        Assert.Contains("truncated", error.Message);
        Assert.Contains("end-of-image marker", error.Message);
    }

    [Fact]
    public void InvalidArguments_AreArgumentExceptions()
    {
        byte[] png = SmallFile("png");

        Assert.Throws<ArgumentOutOfRangeException>(() => ImageFile.Load(png, "a.png", 2));
        Assert.Throws<ArgumentException>(() => ImageFile.Load(png, "a.png", 3, new ImageLoadOptions { ResizeHeight = 8 }));
        Assert.Throws<ArgumentException>(() => ImageFile.Load(png, "a.png", 3, new ImageLoadOptions { ResizeHeight = 0, ResizeWidth = 8 }));
        Assert.ThrowsAny<ArgumentException>(() => ImageFile.Load(png, "a.png", 3, new ImageLoadOptions { MaxPixels = 0 }));
        Assert.Throws<ArgumentException>(() => new PlanarImage(new float[5], 1, 2, 3));
        Assert.Throws<ArgumentException>(() => new PlanarImage(2, 2, 3));
    }

    [Fact]
    public void GarbageWithAValidSignature_IsRefusedWithTheDecoderErrorInside()
    {
        byte[] png = SmallFile("png");
        byte[] garbage = [.. png[..8], .. Encoding.ASCII.GetBytes(new string('x', 64))];

        var error = Assert.Throws<ImageFileException>(() => ImageFile.Load(garbage, "garbage.png", 3));

        Assert.StartsWith("garbage.png: ", error.Message);
    }
}
