namespace JointDiffusion.Gpu.IO;

/// <summary>
/// A float32 image on the host in planar <c>[C, H, W]</c> layout (channel planes one after another, rows
/// top to bottom within a plane), with C = 1 (grey) or C = 3 (RGB) — the layout of one batch item of an NCHW
/// tensor. Values are nominally in [0, 1]. The pixel array is held, not copied, so an image can wrap the
/// result of <c>Tensor.ToArray()</c> without a second buffer.
/// </summary>
public sealed class PlanarImage
{
    /// <summary>Wraps <paramref name="pixels"/> as a <c>[channels, height, width]</c> image.</summary>
    /// <param name="pixels">Planar values; length must be <c>channels · height · width</c>. Held, not copied.</param>
    /// <param name="channels">1 (grey) or 3 (RGB).</param>
    /// <param name="height">Rows, ≥ 1.</param>
    /// <param name="width">Columns, ≥ 1.</param>
    /// <exception cref="ArgumentException">When the channel count is not 1 or 3, a size is below 1, or the length does not match.</exception>
    public PlanarImage(float[] pixels, int channels, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (channels is not (1 or 3))
        {
            throw new ArgumentException($"An image has 1 (grey) or 3 (RGB) channels, not {channels}.", nameof(channels));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        long expected = (long)channels * height * width;
        if (pixels.LongLength != expected)
        {
            throw new ArgumentException(
                $"A [{channels}, {height}, {width}] image needs {expected} values, but the array holds {pixels.LongLength}.", nameof(pixels));
        }

        Pixels = pixels;
        Channels = channels;
        Height = height;
        Width = width;
    }

    /// <summary>Creates a black (all-zero) <c>[channels, height, width]</c> image.</summary>
    /// <param name="channels">1 (grey) or 3 (RGB).</param>
    /// <param name="height">Rows, ≥ 1.</param>
    /// <param name="width">Columns, ≥ 1.</param>
    /// <exception cref="ArgumentException">When the channel count is not 1 or 3 or a size is below 1.</exception>
    public PlanarImage(int channels, int height, int width)
        : this(ZerosFor(channels, height, width), channels, height, width)
    {
    }

    /// <summary>The planar <c>[C, H, W]</c> values.</summary>
    public float[] Pixels { get; }

    /// <summary>C: 1 (grey) or 3 (RGB).</summary>
    public int Channels { get; }

    /// <summary>H: the number of rows.</summary>
    public int Height { get; }

    /// <summary>W: the number of columns.</summary>
    public int Width { get; }

    /// <summary>The value of channel <paramref name="channel"/> at row <paramref name="y"/>, column <paramref name="x"/>.</summary>
    /// <param name="channel">0 ≤ channel &lt; C.</param>
    /// <param name="y">0 ≤ y &lt; H.</param>
    /// <param name="x">0 ≤ x &lt; W.</param>
    /// <exception cref="ArgumentOutOfRangeException">When an index is outside the image (checked per axis, so a
    /// column past the end never silently reads the next row).</exception>
    public float this[int channel, int y, int x]
    {
        get => Pixels[IndexOf(channel, y, x)];
        set => Pixels[IndexOf(channel, y, x)] = value;
    }

    /// <summary>The shape as text, e.g. <c>[3, 32, 32]</c>, for messages.</summary>
    /// <returns>The <c>[C, H, W]</c> shape.</returns>
    public override string ToString() => $"[{Channels}, {Height}, {Width}]";

    private static float[] ZerosFor(int channels, int height, int width)
    {
        // Validate before allocating so that a bad size is an ArgumentException, not an overflow or OutOfMemory.
        long length = (long)Math.Clamp(channels, 0, 3) * Math.Max(height, 0) * Math.Max(width, 0);
        if (length > Array.MaxLength)
        {
            throw new ArgumentException($"A [{channels}, {height}, {width}] image has more values than an array can hold.");
        }

        return new float[length];
    }

    private int IndexOf(int channel, int y, int x)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)channel, (uint)Channels, nameof(channel));
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)y, (uint)Height, nameof(y));
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)x, (uint)Width, nameof(x));
        return (((channel * Height) + y) * Width) + x;
    }
}
