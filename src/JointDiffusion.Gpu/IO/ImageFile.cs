using System.Globalization;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Memory;
using SixLabors.ImageSharp.Metadata;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace JointDiffusion.Gpu.IO;

/// <summary>
/// Reads PNG, JPEG, BMP and GIF (first frame) files into <see cref="PlanarImage"/>s with values in [0, 1], and
/// writes <see cref="PlanarImage"/>s as 8-bit PNG. Input files are treated as untrusted: every refusal is an
/// <see cref="ImageFileException"/> naming the source and the problem.
/// </summary>
/// <remarks>
/// <para>Loading, in order:</para>
/// <list type="number">
/// <item>The header is identified (only PNG, JPEG, BMP and GIF decoders are registered). Unknown formats, zero
/// sizes and sizes above <see cref="ImageLoadOptions.MaxPixels"/> are refused before any pixel is decoded; so is a
/// BMP whose header points past the end of the file (identifying it would allocate the palette it claims).</item>
/// <item>The file's framing is checked for truncation (PNG chunks up to IEND, the JPEG end-of-image marker,
/// BMP pixel data, the GIF first frame), since the decoder would otherwise fill missing rows with zeros.</item>
/// <item>Decoding ignores metadata (EXIF orientation, ICC profiles, gamma are not applied, as in PIL) and drops
/// alpha without compositing (as PIL's <c>convert("RGB")</c>). 16-bit PNGs decode at 16 bits, all else at 8.</item>
/// <item>For one channel, luminance L = (19595 R + 38470 G + 7471 B + 2^15) &gt;&gt; 16 is computed on the
/// integer samples: exactly PIL's <c>convert("L")</c> (ITU-R BT.601, 0.299 R + 0.587 G + 0.114 B, rounded) for
/// 8-bit images, and the same formula at 16 bits for 16-bit PNGs. Grey sources give their values unchanged.</item>
/// <item>Optional centre crop to a square, then optional resize (<see cref="ImageResampling"/>); the result is
/// re-quantised to the source bit depth, as PIL stores a resized image.</item>
/// <item>Values become v / 255 (or v / 65535), exactly as float32 divisions.</item>
/// </list>
/// The whole file is read into memory first, at most <see cref="ImageLoadOptions.MaxFileBytes"/> bytes (a longer
/// file is refused from its length, a longer stream once that many bytes have arrived). Memory is thus bounded by
/// the options: that many bytes of file plus 8 bytes per allowed pixel of decoder buffers (an allocator limit), plus
/// the result. I/O failures (missing file, permissions) surface as the usual <see cref="IOException"/> family.
/// </remarks>
public static class ImageFile
{
    private const long MiB = 1 << 20;

    /// <summary>Loads the image file at <paramref name="path"/>.</summary>
    /// <param name="path">The file; also the name used in error messages.</param>
    /// <param name="channels">1 for luminance, 3 for RGB.</param>
    /// <param name="options">Pixel limit, crop and resize; <see cref="ImageLoadOptions.Default"/> when null.</param>
    /// <returns>A <c>[channels, H, W]</c> image with values in [0, 1].</returns>
    /// <exception cref="ImageFileException">When the file is not an acceptable image.</exception>
    /// <exception cref="ArgumentException">When <paramref name="channels"/> or <paramref name="options"/> are invalid.</exception>
    public static PlanarImage Load(string path, int channels, ImageLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        options = Validated(channels, options);
        RequireAcceptableLength(new FileInfo(path).Length, path, options);
        return Decode(File.ReadAllBytes(path), path, channels, options);
    }

    /// <summary>Loads an image file held in memory.</summary>
    /// <param name="bytes">The whole file.</param>
    /// <param name="sourceName">The name used in error messages.</param>
    /// <param name="channels">1 for luminance, 3 for RGB.</param>
    /// <param name="options">Pixel limit, crop and resize; <see cref="ImageLoadOptions.Default"/> when null.</param>
    /// <returns>A <c>[channels, H, W]</c> image with values in [0, 1].</returns>
    /// <exception cref="ImageFileException">When the bytes are not an acceptable image.</exception>
    /// <exception cref="ArgumentException">When <paramref name="channels"/> or <paramref name="options"/> are invalid.</exception>
    public static PlanarImage Load(byte[] bytes, string sourceName, int channels, ImageLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(sourceName);
        options = Validated(channels, options);
        RequireAcceptableLength(bytes.Length, sourceName, options);
        return Decode(bytes, sourceName, channels, options);
    }

