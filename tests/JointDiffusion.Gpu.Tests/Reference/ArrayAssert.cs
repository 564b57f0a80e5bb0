using System.Globalization;
using Xunit.Sdk;

namespace JointDiffusion.Gpu.Tests.Reference;

/// <summary>Elementwise comparison with a per-element tolerance; a failure names the worst element.</summary>
public static class ArrayAssert
{
    /// <summary>Unit roundoff of float32, 2⁻²⁴: the relative error of one correctly rounded float operation.</summary>
    public const double FloatEps = 1.0 / (1 << 24);

    /// <summary>Asserts |actual_i − expected_i| ≤ tolerance_i for every i (NaN never passes).</summary>
    public static void Close(double[] expected, double[] actual, double[] tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        int worst = -1;
        double worstRatio = 0;
        int failures = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            if (!(err <= tolerance[i]))
            {
                failures++;
            }

            double ratio = double.IsNaN(err) ? double.PositiveInfinity : err / Math.Max(tolerance[i], double.Epsilon);
            if (worst < 0 || ratio > worstRatio)
            {
                (worst, worstRatio) = (i, ratio);
            }
        }

        if (failures > 0)
        {
            throw new XunitException(string.Create(CultureInfo.InvariantCulture,
                $"{what}: {failures} of {expected.Length} elements out of tolerance; worst at [{worst}]: expected {expected[worst]:R}, " +
                $"got {actual[worst]:R}, error {Math.Abs(actual[worst] - expected[worst]):G3} vs tolerance {tolerance[worst]:G3}."));
        }
    }

    /// <summary>Asserts |actual_i − expected_i| ≤ tolerance for every i.</summary>
    public static void Close(double[] expected, double[] actual, double tolerance, string what) =>
        Close(expected, actual, Enumerable.Repeat(tolerance, expected.Length).ToArray(), what);

    /// <summary>
    /// The tolerance for a float32 result that sums K terms whose absolute values sum to <paramref name="magnitude"/>_i:
    /// 2·√K·u·magnitude_i. Rounding errors of a K-term float sum add like a random walk: with terms of random sign
    /// the error is ≈ 0.5·u·Σ|terms| (≈ √K·u relative to a typical result of size √K·|term|), and with terms of one
    /// sign ≈ √K·u·Σ|terms|/3; 2·√K·u·Σ|terms| is ≥ 6 standard deviations above both, while still far below the
    /// ≈ Σ|terms|/K error of a single missing or misplaced term. The floor of u·magnitude covers K = 1.
    /// </summary>
    public static double[] SumTolerance(double[] magnitude, int terms) =>
        magnitude.Select(m => (2 * Math.Sqrt(terms) + 1) * FloatEps * m).ToArray();
}
