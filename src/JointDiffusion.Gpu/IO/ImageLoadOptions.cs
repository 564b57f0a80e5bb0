namespace JointDiffusion.Gpu.IO;

/// <summary>
/// How <see cref="ImageFile"/> loads an image: the pixel limit that guards against hostile files, and the
/// optional geometry steps, applied in this order: centre crop to a square, then resize.
/// </summary>
/// <example><c>ImageLoadOptions.Default with { CenterCropToSquare = true, ResizeHeight = 64, ResizeWidth = 64 }</c></example>
public sealed record ImageLoadOptions
{
    /// <summary>The default pixel limit: 2^26 = 67 108 864 pixels (64 Mi, e.g. 8192 × 8192).</summary>
    public const long DefaultMaxPixels = 1L << 26;

    /// <summary>No crop, no resize, the default pixel limit.</summary>
    public static ImageLoadOptions Default { get; } = new();

    /// <summary>
    /// Refuse images whose header declares more than this many pixels (width × height), before anything is
    /// decoded. It also bounds every buffer the decoder may allocate (8 bytes per pixel), so a file whose header
    /// lies about its content cannot make the decoder allocate more either.
    /// </summary>
    public long MaxPixels { get; init; } = DefaultMaxPixels;

    /// <summary>
    /// The longest file (or stream) accepted: 16 bytes per allowed pixel plus 16 MiB, derived from
    /// <see cref="MaxPixels"/> (1 GiB + 16 MiB by default). The densest accepted encoding, a 16-bit RGBA PNG
    /// stored without compression, needs about 8 bytes a pixel; the factor 2 and the 16 MiB leave room for
    /// metadata, framing and inefficient encoders. Longer input is refused before it is read, so that reading
    /// an image never holds more than this many bytes of file, whatever its header says.
    /// </summary>
    public long MaxFileBytes => MaxPixels > (long.MaxValue - FileSlackBytes) / 16 ? long.MaxValue : (16 * MaxPixels) + FileSlackBytes;

    private const long FileSlackBytes = 16L << 20;

    /// <summary>
    /// Crop the central min(H, W) × min(H, W) square before any resize; the offset of the crop is
    /// floor((W − side) / 2) (or the same for H).
    /// </summary>
    public bool CenterCropToSquare { get; init; }

    /// <summary>Resize to this many rows (set together with <see cref="ResizeWidth"/>), or null to keep the height.</summary>
    public int? ResizeHeight { get; init; }

    /// <summary>Resize to this many columns (set together with <see cref="ResizeHeight"/>), or null to keep the width.</summary>
    public int? ResizeWidth { get; init; }

    /// <summary>The interpolation kernel of the resize; <see cref="ImageResampling.Bilinear"/> by default.</summary>
    public ImageResampling Resampling { get; init; } = ImageResampling.Bilinear;
}