    /// <summary>
    /// Loads an image file from <paramref name="stream"/>, read from its current position to its end into memory;
    /// a stream longer than <see cref="ImageLoadOptions.MaxFileBytes"/> is refused once that many bytes are read.
    /// </summary>
    /// <param name="stream">The source; left open.</param>
    /// <param name="sourceName">The name used in error messages.</param>
    /// <param name="channels">1 for luminance, 3 for RGB.</param>
    /// <param name="options">Pixel limit, crop and resize; <see cref="ImageLoadOptions.Default"/> when null.</param>
    /// <returns>A <c>[channels, H, W]</c> image with values in [0, 1].</returns>
    /// <exception cref="ImageFileException">When the data is not an acceptable image.</exception>
    /// <exception cref="ArgumentException">When <paramref name="channels"/> or <paramref name="options"/> are invalid.</exception>
    public static PlanarImage Load(Stream stream, string sourceName, int channels, ImageLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(sourceName);
        options = Validated(channels, options);
        return Decode(ReadBounded(stream, sourceName, options), sourceName, channels, options);
    }

    /// <summary>
    /// Writes <paramref name="image"/> to <paramref name="path"/> as an 8-bit PNG (grey or RGB), atomically: the
    /// bytes go to a temporary file in the same directory that then replaces <paramref name="path"/>, so a crash
    /// leaves either the old file or the complete new one.
    /// </summary>
    /// <param name="path">Destination file; its directory must exist.</param>
    /// <param name="image">Values are clamped to [0, 1] and rounded to the nearest of the 256 levels v·255.</param>
    /// <exception cref="ArgumentException">When a value is NaN or infinite: the caller's computation went wrong and
    /// a clamped picture of it would look plausible.</exception>
    public static void SavePng(string path, PlanarImage image)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(image);
        RequireFinite(image, path);
        string fullPath = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(fullPath)
            ?? throw new ArgumentException($"'{path}' names a root, not a file.", nameof(path));
        string temporary = Path.Combine(directory, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                Encode(stream, image);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, fullPath, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>Writes <paramref name="image"/> as an 8-bit PNG (grey or RGB) to <paramref name="destination"/> (left open).</summary>
    /// <param name="destination">The stream to write to, from its current position.</param>
    /// <param name="image">Values are clamped to [0, 1] and rounded to the nearest of the 256 levels v·255.</param>
    /// <exception cref="ArgumentException">When a value is NaN or infinite.</exception>
    public static void WritePng(Stream destination, PlanarImage image)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(image);
        RequireFinite(image, "the PNG stream");
        Encode(destination, image);
    }

    private static ImageLoadOptions Validated(int channels, ImageLoadOptions? options)
    {
        if (channels is not (1 or 3))
        {
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "Load 1 (luminance) or 3 (RGB) channels.");
        }

