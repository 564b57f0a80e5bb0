namespace JointDiffusion.Gpu.Data;

/// <summary>
/// The parameter ranges of <see cref="RainNoiseGenerator"/>: every range is sampled uniformly, per image
/// (angle, density) or per streak (position, jitter, length, width, intensity). Sizes are in units of the
/// image height H, so an image of any size shows the same rain (a 64 × 64 image is a 32 × 32 one drawn at
/// twice the resolution). The defaults give light to heavy rain: on 32 × 32, 8–24 streaks, 6.4–16 pixels long,
/// 0.64–1.28 pixels wide, leaning up to 20° from vertical.
/// </summary>
public sealed record NoiseRainModel
{
    /// <summary>The image's rain direction is uniform in [−max, max] degrees from vertical. Default 20; in [0, 80].</summary>
    public double MaxAngleDegrees { get; init; } = 20;

    /// <summary>Each streak deviates from the image's direction by a uniform [−jitter, jitter] degrees. Default 3; in [0, 45].</summary>
    public double AngleJitterDegrees { get; init; } = 3;

    /// <summary>Lowest density: streak midpoints per H × H square (per image for a square image). Default 8.</summary>
    public double MinDensity { get; init; } = 8;

    /// <summary>Highest density: streak midpoints per H × H square. Default 24; at most 10000.</summary>
    public double MaxDensity { get; init; } = 24;

    /// <summary>Shortest streak, in units of H. Default 0.2.</summary>
    public double MinLength { get; init; } = 0.2;

    /// <summary>Longest streak, in units of H. Default 0.5.</summary>
    public double MaxLength { get; init; } = 0.5;

    /// <summary>Thinnest streak: full width at half maximum of the cross profile, in units of H. Default 0.02 (0.64 px on 32 × 32).</summary>
    public double MinWidth { get; init; } = 0.02;

    /// <summary>Thickest streak, in units of H. Default 0.04 (1.28 px on 32 × 32).</summary>
    public double MaxWidth { get; init; } = 0.04;

    /// <summary>Faintest streak's peak brightness. Default 0.3.</summary>
    public double MinIntensity { get; init; } = 0.3;

    /// <summary>Brightest streak's peak brightness, ≤ 1. Default 0.9.</summary>
    public double MaxIntensity { get; init; } = 0.9;

    /// <summary>
    /// Standard deviation of the blur in units of H: a motion blur along the streak (soft ends) that also
    /// widens the cross profile in quadrature. Default 0.0125 (0.4 px on 32 × 32); 0 gives hard ends.
    /// </summary>
    public double Blur { get; init; } = 0.0125;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first parameter out of range.</summary>
    public void Validate()
    {
        CheckIn(MaxAngleDegrees, 0, 80, nameof(MaxAngleDegrees));
        CheckIn(AngleJitterDegrees, 0, 45, nameof(AngleJitterDegrees));
        CheckRange(MinDensity, MaxDensity, 0, 10000, nameof(MinDensity), nameof(MaxDensity));
        CheckRange(MinLength, MaxLength, 0, 4, nameof(MinLength), nameof(MaxLength));
        CheckRange(MinWidth, MaxWidth, 0, 1, nameof(MinWidth), nameof(MaxWidth));
        CheckRange(MinIntensity, MaxIntensity, 0, 1, nameof(MinIntensity), nameof(MaxIntensity));
        CheckIn(Blur, 0, 1, nameof(Blur));
        if (!(MinLength > 0) || !(MinWidth > 0) || !(MinIntensity > 0))
        {
            throw new ArgumentException("Rain model: lengths, widths and intensities must be > 0.");
        }
    }

    private static void CheckIn(double value, double low, double high, string name)
    {
        if (!(value >= low && value <= high))
        {
            throw new ArgumentException($"Rain model: {name} = {value} is outside [{low}, {high}].");
        }
    }

    private static void CheckRange(double min, double max, double low, double high, string minName, string maxName)
    {
        CheckIn(min, low, high, minName);
        CheckIn(max, low, high, maxName);
        if (min > max)
        {
            throw new ArgumentException($"Rain model: {minName} = {min} exceeds {maxName} = {max}.");
        }
    }
}
