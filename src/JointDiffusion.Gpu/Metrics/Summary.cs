using System.Globalization;

namespace JointDiffusion.Gpu.Metrics;

/// <summary>
/// Mean ± population standard deviation of a metric over a set of images, as reported in results tables
/// (e.g. "27.31 ± 0.42").
/// </summary>
/// <param name="Mean">The arithmetic mean.</param>
/// <param name="StandardDeviation">The population standard deviation sqrt(mean((x − mean)²)) (divisor n, not n − 1).</param>
/// <param name="Count">The number of values.</param>
public readonly record struct Summary(double Mean, double StandardDeviation, int Count)
{
    /// <summary>
    /// Summarises <paramref name="values"/> in two passes (mean, then squared deviations) in double. A NaN value
    /// makes both NaN; an infinite value (the PSNR of a perfect reconstruction) makes the mean infinite and the
    /// standard deviation NaN.
    /// </summary>
    /// <param name="values">At least one value.</param>
    /// <returns>The summary.</returns>
    /// <exception cref="ArgumentException">When <paramref name="values"/> is empty.</exception>
    public static Summary Of(IEnumerable<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        double[] x = [.. values];
        if (x.Length == 0)
        {
            throw new ArgumentException("A summary needs at least one value.", nameof(values));
        }

        double mean = x.Sum() / x.Length;
        double squares = 0;
        foreach (double v in x)
        {
            squares += (v - mean) * (v - mean);
        }

        return new Summary(mean, Math.Sqrt(squares / x.Length), x.Length);
    }

    /// <summary>"mean ± std" with both numbers in <paramref name="numberFormat"/>, invariant culture.</summary>
    /// <param name="numberFormat">A .NET numeric format, e.g. <c>"F2"</c> for PSNR in dB or <c>"F3"</c> for SSIM.</param>
    /// <returns>For example <c>27.31 ± 0.42</c>.</returns>
    public string ToString(string numberFormat) =>
        $"{Mean.ToString(numberFormat, CultureInfo.InvariantCulture)} ± {StandardDeviation.ToString(numberFormat, CultureInfo.InvariantCulture)}";

    /// <summary>"mean ± std" with six significant digits.</summary>
    /// <returns>For example <c>27.3142 ± 0.421337</c>.</returns>
    public override string ToString() => ToString("G6");
}
