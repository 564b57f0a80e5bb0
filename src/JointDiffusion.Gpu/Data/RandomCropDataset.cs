using System.Globalization;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Kernels;

namespace JointDiffusion.Gpu.Data;

/// <summary>
/// A virtual dataset of <see cref="Count"/> square crops of a few large images — natural photos, for a prior
/// on out-of-distribution signals — each a randomly placed (and optionally randomly scaled) square resized to
/// <see cref="Height"/> × <see cref="Width"/>. Crop k is a fixed function of the seed and k.
/// </summary>
/// <remarks>
/// <para><b>Crop k</b> (<see cref="Window"/>): Philox4x32-10 block k under the seed gives four 32-bit words
/// r0..r3. Source image i = ⌊r0 · n / 2³²⌋ (every image equally likely, whatever its size, so a few large photos
/// do not crowd out the rest); scale s = s_min · (s_max / s_min)^u with u = (⌊r1 / 2⁸⌋ + ½) / 2²⁴ (log-uniform,
/// so zooming in and out are equally likely); side L = round(S · s), at most the source's smaller side; left
/// column ⌊r2 · (W − L + 1) / 2³²⌋ and top row ⌊r3 · (H − L + 1) / 2³²⌋. Nothing depends on earlier calls, the
/// thread or the machine: the same crop every time, and the dataset can be read from several threads at once.</para>
/// <para><b>Resize</b> of the L × L square to S × S: a separable triangle (bilinear) filter whose support widens
/// by L / S when shrinking — PIL's antialiased bilinear resize — so a square taken at scale 4 is averaged, not
/// aliased. L = S is a plain copy. Results are clamped to [0, 1] against float rounding.</para>
/// <para><b>Sources</b> are kept as 8-bit planes, round(255 v): exact for 8-bit image files, and a quarter of
/// the memory of float32 (the 56 fetched photos, 20 megapixels, take 61 MB in RGB). A 16-bit source loses its
/// low bits. A source smaller than S in either dimension gives squares of its smaller side, enlarged.</para>
/// </remarks>
public sealed class RandomCropDataset : IImageDataset
{
    private readonly Source[] _sources;
    private readonly ulong _seed;
    private readonly double _minScale;
    private readonly double _maxScale;

    /// <summary>Creates the crops of images held in memory.</summary>
    /// <param name="sources">The images to crop, all with the same channel count (1 or 3); values in [0, 1].</param>
    /// <param name="count">The number of crops the dataset serves (≥ 1).</param>
    /// <param name="cropSize">S: the side of every served crop.</param>
    /// <param name="seed">Selects the crops; the same seed gives the same crops.</param>
    /// <param name="minScale">Smallest scale s: a crop covers round(S·s) source pixels per side (&gt; 0).</param>
    /// <param name="maxScale">Largest scale (≥ <paramref name="minScale"/>); 1 and 1 crop at the source's own resolution.</param>
    /// <param name="label">The name that starts <see cref="Description"/>.</param>
    /// <exception cref="ArgumentException">When there is no source, the sources differ in channels, or a number is out of range.</exception>
    public RandomCropDataset(IReadOnlyList<PlanarImage> sources, int count, int cropSize, ulong seed,
        float minScale = 1f, float maxScale = 1f, string label = "random crops")
        : this(sources, count, cropSize, seed, minScale, maxScale, label, [])
    {
    }

    private RandomCropDataset(IReadOnlyList<PlanarImage> sources, int count, int cropSize, ulong seed,
        float minScale, float maxScale, string label, IReadOnlyList<SkippedImageFile> skipped)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(label);
        if (sources.Count == 0)
        {
            throw new ArgumentException("Random crops need at least one source image.", nameof(sources));
        }

        int channels = sources[0].Channels;
        if (sources.Any(s => s.Channels != channels))
        {
            throw new ArgumentException("All source images must have the same number of channels.", nameof(sources));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(cropSize, 1);
        if (!(minScale > 0f) || !float.IsFinite(maxScale) || maxScale < minScale)
        {
            throw new ArgumentOutOfRangeException(nameof(maxScale),
                $"The scale range must satisfy 0 < minScale ≤ maxScale < ∞; got [{minScale}, {maxScale}].");
        }

        _sources = [.. sources.Select(Quantised)];
        _seed = seed;
        _minScale = minScale;
        _maxScale = maxScale;
        Count = count;
        Channels = channels;
        Height = cropSize;
        Width = cropSize;
        Skipped = skipped;
        string scale = minScale == maxScale
            ? string.Create(CultureInfo.InvariantCulture, $"scale {minScale}")
            : string.Create(CultureInfo.InvariantCulture, $"scale {minScale}-{maxScale}");
        Description = $"{label} ({count} random {cropSize}x{cropSize} {(channels == 3 ? "RGB" : "grey")} crops of {sources.Count} images, {scale}, seed {seed})";
    }