        options ??= ImageLoadOptions.Default;
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxPixels, 1, nameof(options));
        if (options.ResizeHeight.HasValue != options.ResizeWidth.HasValue)
        {
            throw new ArgumentException("Set both ResizeHeight and ResizeWidth, or neither.", nameof(options));
        }

        if (options is { ResizeHeight: int height, ResizeWidth: int width }
            && (height < 1 || width < 1 || (long)height * width > options.MaxPixels))
        {
            throw new ArgumentException(
                $"Resize target {height} × {width} must be at least 1 × 1 and at most MaxPixels = {options.MaxPixels} pixels.", nameof(options));
        }

        return options;
    }

    private static long FileLimit(ImageLoadOptions options) => Math.Min(options.MaxFileBytes, Array.MaxLength);

    private static void RequireAcceptableLength(long length, string source, ImageLoadOptions options)
    {
        if (length > FileLimit(options))
        {
            throw new ImageFileException(source,
                $"is {length} bytes long, more than the {FileLimit(options)} bytes accepted for images of at most {options.MaxPixels} pixels (ImageLoadOptions.MaxFileBytes)");
        }
    }

    // Reads to the end of the stream in chunks, but refuses it as soon as it passes the limit: memory stays at
    // about twice the limit (the chunks, then the joined copy), whatever the stream's length.
    private static byte[] ReadBounded(Stream stream, string source, ImageLoadOptions options)
    {
        const int ChunkBytes = 1 << 16;
        long limit = FileLimit(options);
        var chunks = new List<(byte[] Bytes, int Count)>();
        long total = 0;
        int count;
        do
        {
            var chunk = new byte[ChunkBytes];
            count = stream.ReadAtLeast(chunk, ChunkBytes, throwOnEndOfStream: false);
            total += count;
            if (total > limit)
            {
                throw new ImageFileException(source,
                    $"is longer than the {limit} bytes accepted for images of at most {options.MaxPixels} pixels (ImageLoadOptions.MaxFileBytes)");
            }

            chunks.Add((chunk, count));
        }
        while (count == ChunkBytes);

        var bytes = new byte[total];
        int offset = 0;
        foreach (var (chunk, n) in chunks)
        {
            chunk.AsSpan(0, n).CopyTo(bytes.AsSpan(offset));
            offset += n;
        }

        return bytes;
    }

    private static PlanarImage Decode(byte[] bytes, string source, int channels, ImageLoadOptions options)
    {
        if (bytes.Length == 0)
        {
            throw new ImageFileException(source, "is empty (0 bytes)");
        }

        string? overrun = ImageDataCompleteness.FindBmpHeaderBeyondFile(bytes);
        if (overrun is not null)
        {
            throw new ImageFileException(source, $"is a truncated or malformed BMP file: {overrun}");
        }

        Configuration configuration = DecodingConfiguration(options.MaxPixels);
        try
        {
            (IImageInfo info, IImageFormat format) = Identify(configuration, bytes, source);
            if (info.Width <= 0 || info.Height <= 0)
            {
                throw new ImageFileException(source, $"declares a zero-size {format.Name} image ({info.Width} × {info.Height})");
            }

            long pixels = (long)info.Width * info.Height;
            if (pixels > options.MaxPixels)
            {
                throw new ImageFileException(source,
                    $"declares {info.Width} × {info.Height} = {pixels} pixels, more than the limit of {options.MaxPixels} (ImageLoadOptions.MaxPixels)");
            }

            string? truncation = ImageDataCompleteness.FindTruncation(bytes, format);
            if (truncation is not null)
            {
                throw new ImageFileException(source, $"is a truncated or incomplete {format.Name} file: {truncation}");
            }

            bool sixteenBit = format is PngFormat && info.Metadata.GetPngMetadata().BitDepth == PngBitDepth.Bit16;
            return sixteenBit
                ? DecodeAs<Rgb48, L16>(bytes, source, format, info, channels, options, configuration, Luminance16)
                : DecodeAs<Rgb24, L8>(bytes, source, format, info, channels, options, configuration, Luminance8);
        }
        finally
        {
            configuration.MemoryAllocator.ReleaseRetainedResources();
        }
    }

    // Only the four formats we document (TIFF, WebP, TGA, PBM decoders are never reached), metadata ignored
    // (less parsing of attacker-controlled bytes), GIF frames after the first never decoded, and an allocator
    // that refuses any single buffer above 8 bytes per allowed pixel plus 16 MB of working space: more than the
    // widest buffer we ask for (Rgb48, 6 bytes per pixel), so a lying header field other than width × height
    // cannot drive a huge allocation either.
    private static Configuration DecodingConfiguration(long maxPixels)
    {
        var configuration = new Configuration(
            new PngConfigurationModule(), new JpegConfigurationModule(), new BmpConfigurationModule(), new GifConfigurationModule());
        configuration.ImageFormatsManager.SetDecoder(PngFormat.Instance, new PngDecoder { IgnoreMetadata = true });
        configuration.ImageFormatsManager.SetDecoder(JpegFormat.Instance, new JpegDecoder { IgnoreMetadata = true });
        configuration.ImageFormatsManager.SetDecoder(GifFormat.Instance, new GifDecoder { IgnoreMetadata = true, DecodingMode = FrameDecodingMode.First });
        long limitMegabytes = 16 + (((Math.Min(maxPixels, long.MaxValue / 16) * 8) + MiB - 1) / MiB);
        configuration.MemoryAllocator = MemoryAllocator.Create(
            new MemoryAllocatorOptions { AllocationLimitMegabytes = (int)Math.Min(limitMegabytes, int.MaxValue) });
        return configuration;
    }

    private static (IImageInfo Info, IImageFormat Format) Identify(Configuration configuration, byte[] bytes, string source)
    {
        IImageInfo? info;
        IImageFormat? format;
        try
        {
            info = Image.Identify(configuration, bytes, out format);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new ImageFileException(source, $"is a corrupt image file: {e.Message}", e);
        }

        if (info is null || format is null)
        {
            throw new ImageFileException(source,
                "is not a PNG, JPEG, BMP or GIF file (its first bytes match none of these; other formats are not accepted)");
        }

        return (info, format);
    }

    private static PlanarImage DecodeAs<TRgb, TGrey>(
        byte[] bytes, string source, IImageFormat format, IImageInfo info, int channels, ImageLoadOptions options,
        Configuration configuration, PixelAccessorAction<TRgb, TGrey> luminance)
        where TRgb : unmanaged, IPixel<TRgb>
        where TGrey : unmanaged, IPixel<TGrey>
    {
        using Image<TRgb> rgb = Decoding(source, format, () => Image.Load<TRgb>(configuration, bytes));
        if (rgb.Width != info.Width || rgb.Height != info.Height)
        {
            throw new ImageFileException(source,
                $"decodes to {rgb.Width} × {rgb.Height} pixels, but its {format.Name} header declares {info.Width} × {info.Height}");
        }

        if (channels == 3)
        {
            Reshape(rgb, source, format, options);
            return ToPlanar(rgb, 3);
        }

        using Image<TGrey> grey = Decoding(source, format, () => new Image<TGrey>(configuration, rgb.Width, rgb.Height));
        rgb.ProcessPixelRows(grey, luminance);
        Reshape(grey, source, format, options);
        return ToPlanar(grey, 1);
    }

    // PIL's convert("L"): L = (19595 R + 38470 G + 7471 B + 2^15) >> 16; the weights sum to 2^16, so grey stays grey.
    private static void Luminance8(PixelAccessor<Rgb24> rgb, PixelAccessor<L8> grey)
    {
        for (int y = 0; y < rgb.Height; y++)
        {
            Span<Rgb24> source = rgb.GetRowSpan(y);
            Span<L8> target = grey.GetRowSpan(y);
            for (int x = 0; x < source.Length; x++)
            {
                target[x] = new L8((byte)(((19595 * source[x].R) + (38470 * source[x].G) + (7471 * source[x].B) + 0x8000) >> 16));
            }
        }
    }

    private static void Luminance16(PixelAccessor<Rgb48> rgb, PixelAccessor<L16> grey)
    {
        for (int y = 0; y < rgb.Height; y++)
        {
            Span<Rgb48> source = rgb.GetRowSpan(y);
            Span<L16> target = grey.GetRowSpan(y);
            for (int x = 0; x < source.Length; x++)
            {
                target[x] = new L16((ushort)(((19595L * source[x].R) + (38470L * source[x].G) + (7471L * source[x].B) + 0x8000) >> 16));
            }
        }
    }

    private static void Reshape<TPixel>(Image<TPixel> image, string source, IImageFormat format, ImageLoadOptions options)
        where TPixel : unmanaged, IPixel<TPixel>
    {
        bool resize = options is { ResizeHeight: not null, ResizeWidth: not null };
        if (!options.CenterCropToSquare && !resize)
        {
            return;
        }

        Decoding(source, format, () =>
        {
            image.Mutate(context =>
            {
                if (options.CenterCropToSquare)
                {
                    int side = Math.Min(image.Width, image.Height);
                    context.Crop(new Rectangle((image.Width - side) / 2, (image.Height - side) / 2, side, side));
                }

                if (options is { ResizeHeight: int height, ResizeWidth: int width })
                {
                    context.Resize(new ResizeOptions
                    {
                        Size = new Size(width, height),
                        Mode = ResizeMode.Stretch,
                        Sampler = options.Resampling == ImageResampling.Bicubic ? KnownResamplers.Bicubic : KnownResamplers.Triangle,
                    });
                }
            });
            return image;
        });
    }

    // ToVector4 of L8/L16/Rgb24/Rgb48 divides the integer samples by 255 or 65535 (exact float32 divisions).
    private static PlanarImage ToPlanar<TPixel>(Image<TPixel> image, int channels)
        where TPixel : unmanaged, IPixel<TPixel>
    {
        var result = new PlanarImage(channels, image.Height, image.Width);
        float[] planes = result.Pixels;
        int plane = image.Height * image.Width;
        image.ProcessPixelRows(accessor =>
        {
            for (int y = 0; y < accessor.Height; y++)
            {
                Span<TPixel> row = accessor.GetRowSpan(y);
                int offset = y * row.Length;
                for (int x = 0; x < row.Length; x++)
                {
                    var value = row[x].ToVector4();
                    planes[offset + x] = value.X;
                    if (channels == 3)
                    {
                        planes[plane + offset + x] = value.Y;
                        planes[(2 * plane) + offset + x] = value.Z;
                    }
                }
            }
        });
        return result;
    }

    private static T Decoding<T>(string source, IImageFormat format, Func<T> step)
    {
        try
        {
            return step();
        }
        catch (Exception e) when (e is InvalidMemoryOperationException or OutOfMemoryException)
        {
            throw new ImageFileException(source, $"cannot be decoded as {format.Name} within the memory that MaxPixels allows: {e.Message}", e);
        }
        catch (Exception e) when (e is not (ImageFileException or OperationCanceledException))
        {
            throw new ImageFileException(source, $"is a corrupt or unsupported {format.Name} file: {e.Message}", e);
        }
    }

    private static void RequireFinite(PlanarImage image, string destination)
    {
        int index = Array.FindIndex(image.Pixels, v => !float.IsFinite(v));
        if (index >= 0)
        {
            int plane = image.Height * image.Width;
            string value = image.Pixels[index].ToString(CultureInfo.InvariantCulture);
            throw new ArgumentException(
                $"Refusing to write {destination}: pixel [channel {index / plane}, y {index % plane / image.Width}, x {index % image.Width}] " +
                $"of the {image} image is {value}; a NaN or infinity means the computation that produced it failed.", nameof(image));
        }
    }

    private static void Encode(Stream destination, PlanarImage image)
    {
        var encoder = new PngEncoder
        {
            BitDepth = PngBitDepth.Bit8,
            ColorType = image.Channels == 1 ? PngColorType.Grayscale : PngColorType.Rgb,
        };
        float[] planes = image.Pixels;
        int width = image.Width;
        int plane = image.Height * width;
        if (image.Channels == 1)
        {
            using var grey = new Image<L8>(width, image.Height);
            grey.ProcessPixelRows(rows =>
            {
                for (int y = 0; y < rows.Height; y++)
                {
                    Span<L8> row = rows.GetRowSpan(y);
                    for (int x = 0; x < width; x++)
                    {
                        row[x] = new L8(Level(planes[(y * width) + x]));
                    }
                }
            });
            grey.Save(destination, encoder);
        }
        else
        {
            using var rgb = new Image<Rgb24>(width, image.Height);
            rgb.ProcessPixelRows(rows =>
            {
                for (int y = 0; y < rows.Height; y++)
                {
                    Span<Rgb24> row = rows.GetRowSpan(y);
                    for (int x = 0; x < width; x++)
                    {
                        int at = (y * width) + x;
                        row[x] = new Rgb24(Level(planes[at]), Level(planes[plane + at]), Level(planes[(2 * plane) + at]));
                    }
                }
            });
            rgb.Save(destination, encoder);
        }
    }

    private static byte Level(float value) => (byte)MathF.Round(Math.Clamp(value, 0f, 1f) * 255f);
}
