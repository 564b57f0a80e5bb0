using MathNet.Numerics;

namespace JointDiffusion.Gpu.Data;

/// <summary>
/// Procedural rain streaks, the stand-in for the rain simulator behind the paper's deraining experiment
/// (section 6.4). Every image is drawn from (seed, index) by this model, with ranges from a
/// <see cref="NoiseRainModel"/>:
/// <list type="number">
/// <item>a rain direction θ, uniform in [−MaxAngle, MaxAngle] degrees from vertical, shared by the image;</item>
/// <item>a density ρ, uniform in [MinDensity, MaxDensity] streak midpoints per H × H square, giving
/// N = ⌊ρ·W / H + u⌋ streaks (u uniform in [0, 1), so E[N] = ρ·W / H exactly);</item>
/// <item>per streak: a midpoint uniform over the image, a tilt θ + uniform [−Jitter, Jitter], a length L
/// uniform in [MinLength, MaxLength]·H, a width w (FWHM) uniform in [MinWidth, MaxWidth]·H and a peak
/// intensity a uniform in [MinIntensity, MaxIntensity];</item>
/// <item>rendering at pixel centres: with s the distance along the streak from its midpoint and t across it,
/// a streak gives v = a · exp(−t² / 2σ_t²) · ½[erf((L/2 − s)/(√2 σ_b)) + erf((L/2 + s)/(√2 σ_b))], the
/// segment of length L motion-blurred along its direction by a Gaussian of σ_b = Blur·H and with a Gaussian
/// cross profile σ_t = √((w / 2.355)² + σ_b²);</item>
/// <item>streaks combine like overlapping translucent layers, n = 1 − Π(1 − v), so n stays in [0, 1] and a
/// single streak keeps its own brightness; RGB images repeat the grey streaks on every channel (white rain).</item>
/// </list>
/// </summary>
public sealed class RainNoiseGenerator : IImageDataset
{
    private const ulong LayoutStream = 0x4A1;
    private const int StreakDrawsStart = 4;
    private const int DrawsPerStreak = 8;
    private const double FwhmPerSigma = 2.3548200450309493; // 2·√(2 ln 2)

    private readonly ulong _seed;

    /// <summary>A rain stream of [channels, height, width] images.</summary>
    /// <param name="channels">1 or 3 (the same grey streaks on every channel).</param>
    /// <param name="height">Rows, ≥ 4.</param>
    /// <param name="width">Columns, ≥ 4.</param>
    /// <param name="seed">Seed of the layouts.</param>
    /// <param name="model">Parameter ranges; null for the defaults.</param>
    /// <param name="count">Number of images this dataset exposes (the stream itself is unbounded).</param>
    /// <exception cref="ArgumentException">When a size, the count or a model parameter is out of range.</exception>
    public RainNoiseGenerator(int channels, int height, int width, ulong seed, NoiseRainModel? model = null, int count = int.MaxValue)
    {
        if (channels is not (1 or 3))
        {
            throw new ArgumentException($"Rain noise has 1 (grey) or 3 (RGB) channels, not {channels}.", nameof(channels));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(height, 4);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 4);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if ((long)channels * height * width > Array.MaxLength)
        {
            throw new ArgumentException($"A [{channels}, {height}, {width}] rain image has more values than an array can hold.");
        }

        Model = model ?? new NoiseRainModel();
        Model.Validate();
        Channels = channels;
        Height = height;
        Width = width;
        Count = count;
        _seed = seed;
    }

    /// <summary>The parameter ranges.</summary>
    public NoiseRainModel Model { get; }

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
        $"procedural rain: {Model.MinDensity:G3}–{Model.MaxDensity:G3} streaks per H×H, ±{Model.MaxAngleDegrees:G3}° (±{Model.AngleJitterDegrees:G3}° per streak), " +
        $"length {Model.MinLength:G3}–{Model.MaxLength:G3}·H, width {Model.MinWidth:G3}–{Model.MaxWidth:G3}·H, blur {Model.Blur:G3}·H (seed {_seed})";

    /// <summary>The rain direction of image <paramref name="index"/> in degrees from vertical (before the per-streak jitter).</summary>
    public double AngleOf(int index)
    {
        CheckIndex(index);
        return new NoiseRandom(_seed, LayoutStream, index).Uniform(0, -Model.MaxAngleDegrees, Model.MaxAngleDegrees);
    }