    /// <inheritdoc />
    public int Count { get; }

    /// <inheritdoc />
    public int Channels { get; }

    /// <inheritdoc />
    public int Height { get; }

    /// <inheritdoc />
    public int Width { get; }

    /// <inheritdoc />
    public string Description { get; }

    /// <summary>The number of source images.</summary>
    public int SourceCount => _sources.Length;

    /// <summary>Image files found but left out by <see cref="FromFolder"/>, with the reason; empty otherwise.</summary>
    public IReadOnlyList<SkippedImageFile> Skipped { get; }

    /// <summary>
    /// Creates the crops of every image under <paramref name="folder"/> (found as by
    /// <see cref="ImageFolderDataset.FindImageFiles"/>, loaded at full resolution; unreadable files are left out
    /// and listed in <see cref="Skipped"/>).
    /// </summary>
    /// <param name="folder">The folder of source images, searched recursively.</param>
    /// <param name="channels">1 (luminance) or 3 (RGB).</param>
    /// <param name="count">The number of crops the dataset serves.</param>
    /// <param name="cropSize">S: the side of every served crop.</param>
    /// <param name="seed">Selects the crops.</param>
    /// <param name="minScale">Smallest scale (see the constructor).</param>
    /// <param name="maxScale">Largest scale.</param>
    /// <param name="label">The name that starts <see cref="Description"/>; "crops of &lt;folder&gt;" when null.</param>
    /// <returns>The dataset.</returns>
    /// <exception cref="DirectoryNotFoundException">When the folder does not exist.</exception>
    /// <exception cref="InvalidDataException">When the folder holds no image file, or none that loads.</exception>
    public static RandomCropDataset FromFolder(string folder, int channels, int count, int cropSize, ulong seed,
        float minScale = 1f, float maxScale = 1f, string? label = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (channels is not (1 or 3))
        {
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "Load 1 (luminance) or 3 (RGB) channels.");
        }

