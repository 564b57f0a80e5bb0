using System.Buffers.Binary;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Tests.IO;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace JointDiffusion.Gpu.Tests.Reliability;

/// <summary>
/// The image loader's limits: a file too long for the pixel limit is refused from its length, an endless stream
/// after the limit, a header declaring too many pixels before any pixel is decoded (also through the CLI).
/// </summary>
public sealed class ImageLimitTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("image-limit-tests-");

    public void Dispose() => _directory.Delete(recursive: true);

    private static readonly ImageLoadOptions Small = new() { MaxPixels = 1 << 10 };

    [Fact]
    public void MaxFileBytes_Is16BytesPerPixelPlus16MiB_AndSaturates()
    {
        Assert.Equal((16L << 10) + (16L << 20), Small.MaxFileBytes);
        Assert.Equal((16L << 26) + (16L << 20), ImageLoadOptions.Default.MaxFileBytes);
        Assert.Equal(long.MaxValue, new ImageLoadOptions { MaxPixels = long.MaxValue / 4 }.MaxFileBytes);
    }

    [Fact]
    public void FileLongerThanTheLimit_IsRefusedFromItsLength_WithoutReadingIt()
    {
        // A sparse file: its length is past the limit, but it takes no disk space and reading it would allocate 17 MiB.
        string path = Path.Combine(_directory.FullName, "long.png");
        using (var stream = File.Create(path))
        {
            stream.Write(EncodedImages.PngHeaderOnly(16, 16));
            stream.SetLength(Small.MaxFileBytes + 1);
        }

        ImageFile.Load(EncodedImages.Encode(2, 2, (x, y) => new Rgb24(1, 2, 3), new PngEncoder()), "warm-up.png", 1, Small);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<ImageFileException>(() => ImageFile.Load(path, 1, Small));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Contains($"is {Small.MaxFileBytes + 1} bytes long", error.Message);
        Assert.Contains("MaxFileBytes", error.Message);
        Assert.InRange(allocated, 0, 1 << 20);
    }

    [Fact]
    public void EndlessStream_IsRefusedOnceTheLimitIsPassed_WithBoundedMemory()
    {
        using var endless = new EndlessStream(EncodedImages.PngHeaderOnly(16, 16));

        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<ImageFileException>(() => ImageFile.Load(endless, "socket", 3, Small));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.StartsWith("socket: is longer than", error.Message);
        Assert.InRange(endless.Position, Small.MaxFileBytes + 1, Small.MaxFileBytes + (1 << 16));

        // The loader holds at most the limit in chunks of 64 KiB, never the whole (infinite) stream.
        Assert.InRange(allocated, Small.MaxFileBytes, Small.MaxFileBytes + (1 << 20));
    }

    [Fact]
    public void ByteArrayLongerThanTheLimit_IsRefused()
    {
        var bytes = new byte[Small.MaxFileBytes + 1];
        EncodedImages.PngHeaderOnly(16, 16).CopyTo(bytes, 0);

        var error = Assert.Throws<ImageFileException>(() => ImageFile.Load(bytes, "big.png", 1, Small));

        Assert.Contains("MaxFileBytes", error.Message);
    }

    [Fact]
    public void ImageJustInsideBothLimits_Loads()
    {
        byte[] png = EncodedImages.Encode(32, 32, (x, y) => new Rgb24((byte)x, (byte)y, 0), new PngEncoder());

        PlanarImage image = ImageFile.Load(new MemoryStream(png), "ok.png", 3, Small);

        Assert.Equal(32 * 32, image.Width * image.Height);
    }

    /// <summary>
    /// A BMP whose header puts its pixel data 64 MiB in (a 378-byte one was found by the fuzz tests): ImageSharp sizes the
    /// palette it reads while identifying the file from that offset, so identification alone allocated 64 MiB. It
    /// is refused from its first 50 bytes; so is a colour count that reaches past the end.
    /// </summary>
    [Theory]
    [InlineData(10, 0x04000036u, "its pixel data offset 67108918 is past its end")]
    [InlineData(46, 0x10000000u, "its 268435456-colour palette would reach past its end")]
    public void BmpHeaderPointingPastTheFile_IsRefusedBeforeIdentifying(int field, uint value, string problem)
    {
        byte[] bmp = EncodedImages.Encode(12, 9, (x, y) => new Rgb24((byte)(x * 20), (byte)(y * 25), 0), new BmpEncoder { BitsPerPixel = BmpBitsPerPixel.Pixel8 });
        Assert.Equal(12, ImageFile.Load(bmp, "ok.bmp", 3, Small).Width);
        BinaryPrimitives.WriteUInt32LittleEndian(bmp.AsSpan(field), value);

        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<ImageFileException>(() => ImageFile.Load(bmp, "lying.bmp", 3, Small));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal($"lying.bmp: is a truncated or malformed BMP file: {problem} (byte {bmp.Length})", error.Message);
        Assert.InRange(allocated, 0, 1 << 20);
    }

    /// <summary>
    /// Through the CLI: a PNG whose header declares 100000 × 100000 pixels is a runtime failure (exit 1) with the
    /// loader's message on stderr, before any sampling or output; no stack trace without --verbose.
    /// </summary>
    [Fact]
    public void Cli_ImageOverThePixelLimit_ExitsOneNamingTheLimit_AndWritesNothing()
    {
        var cli = new CliFixture(_directory.FullName);
        cli.WriteGaussianPriors();
        File.WriteAllBytes(cli.PathOf("huge.png"), EncodedImages.PngHeaderOnly(100_000, 100_000));
        string outDir = cli.PathOf("out");

        var (code, output, err) = CliFixture.Run("denoise", "--signal-prior", cli.PathOf("signal.safetensors"), "--noise-prior", cli.PathOf("noise.safetensors"),
            "--input", cli.PathOf("huge.png"), "--steps", "5", "--out", outDir, "--device", "cpu");

        Assert.True(code == 1, output + err);
        Assert.Contains("100000 × 100000 = 10000000000 pixels", err);
        Assert.Contains("MaxPixels", err);
        CliFixture.AssertNoStackTrace(err);
        Assert.False(Directory.Exists(outDir));
    }

    /// <summary>A stream that repeats a prefix and then zeros forever.</summary>
    private sealed class EndlessStream(byte[] prefix) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            for (int i = 0; i < count; i++)
            {
                buffer[offset + i] = _position + i < prefix.Length ? prefix[_position + i] : (byte)0;
            }

            _position += count;
            return count;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
