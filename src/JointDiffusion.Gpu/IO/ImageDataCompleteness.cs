using System.Buffers.Binary;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;

namespace JointDiffusion.Gpu.IO;

/// <summary>
/// Structural checks that a file holds all the data its headers promise. ImageSharp decodes a cut-off JPEG,
/// BMP or GIF (and a PNG cut inside a later IDAT chunk) without complaint, filling the missing rows with zeros;
/// PIL refuses such files ("image file is truncated"), and so do we. These walks read only framing bytes
/// (chunk lengths, markers, block sizes), never pixel data, and each runs in time linear in the file length.
/// </summary>
internal static class ImageDataCompleteness
{
    private static ReadOnlySpan<byte> PngEnd => "IEND"u8;

    /// <summary>Returns null when <paramref name="data"/> is complete, else what is missing, as a sentence fragment.</summary>
    public static string? FindTruncation(ReadOnlySpan<byte> data, IImageFormat format) => format switch
    {
        PngFormat => FindPngTruncation(data),
        JpegFormat => FindJpegTruncation(data),
        BmpFormat => FindBmpTruncation(data),
        GifFormat => FindGifTruncation(data),
        _ => null,
    };

    /// <summary>
    /// Returns null unless <paramref name="data"/> is a BMP whose header points past the end of the file: a pixel
    /// data offset or a colour count (ClrUsed) beyond it. ImageSharp sizes the palette it reads while identifying
    /// the file from these fields, so a 378-byte BMP with an offset of 64 MiB makes ImageSharp 2.1's identification
    /// alone allocate 64 MiB (found by the fuzz tests). Run before identifying: it reads only the first 50 bytes.
    /// </summary>
    public static string? FindBmpHeaderBeyondFile(ReadOnlySpan<byte> data)
    {
        if (data.Length < 18 || data[0] != (byte)'B' || data[1] != (byte)'M')
        {
            return null;
        }

        long pixelOffset = BinaryPrimitives.ReadUInt32LittleEndian(data[10..]);
        if (pixelOffset > data.Length)
        {
            return $"its pixel data offset {pixelOffset} is past its end (byte {data.Length})";
        }

        long headerSize = BinaryPrimitives.ReadUInt32LittleEndian(data[14..]);
        if (headerSize >= 40 && data.Length >= 50)
        {
            long colours = BinaryPrimitives.ReadUInt32LittleEndian(data[46..]);
            if (14 + headerSize + (4 * colours) > data.Length)
            {
                return $"its {colours}-colour palette would reach past its end (byte {data.Length})";
            }
        }

        return null;
    }

    // PNG: an 8-byte signature, then chunks [length u32 BE][type 4][data][CRC 4] up to and including IEND.
    private static string? FindPngTruncation(ReadOnlySpan<byte> data)
    {
        long position = 8;
        while (true)
        {
            if (position + 8 > data.Length)
            {
                return $"it ends at byte {data.Length} without an IEND chunk";
            }

            uint length = BinaryPrimitives.ReadUInt32BigEndian(data[(int)position..]);
            ReadOnlySpan<byte> type = data.Slice((int)position + 4, 4);
            long end = position + 12 + (long)length;
            if (end > data.Length)
            {
                return $"chunk '{Printable(type)}' at byte {position} declares {length} data bytes but the file ends {data.Length - position - 12} bytes later";
            }

            if (type.SequenceEqual(PngEnd))
            {
                return null;
            }

            position = end;
        }
    }

    // JPEG: the entropy-coded data of a scan escapes every 0xFF as FF 00, so FF D9 (end of image) and FF DA
    // (start of scan) occur only as markers. An EXIF thumbnail carries its own markers, but before the main
    // image's scans, so the last EOI must follow the last SOS. No SOS at all is left to the decoder to refuse.
    private static string? FindJpegTruncation(ReadOnlySpan<byte> data)
    {
        int lastScan = data.LastIndexOf([(byte)0xFF, (byte)0xDA]);
        int lastEnd = data.LastIndexOf([(byte)0xFF, (byte)0xD9]);
        return lastScan >= 0 && lastEnd < lastScan
            ? $"no end-of-image marker (FF D9) follows the last scan, which starts at byte {lastScan}"
            : null;
    }

