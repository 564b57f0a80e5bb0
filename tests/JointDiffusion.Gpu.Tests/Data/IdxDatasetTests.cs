using System.Buffers.Binary;
using System.IO.Compression;
using JointDiffusion.Gpu.Data;

namespace JointDiffusion.Gpu.Tests.Data;

/// <summary>IDX reading from small synthetic files: values, gzip, header validation, padding and RGB replication.</summary>
public sealed class IdxDatasetTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("idx-tests-");

    public void Dispose() => _directory.Delete(recursive: true);

    /// <summary>An IDX image file: the 16-byte big-endian header (magic, n, rows, cols) followed by <paramref name="pixels"/>.</summary>
    internal static byte[] Idx(int count, int rows, int cols, byte[] pixels, int magic = IdxDataset.ImageMagic)
    {
        var header = new byte[16];
        BinaryPrimitives.WriteInt32BigEndian(header, magic);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), count);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(8), rows);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(12), cols);
        return [.. header, .. pixels];
    }

    /// <summary>Pixel bytes whose value at (image, y, x) is a fixed function of the three, covering 0 and 255.</summary>
    internal static byte[] PatternPixels(int count, int rows, int cols)
    {
        var pixels = new byte[count * rows * cols];
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)((i * 37) + (i / (rows * cols)));
        }

        return pixels;
    }

    internal static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_directory.FullName, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static float[] Image(IImageDataset dataset, int index)
    {
        var values = new float[dataset.Channels * dataset.Height * dataset.Width];
        dataset.CopyTo(index, values);
        return values;
    }

    [Fact]
    public void RawFile_ServesEveryPixelAsByteOver255_InFileOrder()
    {
        byte[] pixels = PatternPixels(3, 4, 5);
        var dataset = IdxDataset.Load(Write("train-images-idx3-ubyte", Idx(3, 4, 5, pixels)));

        Assert.Equal((3, 1, 4, 5), (dataset.Count, dataset.Channels, dataset.Height, dataset.Width));
        for (int n = 0; n < 3; n++)
        {
            float[] image = Image(dataset, n);
            for (int i = 0; i < 20; i++)
            {
                // Exact: v / 255 as a float32 division, as torchvision's ToTensor.
                Assert.Equal(pixels[(n * 20) + i] / 255f, image[i]);
            }
        }
    }

    [Fact]
    public void GzippedFile_ServesTheSameImagesAsTheRawFile_WhateverItsName()
    {
        byte[] raw = Idx(4, 6, 3, PatternPixels(4, 6, 3));
        var plain = IdxDataset.Load(Write("a-idx3-ubyte", raw));
        var gzipped = IdxDataset.Load(Write("a-idx3-ubyte.gz", Gzip(raw)));
        var unnamed = IdxDataset.Load(Write("no-extension", Gzip(raw)));

        Assert.Equal(plain.Count, gzipped.Count);
        for (int n = 0; n < plain.Count; n++)
        {
            Assert.Equal(Image(plain, n), Image(gzipped, n));
            Assert.Equal(Image(plain, n), Image(unnamed, n));
        }
    }

    [Fact]
    public void MnistPadding_28To32_PutsTheImageAt2_2AndZerosAround_Exactly()
    {
        byte[] pixels = PatternPixels(2, 28, 28);
        var dataset = IdxDataset.Load(Idx(2, 28, 28, pixels), "mnist", paddedSize: 32, label: "MNIST train");

        Assert.Equal((32, 32, 28, 28), (dataset.Height, dataset.Width, dataset.SourceHeight, dataset.SourceWidth));
        Assert.Equal("MNIST train (2, 28x28 padded to 32x32)", dataset.Description);
        float[] image = Image(dataset, 1);
        for (int y = 0; y < 32; y++)
        {
            for (int x = 0; x < 32; x++)
            {
                bool inside = y is >= 2 and < 30 && x is >= 2 and < 30;
                float expected = inside ? pixels[(28 * 28) + ((y - 2) * 28) + (x - 2)] / 255f : 0f;
                Assert.Equal(expected, image[(y * 32) + x]);
            }
        }
    }

    [Fact]
    public void OddPadding_PutsTheSmallerHalfAboveAndLeft()
    {
        var dataset = IdxDataset.Load(Idx(1, 2, 3, [255, 255, 255, 255, 255, 255]), "odd", paddedSize: 5);

        float[] image = Image(dataset, 0);
        // 5 − 2 = 3 extra rows: 1 above, 2 below; 5 − 3 = 2 extra columns: 1 left, 1 right.
        int[] ones = [.. Enumerable.Range(0, 25).Where(i => image[i] == 1f)];
        Assert.Equal([6, 7, 8, 11, 12, 13], ones);
        Assert.Equal(19, image.Count(v => v == 0f));
    }

    [Fact]
    public void PaddingBelowTheImageSize_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => IdxDataset.Load(Idx(1, 28, 28, new byte[784]), "mnist", paddedSize: 27));
        Assert.Contains("28 × 28", e.Message);
    }

    [Fact]
    public void ThreeChannels_ReplicateThePaddedGreyPlane()
    {
        byte[] pixels = PatternPixels(1, 28, 28);
        var grey = IdxDataset.Load(Idx(1, 28, 28, pixels), "g", channels: 1, paddedSize: 32);
        var rgb = IdxDataset.Load(Idx(1, 28, 28, pixels), "g", channels: 3, paddedSize: 32);

        Assert.Equal(3, rgb.Channels);
        Assert.EndsWith("grey replicated to RGB)", rgb.Description);
        float[] plane = Image(grey, 0);
        float[] image = Image(rgb, 0);
        for (int c = 0; c < 3; c++)
        {
            Assert.Equal(plane, image[(c * 1024)..((c + 1) * 1024)]);
        }
    }

    [Fact]
    public void CopyTo_RefusesAnIndexOutsideTheSetAndAWrongSizedDestination()
    {
        var dataset = IdxDataset.Load(Idx(2, 2, 2, new byte[8]), "small");

        Assert.Throws<ArgumentOutOfRangeException>(() => dataset.CopyTo(2, new float[4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => dataset.CopyTo(-1, new float[4]));
        Assert.Throws<ArgumentException>(() => dataset.CopyTo(0, new float[5]));
    }

    public static TheoryData<string, byte[], string> Malformed => new()
    {
        { "bad magic", Idx(1, 2, 2, new byte[4], magic: 0x00000804), "magic number is 0x00000804 (2052), expected 0x00000803 (2051" },
        { "label file", Idx(1, 2, 2, new byte[4], magic: 2049), "is an IDX label file (magic number 2049)" },
        { "too short", [0, 0], "is 2 bytes long, too short to be an IDX file" },
        { "header cut", Idx(1, 2, 2, [])[..10], "is truncated inside its 16-byte header (10 bytes)" },
        { "no images", Idx(0, 28, 28, []), "declares 0 images of 28 × 28 pixels" },
        { "truncated", Idx(3, 2, 2, new byte[7]), "is truncated: its header declares 3 images of 2 × 2 (12 bytes of pixels) but only 7 bytes follow the header" },
        { "extra bytes", Idx(2, 2, 2, new byte[9]), "has 1 bytes after its images: its header declares 2 images of 2 × 2 (8 bytes of pixels), so the file size (25 bytes) does not match its header" },
        { "huge", Idx(int.MaxValue, 1000, 1000, []), "is too large" },
        { "gzip truncated", Gzip(Idx(3, 2, 2, new byte[7])), "is truncated: its header declares 3 images of 2 × 2 (12 bytes of pixels) but only 7 bytes follow the header after gzip decompression" },
        { "gzip extra", Gzip(Idx(2, 2, 2, new byte[9])), "has more bytes after its images once decompressed" },
        { "gzip bad magic", Gzip(Idx(1, 2, 2, new byte[4], magic: 1)), "magic number is 0x00000001" },
        { "gzip corrupt", [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], "starts like a gzip file but is not a valid gzip stream" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedFiles_AreRefused_NamingTheFileAndTheProblem(string name, byte[] bytes, string problem)
    {
        string path = Write(name.Replace(' ', '-'), bytes);

        var e = Assert.Throws<IdxFormatException>(() => IdxDataset.Load(path));

        Assert.Equal(path, e.SourceName);
        Assert.StartsWith($"{path}: ", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void GzipThatDeclaresAHugeSetButHoldsLittle_IsRefusedAsTruncated()
    {
        // 10^6 images of 28 × 28 declared (784 MB), 100 bytes present: the reader grows its buffer with the data
        // actually decompressed, so it reports the truncation instead of allocating for the declared size first.
        string path = Write("bomb.gz", Gzip(Idx(1_000_000, 28, 28, new byte[100])));

        var e = Assert.Throws<IdxFormatException>(() => IdxDataset.Load(path));

        Assert.Contains("784000000 bytes of pixels) but only 100 bytes follow the header after gzip decompression", e.Message);
    }
}
