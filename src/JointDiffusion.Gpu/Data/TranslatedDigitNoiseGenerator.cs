using System.Buffers;

namespace JointDiffusion.Gpu.Data;

/// <summary>
/// Randomly translated digits, the paper's second out-of-distribution noise (section 6.2): image i is image i
/// of a source dataset (usually a <see cref="DigitNoiseGenerator"/>) shifted by a whole-pixel offset
/// (dy, dx), each uniform in [−maxShift, maxShift] and drawn from (seed, index), with zeros shifted in.
/// </summary>
/// <remarks>
/// The reference code translates by a uniform fraction of the image size with bilinear interpolation; whole
/// pixels keep the digits' strokes as sharp as the training digits, so the shift is the only change of
/// distribution. Out of distribution for a noise model trained on centred digits: a maximum shift of 8 pixels
/// on 32 × 32 moves a 20-pixel digit a quarter of the image.
/// </remarks>
public sealed class TranslatedDigitNoiseGenerator : IImageDataset
{
    private const ulong ShiftStream = 0x5817;

    private readonly IImageDataset _source;
    private readonly ulong _seed;

    /// <summary>Wraps a source dataset (any channel count).</summary>
    /// <param name="source">The images to shift, e.g. digits.</param>
    /// <param name="maxShift">Largest shift in pixels along each axis, 0 ≤ maxShift &lt; min(height, width).</param>
    /// <param name="seed">Seed of the per-image shifts.</param>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="maxShift"/> is negative or not smaller than the image.</exception>
    public TranslatedDigitNoiseGenerator(IImageDataset source, int maxShift, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfNegative(maxShift);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(maxShift, Math.Min(source.Height, source.Width));
        _source = source;
        _seed = seed;
        MaxShift = maxShift;
    }

    /// <summary>Largest shift in pixels along each axis.</summary>
    public int MaxShift { get; }

    /// <inheritdoc/>
    public int Count => _source.Count;

    /// <inheritdoc/>
    public int Channels => _source.Channels;

    /// <inheritdoc/>
    public int Height => _source.Height;

    /// <inheritdoc/>
    public int Width => _source.Width;

    /// <inheritdoc/>
    public string Description => $"{_source.Description}, translated by up to ±{MaxShift} px (seed {_seed})";

    /// <summary>
    /// The shift of image <paramref name="index"/>: output pixel (y, x) is source pixel (y − Dy, x − Dx), so a
    /// positive Dy moves the content down and a positive Dx moves it right.
    /// </summary>
    public (int Dy, int Dx) ShiftOf(int index)
    {
        CheckIndex(index);
        var random = new NoiseRandom(_seed, ShiftStream, index);
        int span = (2 * MaxShift) + 1;
        return (random.Below(0, span) - MaxShift, random.Below(2, span) - MaxShift);
    }

    /// <inheritdoc/>
    public void CopyTo(int index, Span<float> destination)
    {
        int plane = Height * Width;
        if (destination.Length != Channels * plane)
        {
            throw new ArgumentException($"Translated image {index} has {Channels * plane} values, but the destination holds {destination.Length}.", nameof(destination));
        }

        (int dy, int dx) = ShiftOf(index);
        float[] buffer = ArrayPool<float>.Shared.Rent(destination.Length);
        try
        {
            Span<float> source = buffer.AsSpan(0, destination.Length);
            _source.CopyTo(index, source);
            destination.Clear();
            // Rows y with 0 ≤ y − dy < H and columns x with 0 ≤ x − dx < W receive a source pixel.
            int yStart = Math.Max(0, dy), yEnd = Math.Min(Height, Height + dy);
            int xStart = Math.Max(0, dx), xEnd = Math.Min(Width, Width + dx);
            for (int c = 0; c < Channels; c++)
            {
                for (int y = yStart; y < yEnd; y++)
                {
                    source.Slice((c * plane) + ((y - dy) * Width) + (xStart - dx), xEnd - xStart)
                        .CopyTo(destination.Slice((c * plane) + (y * Width) + xStart, xEnd - xStart));
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    private void CheckIndex(int index)
    {
        if ((uint)index >= (uint)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"Translated digit noise has {Count} images.");
        }
    }
}
