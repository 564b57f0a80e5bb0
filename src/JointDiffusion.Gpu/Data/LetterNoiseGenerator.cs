using SkiaSharp;

namespace JointDiffusion.Gpu.Data;

/// <summary>
/// Capital letters A–Z rendered from TrueType/OpenType fonts, the stand-in for the paper's TMNIST-alphabet
/// out-of-distribution noise (section 6.2; TMNIST itself cannot be fetched here). Image i is letter i mod 26
/// of font i / 26, fonts in ordinal order of their paths, so the set is fixed by the font folder alone.
/// </summary>
/// <remarks>
/// Like an MNIST digit padded from 28 × 28 to 32 × 32, each letter is white on black, anti-aliased, centred
/// (its outline's bounding box), and scaled so that its larger side fills 80 % of a box 7/8 of the image
/// (a 28 × 28 box in a 32 × 32 image: 22.4 pixels). Values are coverage in [0, 1]. Font files that SkiaSharp
/// cannot read, or that lack an outline for any of A–Z (symbol-encoded dingbat fonts), are left out; a
/// dingbat font whose Unicode table maps A–Z to pictographs passes that check (URW's D050000L in Debian's
/// fonts-urw-base35 does), so keep such files out of the folder. Each font's
/// 26 letters are rendered on first use and cached (26·H·W floats per font), so drawing batches costs copies.
/// Grey only; for RGB wrap it in a <see cref="DigitNoiseGenerator"/>.
/// </remarks>
public sealed class LetterNoiseGenerator : IImageDataset
{
    /// <summary>The letters, in index order.</summary>
    public const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

    /// <summary>The folder where Debian installs fonts (e.g. the package fonts-dejavu-core).</summary>
    public const string SystemFontFolder = "/usr/share/fonts";

    // Fraction of the image side given to the glyph box (28 of 32, as MNIST's padding), and fraction of that
    // box filled by the glyph's larger side.
    private const float BoxFraction = 28f / 32f;
    private const float FillFraction = 0.8f;

    // Outlines are measured at this size, then scaled; large enough that the bounds are exact to the pixel.
    private const float ReferenceSize = 256f;

    private readonly string[] _fontFiles;
    private readonly float[]?[] _renderedFonts;

