using JointDiffusion.Kernels;

namespace JointDiffusion.Gpu.Data;

/// <summary>
/// Gaussian noise with sinusoidal variance, the paper's section 6.3 noise: n_k ~ N(0, σ_k²) with
/// σ_k = scale · exp(sin(2πk / 16)) (Tables 3 and 4). For the A = I experiment k is the row of the pixel
/// (<see cref="PerRow"/>, a 2D pattern of horizontal bands, every channel and column alike); for compressed
/// sensing k is the flattened element index of the measurement noise (<see cref="PerElement"/>).
/// </summary>
/// <remarks>
/// <para>Element p of image i is <c>σ_p · Philox.Gaussian(seed, i · d + p)</c> with d = C·H·W, so a batch of
/// consecutive images i₀… is <c>backend.FillGaussian(batch, seed, i₀ · d)</c> times the <see cref="StdMap"/>
/// on any backend, and the noise is exactly the diagonal Gaussian that <c>GaussianPrior.Diagonal</c> with
/// <see cref="StdMap"/> scores.</para>
/// <para>The reference code instead rescales each drawn batch so that its empirical standard deviation is the
/// target σ_N (0.2 in the paper's section 6.3); <see cref="WithRmsStd"/> fixes the scale once so that the
/// root-mean-square of σ_k is that target, which is the same on average and keeps the distribution Gaussian.
/// Values are real numbers, not confined to [0, 1] like the image datasets.</para>
/// </remarks>
public sealed class SinusoidalNoiseGenerator : IImageDataset
{
    /// <summary>The period of the standard deviation pattern in k (16 in the paper).</summary>
    public const int Period = 16;

    private readonly float[] _std;
    private readonly ulong _seed;
    private readonly bool _perRow;

    private SinusoidalNoiseGenerator(int channels, int height, int width, ulong seed, double scale, bool perRow, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (!(scale > 0) || !double.IsFinite(scale))
        {
            throw new ArgumentOutOfRangeException(nameof(scale), scale, "The noise scale must be finite and > 0.");
        }

        long length = (long)channels * height * width;
        if (length > Array.MaxLength)
        {
            throw new ArgumentException($"A [{channels}, {height}, {width}] noise image has more values than an array can hold.");
        }

        Channels = channels;
        Height = height;
        Width = width;
        Count = count;
        Scale = scale;
        _seed = seed;
        _perRow = perRow;
        _std = new float[length];
        for (int p = 0; p < _std.Length; p++)
        {
            int k = perRow ? p / width % height : p;
            _std[p] = (float)(scale * RelativeStd(k));
        }
    }

    /// <summary>The A = I noise (paper Table 4): σ depends on the row y of the pixel, σ = scale · exp(sin(2πy / 16)).</summary>
    /// <param name="channels">Channels C ≥ 1.</param>
    /// <param name="height">Rows H ≥ 1.</param>
    /// <param name="width">Columns W ≥ 1.</param>
    /// <param name="seed">Philox seed of the noise values.</param>
    /// <param name="scale">Factor on every σ (> 0); see <see cref="WithRmsStd"/>.</param>
    /// <param name="count">Number of images this dataset exposes (the stream itself is unbounded).</param>
    public static SinusoidalNoiseGenerator PerRow(int channels, int height, int width, ulong seed, double scale = 1.0, int count = int.MaxValue) =>
        new(channels, height, width, seed, scale, perRow: true, count);

    /// <summary>
    /// The compressed-sensing noise (paper Table 3): σ depends on the flattened index k = (c·H + y)·W + x,
    /// σ = scale · exp(sin(2πk / 16)); for a measurement vector of length m use shape [1, 1, m].
    /// </summary>
    /// <param name="channels">Channels C ≥ 1.</param>
    /// <param name="height">Rows H ≥ 1.</param>
    /// <param name="width">Columns W ≥ 1.</param>
    /// <param name="seed">Philox seed of the noise values.</param>
    /// <param name="scale">Factor on every σ (> 0); see <see cref="WithRmsStd"/>.</param>
    /// <param name="count">Number of images this dataset exposes (the stream itself is unbounded).</param>
    public static SinusoidalNoiseGenerator PerElement(int channels, int height, int width, ulong seed, double scale = 1.0, int count = int.MaxValue) =>
        new(channels, height, width, seed, scale, perRow: false, count);

    /// <summary>exp(sin(2πk / 16)): the standard deviation at position k before <see cref="Scale"/>.</summary>
    public static double RelativeStd(int k) => Math.Exp(Math.Sin(2.0 * Math.PI * (k % Period) / Period));

    /// <summary>The factor on every σ.</summary>
    public double Scale { get; }

    /// <summary>True when σ varies with the row (<see cref="PerRow"/>), false when with the flattened index.</summary>
    public bool VariesPerRow => _perRow;

    /// <summary>Root-mean-square of the standard deviations over the image: sqrt(mean σ_p²), the overall noise level.</summary>
    public double RmsStd => Math.Sqrt(_std.Average(s => (double)s * s));

    /// <inheritdoc/>
    public int Count { get; }

    /// <inheritdoc/>
    public int Channels { get; }

    /// <inheritdoc/>
    public int Height { get; }

    /// <inheritdoc/>
    public int Width { get; }

    /// <inheritdoc/>
    public string Description =>
        $"sinusoidal-variance Gaussian noise, σ = {Scale:G4}·exp(sin(2πk/{Period})) per {(_perRow ? "row" : "element")} k, rms σ {RmsStd:G4} (seed {_seed})";

    /// <summary>
    /// The same pattern and seed with the scale chosen so that <see cref="RmsStd"/> is <paramref name="rmsStd"/>
    /// (the paper's "average standard deviation σ_N", e.g. 0.2).
    /// </summary>
    public SinusoidalNoiseGenerator WithRmsStd(double rmsStd)
    {
        if (!(rmsStd > 0) || !double.IsFinite(rmsStd))
        {
            throw new ArgumentOutOfRangeException(nameof(rmsStd), rmsStd, "The target standard deviation must be finite and > 0.");
        }

        return new(Channels, Height, Width, _seed, Scale * rmsStd / RmsStd, _perRow, Count);
    }

    /// <summary>The per-element standard deviation σ_p as a new [C, H, W] array (for <c>GaussianPrior.Diagonal</c>).</summary>
    public float[] StdMap() => (float[])_std.Clone();

    /// <inheritdoc/>
    public void CopyTo(int index, Span<float> destination)
    {
        if ((uint)index >= (uint)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"This sinusoidal noise stream exposes {Count} images.");
        }

        if (destination.Length != _std.Length)
        {
            throw new ArgumentException($"A sinusoidal noise image has {_std.Length} values, but the destination holds {destination.Length}.", nameof(destination));
        }

        ulong offset = (ulong)index * (ulong)_std.Length;
        for (int p = 0; p < _std.Length; p++)
        {
            destination[p] = _std[p] * Philox.Gaussian(_seed, offset + (ulong)p);
        }
    }
}
