using System.Buffers.Binary;
using System.IO.Compression;

namespace JointDiffusion.Gpu.Data;

/// <summary>
/// The images of an IDX file — the format of MNIST and Fashion-MNIST — raw or gzipped, decoded into memory once
/// and served as float32 v / 255 (exactly as torchvision's <c>ToTensor</c>), optionally zero-padded to a larger
/// square and optionally replicated to three channels.
/// </summary>
/// <remarks>
/// <para>Format: a 16-byte big-endian header — magic 2051 (0x00000803: unsigned bytes, three dimensions), then
/// n, rows, cols as int32 — followed by n · rows · cols pixel bytes, image after image, row-major. A file whose
/// first two bytes are the gzip signature (1F 8B) is decompressed first, whatever its name.</para>
/// <para>The header is checked against the data before anything is trusted: a wrong magic number (a label
/// file's 2049 is named as such), sizes below 1, pixel data shorter or longer than the header declares, and
/// corrupt gzip streams are refused with an <see cref="IdxFormatException"/> naming the file. A gzip stream is
/// decompressed into a buffer that grows with the data actually present, so a small file that declares a
/// huge image count cannot make the reader allocate for it.</para>
/// <para>The pixels are held as bytes (MNIST train: 47 MB); <see cref="CopyTo"/> converts one image through a
/// 256-entry table, so it costs a few microseconds. Instances are immutable and safe to read from several
/// threads at once.</para>
/// </remarks>
public sealed class IdxDataset : IImageDataset
{
    /// <summary>The magic number of an IDX file of unsigned bytes with three dimensions (a set of images).</summary>
    public const int ImageMagic = 2051;

    private const int LabelMagic = 2049;
    private const int HeaderBytes = 16;
    private const int InitialGzipBuffer = 1 << 24;

    private readonly byte[] _pixels;
    private readonly int _top;
    private readonly int _left;

    private IdxDataset(byte[] pixels, int count, int sourceHeight, int sourceWidth, int channels, int size, string description)
    {
        _pixels = pixels;
        Count = count;
        SourceHeight = sourceHeight;
        SourceWidth = sourceWidth;
        Channels = channels;
        Height = Math.Max(size, sourceHeight);
        Width = Math.Max(size, sourceWidth);
        _top = (Height - sourceHeight) / 2;
        _left = (Width - sourceWidth) / 2;
        Description = description;
    }

    /// <inheritdoc />
    public int Count { get; }

    /// <inheritdoc />
    public int Channels { get; }

    /// <inheritdoc />
    public int Height { get; }

    /// <inheritdoc />
    public int Width { get; }

    /// <summary>Rows of the images in the file, before padding.</summary>
    public int SourceHeight { get; }

    /// <summary>Columns of the images in the file, before padding.</summary>
    public int SourceWidth { get; }

    /// <inheritdoc />
    public string Description { get; }

    /// <summary>Reads the IDX image file at <paramref name="path"/> (raw or gzipped).</summary>
    /// <param name="path">The file; also the name used in error messages.</param>
    /// <param name="channels">1 (grey), or 3 to replicate the grey plane into R, G and B.</param>
    /// <param name="paddedSize">
    /// Zero-pad every image to <paramref name="paddedSize"/> × <paramref name="paddedSize"/>, centred (the extra
    /// rows go floor(extra / 2) above and the rest below; columns alike): 32 for MNIST's 28 × 28 gives 2 zero
    /// pixels on each side, as the reference weights were trained. Null keeps the file's size.
    /// </param>
    /// <param name="label">The name that starts <see cref="Description"/>, e.g. "MNIST train"; the file name when null.</param>
    /// <returns>The images, in file order.</returns>
    /// <exception cref="IdxFormatException">When the file is not a well-formed IDX image file.</exception>
    /// <exception cref="ArgumentException">When <paramref name="channels"/> is not 1 or 3, or <paramref name="paddedSize"/>
    /// is smaller than the images.</exception>
    public static IdxDataset Load(string path, int channels = 1, int? paddedSize = null, string? label = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        RequireChannels(channels);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(stream, path, channels, paddedSize, label ?? Path.GetFileName(path));
    }

