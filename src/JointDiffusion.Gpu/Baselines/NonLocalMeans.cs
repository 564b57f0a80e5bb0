using System.Numerics;
using System.Runtime.InteropServices;

namespace JointDiffusion.Gpu.Baselines;

/// <summary>
/// Non-local means (Buades, Coll &amp; Morel 2005), the classical denoising baseline of <c>jointdiff eval</c>: each
/// pixel becomes the weighted mean of the pixels in its search window, weighted by how alike their patches are,
/// w = exp(−max(d² − 2σ², 0) / h²) with d² the mean squared difference of the two (2r + 1)² patches (plain,
/// unweighted patch distance) — the σ-subtracted weight of scikit-image's <c>denoise_nl_means(fast_mode=True)</c>.
/// Identical clean patches under white noise of std σ differ by d² ≈ 2σ² on average, hence the subtraction.
/// The centre pixel takes part with d² = 0 and weight 1.
/// <para>Defaults: 5×5 patches, 11×11 search, σ = <see cref="HaarWavelet.EstimateNoiseStd"/> of the image (Donoho's
/// MAD of the finest diagonal Haar band, pooled over channels) and h = 0.8 σ. Channels are filtered one by one,
/// with the image's single σ. Borders are reflected (…c b | a b c… as numpy's 'reflect').</para>
/// <para>Known limits: it assumes white noise of one std everywhere; the structured (spatially varying,
/// correlated) noise of this project breaks that, so smooth noise patterns that repeat are kept as if they were
/// texture, and a global σ over-smooths the quiet regions and under-smooths the loud ones.</para>
/// <para>The distance of every pixel to its neighbour at one offset is computed for the whole plane at once,
/// as a box sum of squared differences (Darbon et al. 2008), so the cost is O(H · W · (2s + 1)²) whatever the
/// patch size.</para>
/// </summary>
public static class NonLocalMeans
{
    /// <summary>Denoises one planar <c>[C, H, W]</c> image.</summary>
    /// <param name="image">C · H · W values.</param>
    /// <param name="channels">C ≥ 1.</param>
    /// <param name="height">H ≥ 2.</param>
    /// <param name="width">W ≥ 2.</param>
    /// <param name="options">Settings; null for the defaults of <see cref="NonLocalMeansOptions"/>.</param>
    /// <returns>A new denoised image of the same shape.</returns>
    /// <exception cref="ArgumentException">When a size or setting is out of range or the length does not match.</exception>
    public static float[] Denoise(ReadOnlySpan<float> image, int channels, int height, int width, NonLocalMeansOptions? options = null)
    {
        options ??= new NonLocalMeansOptions();
        Validate(options);
        CheckImage(image.Length, 1, channels, height, width);
        var output = new float[image.Length];
        DenoiseInto(image, output, channels, height, width, options);
        return output;
    }

    /// <summary>Denoises <paramref name="count"/> images, in parallel, each with its own σ̂ unless σ is given.</summary>
    /// <param name="images">Row-major [count, C, H, W].</param>
    /// <param name="count">The number of images, ≥ 1.</param>
    /// <param name="channels">C ≥ 1.</param>
    /// <param name="height">H ≥ 2.</param>
    /// <param name="width">W ≥ 2.</param>
    /// <param name="options">Settings; null for the defaults.</param>
    /// <returns>The denoised images, [count, C, H, W].</returns>
    public static float[] DenoiseBatch(float[] images, int count, int channels, int height, int width, NonLocalMeansOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        options ??= new NonLocalMeansOptions();
        Validate(options);
        CheckImage(images.Length, count, channels, height, width);
        int length = channels * height * width;
        var output = new float[images.Length];
        Parallel.For(0, count, k => DenoiseInto(images.AsSpan(k * length, length), output.AsSpan(k * length, length), channels, height, width, options));
        return output;
    }

    private static void Validate(NonLocalMeansOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(options.PatchRadius, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(options.SearchRadius, nameof(options));
        if (options.Sigma is { } sigma && !(sigma >= 0 && double.IsFinite(sigma)))
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"Sigma must be finite and ≥ 0; got {sigma}.");
        }

