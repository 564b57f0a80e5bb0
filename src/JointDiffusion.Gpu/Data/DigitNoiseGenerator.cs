namespace JointDiffusion.Gpu.Data;

/// <summary>
/// Handwritten digits as structured noise, the paper's main experiment (section 6.1: y = 0.5 x_CelebA +
/// 0.5 n_MNIST): image i is digit i of a grey dataset (MNIST from an IDX file, already padded or resized to
/// the signal's size), as it is for a grey signal, or placed into RGB for a colour signal. Works on any grey
/// glyph dataset, e.g. <see cref="LetterNoiseGenerator"/> for the TMNIST-alphabet stand-in.
/// </summary>
/// <remarks>
/// For RGB the reference code (<c>grayscale_to_random_rgb</c>) writes each digit into one colour channel
/// chosen uniformly at random and leaves the other two at zero; <see cref="NoiseChannelPlacement.RandomChannel"/>
/// does the same with the channel drawn from (seed, index), so a training set and an evaluation set are
/// reproducible. Values stay in the digits' [0, 1] range; the measurement's blend factor is applied by the
/// caller.
/// </remarks>
public sealed class DigitNoiseGenerator : IImageDataset
{
    private const ulong ChannelStream = 0xD161;

    private readonly IImageDataset _digits;
    private readonly NoiseChannelPlacement _placement;
    private readonly ulong _seed;

    /// <summary>Wraps a grey digit dataset.</summary>
    /// <param name="digits">The digits: one channel, values in [0, 1].</param>
    /// <param name="channels">Channels of the noise images: 1 (the digit as it is) or 3 (RGB, by <paramref name="placement"/>).</param>
    /// <param name="placement">How a digit fills RGB; ignored for one channel.</param>
    /// <param name="seed">Seed of the per-image channel choice.</param>
    /// <exception cref="ArgumentException">When the digits are not grey or <paramref name="channels"/> is not 1 or 3.</exception>
    public DigitNoiseGenerator(IImageDataset digits, int channels = 1, NoiseChannelPlacement placement = NoiseChannelPlacement.RandomChannel, ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(digits);
        if (digits.Channels != 1)
        {
            throw new ArgumentException($"Digit noise needs a grey (1-channel) digit dataset, but '{digits.Description}' has {digits.Channels} channels.", nameof(digits));
        }

        if (channels is not (1 or 3))
        {
            throw new ArgumentException($"Digit noise has 1 (grey) or 3 (RGB) channels, not {channels}.", nameof(channels));
        }

        if (!Enum.IsDefined(placement))
        {
            throw new ArgumentException($"Unknown channel placement {placement}.", nameof(placement));
        }

        _digits = digits;
        _placement = placement;
        _seed = seed;
        Channels = channels;
    }

    /// <inheritdoc/>
    public int Count => _digits.Count;

    /// <inheritdoc/>
    public int Channels { get; }

    /// <inheritdoc/>
    public int Height => _digits.Height;

    /// <inheritdoc/>
    public int Width => _digits.Width;

    /// <inheritdoc/>
    public string Description => Channels == 1
        ? $"digit noise: {_digits.Description}"
        : _placement == NoiseChannelPlacement.RandomChannel
            ? $"digit noise: {_digits.Description}, each image in one random RGB channel (seed {_seed})"
            : $"digit noise: {_digits.Description}, repeated on RGB";

    /// <summary>
    /// The channel that holds digit <paramref name="index"/> under <see cref="NoiseChannelPlacement.RandomChannel"/>
    /// (0, 1 or 2, uniform); for grey noise always 0.
    /// </summary>
    public int ChannelOf(int index)
    {
        CheckIndex(index);
        return Channels == 1 ? 0 : new NoiseRandom(_seed, ChannelStream, index).Below(0, 3);
    }

    /// <inheritdoc/>
    public void CopyTo(int index, Span<float> destination)
    {
        CheckIndex(index);
        int plane = Height * Width;
        if (destination.Length != Channels * plane)
        {
            throw new ArgumentException($"Digit noise image {index} has {Channels * plane} values, but the destination holds {destination.Length}.", nameof(destination));
        }

        Span<float> first = destination[..plane];
        _digits.CopyTo(index, first);
        if (Channels == 1)
        {
            return;
        }

        if (_placement == NoiseChannelPlacement.Replicate)
        {
            first.CopyTo(destination.Slice(plane, plane));
            first.CopyTo(destination.Slice(2 * plane, plane));
            return;
        }

        int channel = ChannelOf(index);
        if (channel != 0)
        {
            first.CopyTo(destination.Slice(channel * plane, plane));
            first.Clear();
        }

        for (int c = 1; c < 3; c++)
        {
            if (c != channel)
            {
                destination.Slice(c * plane, plane).Clear();
            }
        }
    }

    private void CheckIndex(int index)
    {
        if ((uint)index >= (uint)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"Digit noise has {Count} images.");
        }
    }
}