    /// <summary>The streaks of image <paramref name="index"/>, as the model draws them.</summary>
    public IReadOnlyList<NoiseRainStreak> StreaksOf(int index)
    {
        CheckIndex(index);
        var random = new NoiseRandom(_seed, LayoutStream, index);
        double angle = random.Uniform(0, -Model.MaxAngleDegrees, Model.MaxAngleDegrees);
        double density = random.Uniform(1, Model.MinDensity, Model.MaxDensity);
        // Stochastic rounding keeps the expected count at exactly ρ·W / H.
        int count = (int)Math.Floor((density * Width / Height) + random.Uniform(2));
        var streaks = new NoiseRainStreak[count];
        for (int s = 0; s < count; s++)
        {
            int j = StreakDrawsStart + (s * DrawsPerStreak);
            streaks[s] = new NoiseRainStreak(
                CentreX: random.Uniform(j) * Width,
                CentreY: random.Uniform(j + 1) * Height,
                AngleDegrees: angle + random.Uniform(j + 2, -Model.AngleJitterDegrees, Model.AngleJitterDegrees),
                Length: random.Uniform(j + 3, Model.MinLength, Model.MaxLength) * Height,
                Width: random.Uniform(j + 4, Model.MinWidth, Model.MaxWidth) * Height,
                Intensity: random.Uniform(j + 5, Model.MinIntensity, Model.MaxIntensity));
        }

        return streaks;
    }

    /// <inheritdoc/>
    public void CopyTo(int index, Span<float> destination)
    {
        int plane = Height * Width;
        if (destination.Length != Channels * plane)
        {
            throw new ArgumentException($"Rain image {index} has {Channels * plane} values, but the destination holds {destination.Length}.", nameof(destination));
        }

        // The first plane holds the transmission Π(1 − v) while the streaks are drawn, then the rain 1 − Π(1 − v).
        Span<float> transmission = destination[..plane];
        transmission.Fill(1f);
        foreach (NoiseRainStreak streak in StreaksOf(index))
        {
            Draw(streak, transmission);
        }

        for (int p = 0; p < plane; p++)
        {
            transmission[p] = 1f - transmission[p];
        }

        for (int c = 1; c < Channels; c++)
        {
            transmission.CopyTo(destination.Slice(c * plane, plane));
        }
    }

    private void Draw(NoiseRainStreak streak, Span<float> transmission)
    {
        double theta = streak.AngleDegrees * Math.PI / 180.0;
        double alongX = Math.Sin(theta), alongY = Math.Cos(theta);
        double blur = Model.Blur * Height;
        double sigmaWidth = streak.Width / FwhmPerSigma;
        double sigmaAcross = Math.Sqrt((sigmaWidth * sigmaWidth) + (blur * blur));
        double halfLength = streak.Length / 2;
        // Beyond 3σ of either profile a streak adds less than 1.2 % of its peak: the drawn box stops there.
        double reachAlong = halfLength + (3 * blur), reachAcross = 3 * sigmaAcross;
        double reachX = (Math.Abs(alongX) * reachAlong) + (Math.Abs(alongY) * reachAcross);
        double reachY = (Math.Abs(alongY) * reachAlong) + (Math.Abs(alongX) * reachAcross);
        int x0 = Math.Max(0, (int)Math.Floor(streak.CentreX - reachX - 0.5));
        int x1 = Math.Min(Width - 1, (int)Math.Ceiling(streak.CentreX + reachX - 0.5));
        int y0 = Math.Max(0, (int)Math.Floor(streak.CentreY - reachY - 0.5));
        int y1 = Math.Min(Height - 1, (int)Math.Ceiling(streak.CentreY + reachY - 0.5));
        double blurScale = blur > 0 ? 1.0 / (Math.Sqrt(2.0) * blur) : 0;
        for (int y = y0; y <= y1; y++)
        {
            double dy = y + 0.5 - streak.CentreY;
            for (int x = x0; x <= x1; x++)
            {
                double dx = x + 0.5 - streak.CentreX;
                double s = (dx * alongX) + (dy * alongY);
                double t = (dx * alongY) - (dy * alongX);
                double along = blur > 0
                    ? 0.5 * (SpecialFunctions.Erf((halfLength - s) * blurScale) + SpecialFunctions.Erf((halfLength + s) * blurScale))
                    : (Math.Abs(s) <= halfLength ? 1.0 : 0.0);
                double v = streak.Intensity * Math.Exp(-(t * t) / (2 * sigmaAcross * sigmaAcross)) * along;
                transmission[(y * Width) + x] *= (float)(1.0 - v);
            }
        }
    }

    private void CheckIndex(int index)
    {
        if ((uint)index >= (uint)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"This rain stream exposes {Count} images.");
        }
    }
}