    /// <summary>Reads an IDX image file held in memory (raw or gzipped).</summary>
    /// <param name="data">The whole file.</param>
    /// <param name="sourceName">The name used in error messages and, when <paramref name="label"/> is null, in <see cref="Description"/>.</param>
    /// <param name="channels">1 (grey), or 3 to replicate the grey plane into R, G and B.</param>
    /// <param name="paddedSize">Zero-pad every image to this square size, centred; null keeps the file's size.</param>
    /// <param name="label">The name that starts <see cref="Description"/>; <paramref name="sourceName"/> when null.</param>
    /// <returns>The images, in file order.</returns>
    /// <exception cref="IdxFormatException">When the bytes are not a well-formed IDX image file.</exception>
    /// <exception cref="ArgumentException">When <paramref name="channels"/> is not 1 or 3, or <paramref name="paddedSize"/>
    /// is smaller than the images.</exception>
    public static IdxDataset Load(byte[] data, string sourceName, int channels = 1, int? paddedSize = null, string? label = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(sourceName);
        RequireChannels(channels);
        using var stream = new MemoryStream(data, writable: false);
        return Read(stream, sourceName, channels, paddedSize, label ?? sourceName);
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="index"/> is outside [0, Count).</exception>
    /// <exception cref="ArgumentException">When <paramref name="destination"/> does not hold exactly C·H·W values.</exception>
    public void CopyTo(int index, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        int plane = Height * Width;
        if (destination.Length != Channels * plane)
        {
            throw new ArgumentException(
                $"The destination holds {destination.Length} values, but an image of {Description} has {Channels * plane} ([{Channels}, {Height}, {Width}]).",
                nameof(destination));
        }

        Span<float> grey = destination[..plane];
        if (Height != SourceHeight || Width != SourceWidth)
        {
            grey.Clear();
        }

        ReadOnlySpan<byte> image = _pixels.AsSpan(index * SourceHeight * SourceWidth, SourceHeight * SourceWidth);
        for (int y = 0; y < SourceHeight; y++)
        {
            ReadOnlySpan<byte> row = image.Slice(y * SourceWidth, SourceWidth);
            Span<float> target = grey.Slice(((_top + y) * Width) + _left, SourceWidth);
            for (int x = 0; x < row.Length; x++)
            {
                target[x] = ByteLevels.Values[row[x]];
            }
        }

        for (int c = 1; c < Channels; c++)
        {
            grey.CopyTo(destination.Slice(c * plane, plane));
        }
    }

    private static void RequireChannels(int channels)
    {
        if (channels is not (1 or 3))
        {
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "Serve 1 (grey) or 3 (grey replicated to RGB) channels.");
        }
    }

