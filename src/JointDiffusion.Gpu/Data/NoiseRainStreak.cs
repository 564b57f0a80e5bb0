namespace JointDiffusion.Gpu.Data;

/// <summary>
/// One streak of a <see cref="RainNoiseGenerator"/> image, in pixel coordinates: pixel (x, y) covers
/// [x, x + 1) × [y, y + 1), y pointing down.
/// </summary>
/// <param name="CentreX">Horizontal position of the streak's midpoint.</param>
/// <param name="CentreY">Vertical position of the streak's midpoint.</param>
/// <param name="AngleDegrees">Tilt from vertical: the streak runs along (sin θ, cos θ), so a positive angle leans its lower end to the right.</param>
/// <param name="Length">Length of the streak's core in pixels (before the end blur).</param>
/// <param name="Width">Full width at half maximum of the streak's cross profile in pixels (before the blur).</param>
/// <param name="Intensity">Peak brightness in (0, 1].</param>
public readonly record struct NoiseRainStreak(double CentreX, double CentreY, double AngleDegrees, double Length, double Width, double Intensity);