    /// <summary>Finds the usable fonts under <paramref name="fontFolder"/> (searched recursively).</summary>
    /// <param name="fontFolder">A folder holding .ttf/.otf files, e.g. <c>&lt;data&gt;/fonts</c> or <see cref="SystemFontFolder"/>.</param>
    /// <param name="height">Image rows, ≥ 8.</param>
    /// <param name="width">Image columns, ≥ 8.</param>
    /// <exception cref="DirectoryNotFoundException">When the folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">When the folder holds no usable font (none readable with outlines for all of A–Z).</exception>
    public LetterNoiseGenerator(string fontFolder, int height = 32, int width = 32)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(fontFolder);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 8);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 8);
        if (!Directory.Exists(fontFolder))
        {
            throw new DirectoryNotFoundException($"Letter noise: the font folder '{fontFolder}' does not exist.");
        }

        string[] candidates = [.. Directory.EnumerateFiles(fontFolder, "*", SearchOption.AllDirectories)
            .Where(path => Path.GetExtension(path).ToLowerInvariant() is ".ttf" or ".otf")
            .Order(StringComparer.Ordinal)];
        _fontFiles = [.. candidates.Where(HasAllLetterOutlines)];
        if (_fontFiles.Length == 0)
        {
            throw new FileNotFoundException(
                $"Letter noise: no usable font under '{fontFolder}': {candidates.Length} .ttf/.otf file(s) found, none readable with outlines " +
                $"for all of A–Z. Point it at a folder of TrueType/OpenType fonts, e.g. install Debian's fonts-dejavu-core into {SystemFontFolder}.");
        }

        FontFolder = fontFolder;
        RejectedFontCount = candidates.Length - _fontFiles.Length;
        Height = height;
        Width = width;
        _renderedFonts = new float[]?[_fontFiles.Length];
    }

    /// <summary>The folder the fonts came from.</summary>
    public string FontFolder { get; }

    /// <summary>The usable font files, in index order (font f covers images 26f … 26f + 25).</summary>
    public IReadOnlyList<string> FontFiles => _fontFiles;

    /// <summary>How many .ttf/.otf files were left out (unreadable, or missing some of A–Z).</summary>
    public int RejectedFontCount { get; }

    /// <inheritdoc/>
    public int Count => _fontFiles.Length * Alphabet.Length;

    /// <inheritdoc/>
    public int Channels => 1;

    /// <inheritdoc/>
    public int Height { get; }

    /// <inheritdoc/>
    public int Width { get; }

    /// <inheritdoc/>
    public string Description =>
        $"letters A–Z from {_fontFiles.Length} fonts under {FontFolder} ({Count} images, {Height}x{Width}; {RejectedFontCount} font files left out)";

    /// <summary>The font file and letter of image <paramref name="index"/>.</summary>
    public (string FontFile, char Letter) GlyphOf(int index)
    {
        CheckIndex(index);
        return (_fontFiles[index / Alphabet.Length], Alphabet[index % Alphabet.Length]);
    }

    /// <inheritdoc/>
    public void CopyTo(int index, Span<float> destination)
    {
        CheckIndex(index);
        int plane = Height * Width;
        if (destination.Length != plane)
        {
            throw new ArgumentException($"Letter image {index} has {plane} values, but the destination holds {destination.Length}.", nameof(destination));
        }

        int font = index / Alphabet.Length;
        float[] letters = Volatile.Read(ref _renderedFonts[font]) ?? RenderAndCache(font);
        letters.AsSpan((index % Alphabet.Length) * plane, plane).CopyTo(destination);
    }

    private float[] RenderAndCache(int font)
    {
        float[] letters = RenderFont(_fontFiles[font]);
        // Two threads may render the same font at once; both results are identical, the first one is kept.
        return Interlocked.CompareExchange(ref _renderedFonts[font], letters, null) ?? letters;
    }

    private float[] RenderFont(string fontFile)
    {
        int plane = Height * Width;
        var letters = new float[Alphabet.Length * plane];
        using SKTypeface typeface = SKTypeface.FromFile(fontFile)
            ?? throw new IOException($"Letter noise: the font '{fontFile}' can no longer be read.");
        using var font = new SKFont(typeface, ReferenceSize);
        using var bitmap = new SKBitmap(new SKImageInfo(Width, Height, SKColorType.Alpha8, SKAlphaType.Premul));
        using var canvas = new SKCanvas(bitmap);
        using var paint = new SKPaint { Color = SKColors.White, IsAntialias = true, Style = SKPaintStyle.Fill };
        float target = FillFraction * BoxFraction * Math.Min(Height, Width);
        ushort[] glyphs = font.GetGlyphs(Alphabet);
        for (int letter = 0; letter < Alphabet.Length; letter++)
        {
            using SKPath outline = font.GetGlyphPath(glyphs[letter]);
            SKRect bounds = outline.TightBounds;
            float scale = target / Math.Max(bounds.Width, bounds.Height);
            canvas.Clear(SKColors.Transparent);
            canvas.ResetMatrix();
            // Centre of the outline's box onto the image centre, larger side scaled to the target.
            canvas.Translate(Width / 2f, Height / 2f);
            canvas.Scale(scale);
            canvas.Translate(-bounds.MidX, -bounds.MidY);
            canvas.DrawPath(outline, paint);
            canvas.Flush();
            ReadOnlySpan<byte> coverage = bitmap.GetPixelSpan();
            Span<float> image = letters.AsSpan(letter * plane, plane);
            for (int y = 0; y < Height; y++)
            {
                for (int x = 0; x < Width; x++)
                {
                    image[(y * Width) + x] = coverage[(y * bitmap.RowBytes) + x] / 255f;
                }
            }
        }

        return letters;
    }

    private static bool HasAllLetterOutlines(string fontFile)
    {
        using SKTypeface? typeface = SKTypeface.FromFile(fontFile);
        if (typeface is null)
        {
            return false;
        }

        using var font = new SKFont(typeface, ReferenceSize);
        if (!font.ContainsGlyphs(Alphabet))
        {
            return false;
        }

        foreach (ushort glyph in font.GetGlyphs(Alphabet))
        {
            using SKPath? outline = font.GetGlyphPath(glyph);
            if (outline is null || outline.IsEmpty || outline.TightBounds.Width <= 0 || outline.TightBounds.Height <= 0)
            {
                return false;
            }
        }

        return true;
    }

    private void CheckIndex(int index)
    {
        if ((uint)index >= (uint)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"Letter noise has {Count} images.");
        }
    }
}
