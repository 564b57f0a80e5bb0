using JointDiffusion.Gpu.IO;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace JointDiffusion.Gpu.Tests.IO;

/// <summary>Luminance, centre crop and resize: the pixel values and sizes that come out of <see cref="ImageFile.Load(byte[], string, int, ImageLoadOptions?)"/>.</summary>
public sealed class ImageFileConversionTests
{
    private static readonly PngEncoder RgbPng = new() { ColorType = PngColorType.Rgb, BitDepth = PngBitDepth.Bit8 };

    [Theory]
    // Values PIL gives for Image.new("RGB", (1, 1), rgb).convert("L").
    [InlineData(255, 0, 0, 76)]
    [InlineData(0, 255, 0, 150)]
    [InlineData(0, 0, 255, 29)]
    [InlineData(255, 255, 255, 255)]
    [InlineData(0, 0, 0, 0)]
    [InlineData(100, 100, 100, 100)]
    public void Luminance_MatchesPilConvertL(byte r, byte g, byte b, byte expected)
    {
        byte[] png = EncodedImages.Encode(1, 1, (_, _) => new Rgb24(r, g, b), RgbPng);

        Assert.Equal(expected / 255f, ImageFile.Load(png, "pixel.png", 1).Pixels[0]);
    }

    [Fact]
    public void Luminance_IsBt601RoundedToTheNearestLevel()
    {
        // Error ≤ half a level from rounding, plus ≤ 0.002 levels because the weights are 16-bit fixed point
        // (|19595/65536 − 0.299| · 255 + ... < 0.002).
        var random = new Random(601);
        var pixels = new Rgb24[64 * 64];
        random.NextBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(pixels.AsSpan()));
        byte[] png = EncodedImages.Encode(64, 64, (x, y) => pixels[(y * 64) + x], RgbPng);

        PlanarImage grey = ImageFile.Load(png, "random.png", 1);

        for (int i = 0; i < pixels.Length; i++)
        {
            double exact = (0.299 * pixels[i].R) + (0.587 * pixels[i].G) + (0.114 * pixels[i].B);
            Assert.InRange(grey.Pixels[i] * 255.0, exact - 0.502, exact + 0.502);
        }
    }

    [Theory]
    [InlineData(1, false, null, null, 30, 40)]
    [InlineData(3, true, null, null, 30, 30)]
    [InlineData(3, false, 16, 20, 16, 20)]
    [InlineData(1, false, 64, 48, 64, 48)]
    [InlineData(1, true, 8, 8, 8, 8)]
    [InlineData(3, true, 45, 45, 45, 45)]
    public void LoadOptions_GiveTheRequestedSize(int channels, bool crop, int? height, int? width, int expectedHeight, int expectedWidth)
    {
        byte[] png = EncodedImages.Encode(40, 30, (x, y) => new Rgb24((byte)x, (byte)y, 9), RgbPng);
        var options = new ImageLoadOptions { CenterCropToSquare = crop, ResizeHeight = height, ResizeWidth = width };

        PlanarImage image = ImageFile.Load(png, "40x30.png", channels, options);

        Assert.Equal((channels, expectedHeight, expectedWidth), (image.Channels, image.Height, image.Width));
    }

    [Fact]
    public void CenterCrop_KeepsTheMiddleColumns()
    {
        // Column x has grey level x; a 40 × 30 image keeps columns 5..34.
        byte[] png = EncodedImages.Encode(40, 30, (x, _) => new Rgb24((byte)x, (byte)x, (byte)x), RgbPng);

        PlanarImage image = ImageFile.Load(png, "ramp.png", 1, new ImageLoadOptions { CenterCropToSquare = true });

        Assert.Equal(Enumerable.Range(5, 30).Select(x => x / 255f), image.Pixels[..30]);
        Assert.Equal(Enumerable.Range(5, 30).Select(x => x / 255f), image.Pixels[^30..]);
    }

    [Theory]
    [InlineData(ImageResampling.Bilinear)]
    [InlineData(ImageResampling.Bicubic)]
    public void Resize_KeepsAUniformImageUniform(ImageResampling resampling)
    {
        // Both kernels are normalised to sum to 1, so a constant stays constant up to float error, far below
        // half an 8-bit level: the re-quantised result is exact.
        byte[] png = EncodedImages.Encode(40, 30, (_, _) => new Rgb24(17, 130, 250), RgbPng);

        PlanarImage image = ImageFile.Load(png, "flat.png", 3,
            new ImageLoadOptions { ResizeHeight = 11, ResizeWidth = 23, Resampling = resampling });

        Assert.All(image.Pixels[..253], v => Assert.Equal(17 / 255f, v));
        Assert.All(image.Pixels[253..506], v => Assert.Equal(130 / 255f, v));
        Assert.All(image.Pixels[506..], v => Assert.Equal(250 / 255f, v));
    }

    [Fact]
    public void Downscale_ByTwo_AveragesStripesAwayFromTheBorder()
    {
        // Halving stretches the triangle kernel to radius 2: output k samples source position 2k + 0.5 with
        // weights 1/4, 3/4, 3/4, 1/4 on columns 2k − 1 .. 2k + 2 (normalised by 2). With columns alternating
        // 10, 30 that is (30 + 3·10 + 3·30 + 10) / 8 = 20 for interior outputs; the border ones depend on edge handling.
        byte[] png = EncodedImages.Encode(8, 2, (x, _) => new Rgb24(x % 2 == 0 ? (byte)10 : (byte)30, 0, 0), RgbPng);

        PlanarImage image = ImageFile.Load(png, "stripes.png", 3, new ImageLoadOptions { ResizeHeight = 2, ResizeWidth = 4 });

        Assert.Equal(20 / 255f, image[0, 0, 1]);
        Assert.Equal(20 / 255f, image[0, 1, 2]);
    }
}