        string root = Path.GetFullPath(folder);
        var (loaded, skipped) = ImageFolderDataset.LoadEach(root, ImageFolderDataset.FindImageFiles(root), channels, ImageLoadOptions.Default);
        return new RandomCropDataset([.. loaded.Select(l => l.Image)], count, cropSize, seed, minScale, maxScale, label ?? $"crops of {root}", skipped);
    }

    /// <summary>Where crop <paramref name="index"/> comes from (see the remarks).</summary>
    /// <param name="index">0 ≤ index &lt; Count.</param>
    /// <returns>The source image and the square taken from it.</returns>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="index"/> is outside [0, Count).</exception>
    public CropWindow Window(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        Philox.Block(_seed, (ulong)index, out uint r0, out uint r1, out uint r2, out uint r3);
        int sourceIndex = (int)(((ulong)r0 * (ulong)_sources.Length) >> 32);
        Source source = _sources[sourceIndex];
        double u = ((r1 >> 8) + 0.5) / 16777216.0;
        double scale = _minScale * Math.Pow(_maxScale / _minScale, u);
        int side = (int)Math.Clamp(Math.Round(Height * scale), 1, Math.Min(source.Height, source.Width));
        int x = (int)(((ulong)r2 * (ulong)(source.Width - side + 1)) >> 32);
        int y = (int)(((ulong)r3 * (ulong)(source.Height - side + 1)) >> 32);
        return new CropWindow(sourceIndex, x, y, side);
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="index"/> is outside [0, Count).</exception>
    /// <exception cref="ArgumentException">When <paramref name="destination"/> does not hold exactly C·H·W values.</exception>
    public void CopyTo(int index, Span<float> destination)
    {
        CropWindow window = Window(index);
        int size = Height;
        int plane = size * size;
        if (destination.Length != Channels * plane)
        {
            throw new ArgumentException(
                $"The destination holds {destination.Length} values, but an image of {Description} has {Channels * plane} ([{Channels}, {Height}, {Width}]).",
                nameof(destination));
        }

        Source source = _sources[window.Source];
        int sourcePlane = source.Height * source.Width;
        if (window.Side == size)
        {
            for (int c = 0; c < Channels; c++)
            {
                for (int y = 0; y < size; y++)
                {
                    ReadOnlySpan<byte> row = source.Pixels.AsSpan((c * sourcePlane) + ((window.Y + y) * source.Width) + window.X, size);
                    Span<float> target = destination.Slice((c * plane) + (y * size), size);
                    for (int x = 0; x < size; x++)
                    {
                        target[x] = ByteLevels.Values[row[x]];
                    }
                }
            }

            return;
        }

        var taps = TriangleTaps.For(window.Side, size);
        var rows = new float[window.Side * size];
        for (int c = 0; c < Channels; c++)
        {
            // Horizontal pass over the L rows of the square, then vertical: out = W_y · square · W_xᵀ.
            for (int r = 0; r < window.Side; r++)
            {
                ReadOnlySpan<byte> row = source.Pixels.AsSpan((c * sourcePlane) + ((window.Y + r) * source.Width) + window.X, window.Side);
                for (int j = 0; j < size; j++)
                {
                    ReadOnlySpan<float> weights = taps.Weights(j);
                    int start = taps.Start[j];
                    float sum = 0f;
                    for (int k = 0; k < weights.Length; k++)
                    {
                        sum += weights[k] * ByteLevels.Values[row[start + k]];
                    }

                    rows[(r * size) + j] = sum;
                }
            }

            Span<float> target = destination.Slice(c * plane, plane);
            for (int i = 0; i < size; i++)
            {
                ReadOnlySpan<float> weights = taps.Weights(i);
                int start = taps.Start[i];
                Span<float> output = target.Slice(i * size, size);
                output.Clear();
                for (int k = 0; k < weights.Length; k++)
                {
                    ReadOnlySpan<float> input = rows.AsSpan((start + k) * size, size);
                    float weight = weights[k];
                    for (int j = 0; j < size; j++)
                    {
                        output[j] += weight * input[j];
                    }
                }

                for (int j = 0; j < size; j++)
                {
                    output[j] = Math.Clamp(output[j], 0f, 1f);
                }
            }
        }
    }

    private static Source Quantised(PlanarImage image)
    {
        var pixels = new byte[image.Pixels.Length];
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)MathF.Round(Math.Clamp(image.Pixels[i], 0f, 1f) * 255f);
        }

        return new Source(pixels, image.Height, image.Width);
    }

    private sealed record Source(byte[] Pixels, int Height, int Width);

    /// <summary>
    /// The 1-D resampling weights from <c>input</c> to <c>output</c> samples, as PIL computes them for its
    /// bilinear filter: output sample j is centred at (j + ½)·L/S in input coordinates, and input sample i gets
    /// the weight tri((i + ½ − centre) / f) with tri(t) = max(0, 1 − |t|) and f = max(L/S, 1), normalised to sum 1.
    /// </summary>
    private sealed class TriangleTaps
    {
        private readonly float[] _weights;
        private readonly int[] _count;
        private readonly int _stride;

        private TriangleTaps(int[] start, int[] count, float[] weights, int stride)
        {
            Start = start;
            _count = count;
            _weights = weights;
            _stride = stride;
        }

        public int[] Start { get; }

        public static TriangleTaps For(int input, int output)
        {
            double ratio = (double)input / output;
            double filterScale = Math.Max(ratio, 1.0);
            double support = filterScale;
            int stride = (int)Math.Ceiling(support) * 2 + 1;
            var start = new int[output];
            var count = new int[output];
            var weights = new float[output * stride];
            var raw = new double[stride];
            for (int j = 0; j < output; j++)
            {
                double centre = (j + 0.5) * ratio;
                int lo = Math.Max((int)(centre - support + 0.5), 0);
                int hi = Math.Min((int)(centre + support + 0.5), input);
                double total = 0;
                for (int i = lo; i < hi; i++)
                {
                    raw[i - lo] = Math.Max(0.0, 1.0 - Math.Abs((i + 0.5 - centre) / filterScale));
                    total += raw[i - lo];
                }

                start[j] = lo;
                count[j] = hi - lo;
                for (int i = 0; i < hi - lo; i++)
                {
                    weights[(j * stride) + i] = (float)(raw[i] / total);
                }
            }

            return new TriangleTaps(start, count, weights, stride);
        }

        public ReadOnlySpan<float> Weights(int j) => _weights.AsSpan(j * _stride, _count[j]);
    }
}
