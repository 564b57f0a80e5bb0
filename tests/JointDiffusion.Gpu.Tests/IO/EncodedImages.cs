using System.Buffers.Binary;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.PixelFormats;

namespace JointDiffusion.Gpu.Tests.IO;

/// <summary>Builds image files in memory (encoded by ImageSharp, or PNG bytes crafted by hand), so no binaries are committed.</summary>
internal static class EncodedImages
{
    /// <summary>An image whose pixel (x, y) is <paramref name="pixel"/>(x, y).</summary>
    internal static Image<TPixel> Build<TPixel>(int width, int height, Func<int, int, TPixel> pixel)
        where TPixel : unmanaged, IPixel<TPixel>
    {
        var image = new Image<TPixel>(width, height);
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                image[x, y] = pixel(x, y);
            }
        }

        return image;
    }

    /// <summary>The file bytes of <paramref name="image"/> in the encoder's format.</summary>
    internal static byte[] Encode<TPixel>(Image<TPixel> image, IImageEncoder encoder)
        where TPixel : unmanaged, IPixel<TPixel>
    {
        using var stream = new MemoryStream();
        image.Save(stream, encoder);
        return stream.ToArray();
    }

    /// <summary>Builds and encodes in one step, disposing the image.</summary>
    internal static byte[] Encode<TPixel>(int width, int height, Func<int, int, TPixel> pixel, IImageEncoder encoder)
        where TPixel : unmanaged, IPixel<TPixel>
    {
        using Image<TPixel> image = Build(width, height, pixel);
        return Encode(image, encoder);
    }

    /// <summary>
    /// A PNG signature and a well-formed IHDR chunk (correct CRC) declaring <paramref name="width"/> ×
    /// <paramref name="height"/> 8-bit RGB, followed by an empty IDAT and IEND: the header of a huge image
    /// with none of its data.
    /// </summary>
    internal static byte[] PngHeaderOnly(uint width, uint height)
    {
        var header = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(header, width);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;   // bit depth
        header[9] = 2;   // colour type: RGB
        return [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, .. PngChunk("IHDR", header), .. PngChunk("IDAT", []), .. PngChunk("IEND", [])];
    }

    /// <summary>One PNG chunk: big-endian length, type, data, CRC-32 of type and data.</summary>
    internal static byte[] PngChunk(string type, byte[] data)
    {
        byte[] typeAndData = [.. System.Text.Encoding.ASCII.GetBytes(type), .. data];
        var chunk = new byte[12 + data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(chunk, (uint)data.Length);
        typeAndData.CopyTo(chunk, 4);
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), Crc32(typeAndData));
        return chunk;
    }

    // The CRC-32 of ISO 3309 / PNG (reflected polynomial 0xEDB88320), bit by bit: tiny inputs only.
    private static uint Crc32(byte[] bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
            }
        }

        return ~crc;
    }
}