    private static IdxDataset Read(Stream stream, string source, int channels, int? paddedSize, string label)
    {
        Span<byte> signature = stackalloc byte[2];
        int signatureLength = stream.ReadAtLeast(signature, 2, throwOnEndOfStream: false);
        stream.Position = 0;
        bool gzipped = signatureLength == 2 && signature[0] == 0x1F && signature[1] == 0x8B;
        if (!gzipped)
        {
            return Parse(stream, source, stream.Length, channels, paddedSize, label);
        }

        try
        {
            using var decompressed = new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true);
            return Parse(decompressed, source, null, channels, paddedSize, label);
        }
        catch (InvalidDataException e)
        {
            throw new IdxFormatException(source, $"starts like a gzip file but is not a valid gzip stream: {e.Message}", e);
        }
    }

    // fileLength is the raw length for an uncompressed file (checked against the header before any allocation),
    // null for a decompressing stream (whose length is known only at its end).
    private static IdxDataset Parse(Stream stream, string source, long? fileLength, int channels, int? paddedSize, string label)
    {
        string compressed = fileLength is null ? " (after gzip decompression)" : string.Empty;
        var header = new byte[HeaderBytes];
        int headerLength = stream.ReadAtLeast(header, HeaderBytes, throwOnEndOfStream: false);
        if (headerLength < 4)
        {
            throw new IdxFormatException(source, $"is {headerLength} bytes long{compressed}, too short to be an IDX file (its header alone is {HeaderBytes} bytes)");
        }

        int magic = BinaryPrimitives.ReadInt32BigEndian(header);
        if (magic == LabelMagic)
        {
            throw new IdxFormatException(source, $"is an IDX label file (magic number {LabelMagic}), not an image file (magic number {ImageMagic})");
        }

        if (magic != ImageMagic)
        {
            throw new IdxFormatException(source,
                $"is not an IDX image file: its magic number is 0x{magic:X8} ({magic}), expected 0x{ImageMagic:X8} ({ImageMagic}: unsigned bytes, 3 dimensions)");
        }

        if (headerLength < HeaderBytes)
        {
            throw new IdxFormatException(source, $"is truncated inside its {HeaderBytes}-byte header ({headerLength} bytes{compressed})");
        }

        int count = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4));
        int rows = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(8));
        int cols = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(12));
        if (count < 1 || rows < 1 || cols < 1)
        {
            throw new IdxFormatException(source, $"declares {count} images of {rows} × {cols} pixels; each must be at least 1");
        }

        long pixelBytes = (long)count * rows * cols;
        string declared = $"its header declares {count} images of {rows} × {cols} ({pixelBytes} bytes of pixels)";
        if (pixelBytes > Array.MaxLength)
        {
            throw new IdxFormatException(source, $"is too large: {declared}, more than this reader holds in memory ({Array.MaxLength} bytes)");
        }

        int size = paddedSize ?? 0;
        if (paddedSize is int target && (target < rows || target < cols))
        {
            throw new ArgumentException($"Cannot pad the {rows} × {cols} images of {source} to {target} × {target}: padding only adds pixels.", nameof(paddedSize));
        }

        byte[] pixels = fileLength is long length
            ? ReadRaw(stream, source, length - HeaderBytes, pixelBytes, declared)
            : ReadDecompressed(stream, source, pixelBytes, declared);
        string geometry = size > rows || size > cols ? $"{rows}x{cols} padded to {size}x{size}" : $"{rows}x{cols}";
        string rgb = channels == 3 ? ", grey replicated to RGB" : string.Empty;
        return new IdxDataset(pixels, count, rows, cols, channels, size, $"{label} ({count}, {geometry}{rgb})");
    }

    private static byte[] ReadRaw(Stream stream, string source, long available, long pixelBytes, string declared)
    {
        if (available < pixelBytes)
        {
            throw new IdxFormatException(source, $"is truncated: {declared} but only {available} bytes follow the header");
        }

        if (available > pixelBytes)
        {
            throw new IdxFormatException(source,
                $"has {available - pixelBytes} bytes after its images: {declared}, so the file size ({available + HeaderBytes} bytes) does not match its header");
        }

        var pixels = new byte[pixelBytes];
        stream.ReadExactly(pixels);
        return pixels;
    }

    private static byte[] ReadDecompressed(Stream stream, string source, long pixelBytes, string declared)
    {
        var pixels = new byte[Math.Min(pixelBytes, InitialGzipBuffer)];
        long filled = 0;
        while (true)
        {
            if (filled == pixels.Length)
            {
                if (filled == pixelBytes)
                {
                    break;
                }

                Array.Resize(ref pixels, (int)Math.Min(pixelBytes, 2L * pixels.Length));
            }

            int read = stream.Read(pixels, (int)filled, pixels.Length - (int)filled);
            if (read == 0)
            {
                throw new IdxFormatException(source, $"is truncated: {declared} but only {filled} bytes follow the header after gzip decompression");
            }

            filled += read;
        }

        // One probe read, not a count of the excess: a gzip bomb appended after the images must not be inflated.
        Span<byte> probe = stackalloc byte[1];
        if (stream.Read(probe) > 0)
        {
            throw new IdxFormatException(source,
                $"has more bytes after its images once decompressed: {declared}, so the data size does not match its header");
        }

        return pixels;
    }
}