        if (options.H is { } h && !(h >= 0 && double.IsFinite(h)))
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"H must be finite and ≥ 0; got {h}.");
        }

        if (!(options.HRelative >= 0 && double.IsFinite(options.HRelative)))
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"HRelative must be finite and ≥ 0; got {options.HRelative}.");
        }
    }

    private static void CheckImage(long length, int count, int channels, int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 2);
        long expected = (long)count * channels * height * width;
        if (length != expected)
        {
            throw new ArgumentException($"{count} image(s) of [{channels}, {height}, {width}] need {expected} values; got {length}.");
        }
    }

    private static void DenoiseInto(ReadOnlySpan<float> image, Span<float> output, int channels, int height, int width, NonLocalMeansOptions options)
    {
        double sigma = options.Sigma ?? HaarWavelet.EstimateNoiseStd(image, channels, height, width);
        double h = options.H ?? (options.HRelative * sigma);

        // h = 0 is the limit h → 0: weight 1 where d² ≤ 2σ², else 0.
        float inverseH2 = h > 0 ? (float)(1 / (h * h)) : float.PositiveInfinity;
        var plane = new PlaneFilter(height, width, options.PatchRadius, options.SearchRadius, (float)(2 * sigma * sigma), inverseH2);
        int planeLength = height * width;
        for (int c = 0; c < channels; c++)
        {
            plane.Apply(image.Slice(c * planeLength, planeLength), output.Slice(c * planeLength, planeLength));
        }
    }

    /// <summary>Work space and the per-offset loop for one H × W plane.</summary>
    private sealed class PlaneFilter
    {
        private readonly int _height, _width, _patchRadius, _searchRadius, _margin, _paddedWidth, _diffHeight, _diffWidth;
        private readonly float _varianceOffset, _inverseH2, _inverseArea;
        private readonly float[] _padded, _squaredDifference, _rowSums, _distance;
        private readonly double[] _numerator, _denominator;

        public PlaneFilter(int height, int width, int patchRadius, int searchRadius, float varianceOffset, float inverseH2)
        {
            _height = height;
            _width = width;
            _patchRadius = patchRadius;
            _searchRadius = searchRadius;
            _margin = patchRadius + searchRadius;
            _paddedWidth = width + (2 * _margin);
            _diffHeight = height + (2 * patchRadius);
            _diffWidth = width + (2 * patchRadius);
            _varianceOffset = varianceOffset;
            _inverseH2 = inverseH2;
            int patch = (2 * patchRadius) + 1;
            _inverseArea = 1f / (patch * patch);
            _padded = new float[(height + (2 * _margin)) * _paddedWidth];
            _squaredDifference = new float[_diffHeight * _diffWidth];
            _rowSums = new float[_diffHeight * width];
            _distance = new float[width];
            _numerator = new double[height * width];
            _denominator = new double[height * width];
        }

        public void Apply(ReadOnlySpan<float> plane, Span<float> output)
        {
            int paddedHeight = _height + (2 * _margin);
            for (int py = 0; py < paddedHeight; py++)
            {
                int row = Reflect(py - _margin, _height) * _width;
                for (int px = 0; px < _paddedWidth; px++)
                {
                    _padded[(py * _paddedWidth) + px] = plane[row + Reflect(px - _margin, _width)];
                }
            }

            Array.Clear(_numerator);
            Array.Clear(_denominator);
            for (int dy = -_searchRadius; dy <= _searchRadius; dy++)
            {
                for (int dx = -_searchRadius; dx <= _searchRadius; dx++)
                {
                    AccumulateOffset(dy, dx);
                }
            }

            for (int p = 0; p < output.Length; p++)
            {
                output[p] = (float)(_numerator[p] / _denominator[p]);
            }
        }

        /// <summary>Adds the weighted neighbours at offset (dy, dx) for every pixel of the plane.</summary>
        private void AccumulateOffset(int dy, int dx)
        {
            ReadOnlySpan<float> padded = _padded;
            int patch = (2 * _patchRadius) + 1;

            // (u(q) − u(q + o))² for every q of every patch: the padded block offset by the search radius.
            for (int a = 0; a < _diffHeight; a++)
            {
                int here = ((a + _searchRadius) * _paddedWidth) + _searchRadius;
                int there = here + (dy * _paddedWidth) + dx;
                SquaredDifference(padded.Slice(here, _diffWidth), padded.Slice(there, _diffWidth), _squaredDifference.AsSpan(a * _diffWidth, _diffWidth));
            }

            // Box sums, along rows then down columns; each a sum of `patch` shifted rows (no running sums, so no drift).
            for (int a = 0; a < _diffHeight; a++)
            {
                Span<float> sums = _rowSums.AsSpan(a * _width, _width);
                _squaredDifference.AsSpan(a * _diffWidth, _width).CopyTo(sums);
                for (int t = 1; t < patch; t++)
                {
                    Add(sums, _squaredDifference.AsSpan((a * _diffWidth) + t, _width));
                }
            }

            for (int y = 0; y < _height; y++)
            {
                Span<float> distance = _distance;
                _rowSums.AsSpan(y * _width, _width).CopyTo(distance);
                for (int t = 1; t < patch; t++)
                {
                    Add(distance, _rowSums.AsSpan((y + t) * _width, _width));
                }

                int neighbourRow = ((y + _margin + dy) * _paddedWidth) + _margin + dx;
                Weigh(distance);
                Accumulate(distance, padded.Slice(neighbourRow, _width), _numerator.AsSpan(y * _width, _width), _denominator.AsSpan(y * _width, _width));
            }
        }

        /// <summary>Turns summed squared patch differences into weights exp(−max(d² − 2σ², 0) / h²), in place.</summary>
        private void Weigh(Span<float> distance)
        {
            Span<Vector<float>> vd = MemoryMarshal.Cast<float, Vector<float>>(distance);
            var area = new Vector<float>(_inverseArea);
            var offset = new Vector<float>(_varianceOffset);
            bool limit = float.IsPositiveInfinity(_inverseH2);
            var scale = new Vector<float>(-_inverseH2);
            for (int v = 0; v < vd.Length; v++)
            {
                Vector<float> excess = Vector.Max((vd[v] * area) - offset, Vector<float>.Zero);
                vd[v] = limit
                    ? Vector.ConditionalSelect(Vector.Equals(excess, Vector<float>.Zero), Vector<float>.One, Vector<float>.Zero)
                    : Vector.Exp(excess * scale);
            }

            for (int x = vd.Length * Vector<float>.Count; x < distance.Length; x++)
            {
                float excess = MathF.Max((distance[x] * _inverseArea) - _varianceOffset, 0f);
                distance[x] = excess == 0 ? 1f : MathF.Exp(-excess * _inverseH2);
            }
        }

        /// <summary>numerator += weight · neighbour and denominator += weight, accumulated in double.</summary>
        private static void Accumulate(ReadOnlySpan<float> weights, ReadOnlySpan<float> neighbours, Span<double> numerator, Span<double> denominator)
        {
            ReadOnlySpan<Vector<float>> vw = MemoryMarshal.Cast<float, Vector<float>>(weights);
            ReadOnlySpan<Vector<float>> vn = MemoryMarshal.Cast<float, Vector<float>>(neighbours[..weights.Length]);
            Span<Vector<double>> num = MemoryMarshal.Cast<double, Vector<double>>(numerator);
            Span<Vector<double>> den = MemoryMarshal.Cast<double, Vector<double>>(denominator);
            for (int v = 0; v < vw.Length; v++)
            {
                Vector.Widen(vw[v] * vn[v], out Vector<double> productLow, out Vector<double> productHigh);
                Vector.Widen(vw[v], out Vector<double> weightLow, out Vector<double> weightHigh);
                num[2 * v] += productLow;
                num[(2 * v) + 1] += productHigh;
                den[2 * v] += weightLow;
                den[(2 * v) + 1] += weightHigh;
            }

            for (int x = vw.Length * Vector<float>.Count; x < weights.Length; x++)
            {
                numerator[x] += weights[x] * neighbours[x];
                denominator[x] += weights[x];
            }
        }

        private static void SquaredDifference(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> result)
        {
            ReadOnlySpan<Vector<float>> va = MemoryMarshal.Cast<float, Vector<float>>(a);
            ReadOnlySpan<Vector<float>> vb = MemoryMarshal.Cast<float, Vector<float>>(b);
            Span<Vector<float>> vr = MemoryMarshal.Cast<float, Vector<float>>(result);
            for (int v = 0; v < vr.Length; v++)
            {
                Vector<float> e = va[v] - vb[v];
                vr[v] = e * e;
            }

            for (int j = vr.Length * Vector<float>.Count; j < result.Length; j++)
            {
                float e = a[j] - b[j];
                result[j] = e * e;
            }
        }

        private static void Add(Span<float> target, ReadOnlySpan<float> values)
        {
            Span<Vector<float>> vt = MemoryMarshal.Cast<float, Vector<float>>(target);
            ReadOnlySpan<Vector<float>> vv = MemoryMarshal.Cast<float, Vector<float>>(values);
            for (int v = 0; v < vt.Length; v++)
            {
                vt[v] += vv[v];
            }

            for (int j = vt.Length * Vector<float>.Count; j < target.Length; j++)
            {
                target[j] += values[j];
            }
        }

        /// <summary>numpy's 'reflect' index (the edge sample not repeated), for any offset.</summary>
        private static int Reflect(int index, int length)
        {
            int period = 2 * (length - 1);
            int folded = ((index % period) + period) % period;
            return folded < length ? folded : period - folded;
        }
    }
}