    // BMP: a 14-byte file header (pixel data offset at 10), then the DIB header (its size at 14). Uncompressed
    // rows are padded to 4 bytes, so their size follows from the header; RLE data must reach its end marker.
    private static string? FindBmpTruncation(ReadOnlySpan<byte> data)
    {
        if (data.Length < 18)
        {
            return $"it ends at byte {data.Length}, inside the file header";
        }

        long pixelOffset = BinaryPrimitives.ReadUInt32LittleEndian(data[10..]);
        long headerSize = BinaryPrimitives.ReadUInt32LittleEndian(data[14..]);
        if (14 + headerSize > data.Length || headerSize < 12)
        {
            return $"it ends at byte {data.Length}, inside a {headerSize}-byte bitmap header";
        }

        long width, height;
        int bitsPerPixel;
        uint compression;
        if (headerSize == 12)
        {
            width = BinaryPrimitives.ReadUInt16LittleEndian(data[18..]);
            height = BinaryPrimitives.ReadUInt16LittleEndian(data[20..]);
            bitsPerPixel = BinaryPrimitives.ReadUInt16LittleEndian(data[24..]);
            compression = 0;
        }
        else if (headerSize >= 40)
        {
            width = Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(data[18..]));
            height = Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(data[22..]));
            bitsPerPixel = BinaryPrimitives.ReadUInt16LittleEndian(data[28..]);
            compression = BinaryPrimitives.ReadUInt32LittleEndian(data[30..]);
        }
        else
        {
            return null;
        }

        const uint Rgb = 0, Rle8 = 1, Rle4 = 2, BitFields = 3, AlphaBitFields = 6;
        switch (compression)
        {
            case Rgb or BitFields or AlphaBitFields:
                long rowBytes = ((width * bitsPerPixel) + 31) / 32 * 4;
                Int128 needed = pixelOffset + ((Int128)rowBytes * height);
                return needed > data.Length
                    ? $"its {width} × {height} pixels at {bitsPerPixel} bits need the file to reach byte {needed}, but it ends at byte {data.Length}"
                    : null;
            case Rle8 or Rle4:
                return ReachesRleEnd(data, pixelOffset, compression == Rle4)
                    ? null
                    : $"its run-length data ends at byte {data.Length} before the end-of-bitmap marker (00 01)";
            default:
                return null;
        }
    }

    // RLE4/RLE8: pairs (count, value); count 0 escapes: 0 end of line, 1 end of bitmap, 2 delta (+2 bytes),
    // n ≥ 3 an absolute run of n pixels (n bytes for RLE8, ⌈n/2⌉ for RLE4) padded to an even length.
    private static bool ReachesRleEnd(ReadOnlySpan<byte> data, long position, bool fourBit)
    {
        while (position + 2 <= data.Length)
        {
            byte count = data[(int)position];
            byte value = data[(int)position + 1];
            position += 2;
            if (count != 0)
            {
                continue;
            }

            switch (value)
            {
                case 0:
                    break;
                case 1:
                    return true;
                case 2:
                    position += 2;
                    break;
                default:
                    int bytes = fourBit ? (value + 1) / 2 : value;
                    position += bytes + (bytes & 1);
                    break;
            }
        }

        return false;
    }

    // GIF: a 13-byte header and screen descriptor, an optional global colour table, then blocks: extensions
    // (0x21, label, sub-blocks) and images (0x2C, 9-byte descriptor, optional local colour table, LZW code
    // size, sub-blocks). Only the first frame is decoded, so only the blocks up to its end must be present.
    private static string? FindGifTruncation(ReadOnlySpan<byte> data)
    {
        if (data.Length < 13)
        {
            return $"it ends at byte {data.Length}, inside the screen descriptor";
        }

        long position = 13 + ColorTableBytes(data[10]);
        while (position < data.Length)
        {
            switch (data[(int)position])
            {
                case 0x21:
                    position = SkipSubBlocks(data, position + 2);
                    break;
                case 0x2C:
                    if (position + 10 > data.Length)
                    {
                        return $"it ends at byte {data.Length}, inside the first frame's descriptor";
                    }

                    long imageData = position + 10 + ColorTableBytes(data[(int)position + 9]) + 1;
                    return SkipSubBlocks(data, imageData) > data.Length
                        ? $"the first frame's image data, from byte {imageData}, ends at byte {data.Length} before its terminator"
                        : null;
                case 0x3B:
                    return $"its trailer at byte {position} comes before any frame";
                default:
                    return null;
            }
        }

        return $"it ends at byte {data.Length} before the first frame";
    }

    private static long ColorTableBytes(byte packedFields) =>
        (packedFields & 0x80) == 0 ? 0 : 3L << ((packedFields & 7) + 1);

    // Returns the position after the terminating zero-length sub-block, or a position past the end when absent.
    private static long SkipSubBlocks(ReadOnlySpan<byte> data, long position)
    {
        while (position < data.Length)
        {
            byte size = data[(int)position];
            position += 1 + size;
            if (size == 0)
            {
                return position;
            }
        }

        return data.Length + 1L;
    }

    private static string Printable(ReadOnlySpan<byte> type)
    {
        foreach (byte b in type)
        {
            if (b is < (byte)'A' or > (byte)'z' or (> (byte)'Z' and < (byte)'a'))
            {
                return Convert.ToHexString(type);
            }
        }

        return System.Text.Encoding.ASCII.GetString(type);
    }
}
