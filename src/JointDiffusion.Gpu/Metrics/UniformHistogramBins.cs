namespace JointDiffusion.Gpu.Metrics;

/// <summary>
/// The bin of a value among <c>bins</c> equal bins over [lo, hi], computed as <c>numpy.histogram</c> does
/// for an integer bin count and a range (NumPy 1.24, <c>numpy/lib/histograms.py</c>), so that histograms and
/// everything derived from them match a NumPy evaluation exactly.
/// </summary>
internal readonly struct UniformHistogramBins
{
    private readonly double _lo;
    private readonly double _hi;
    private readonly double _scale;
    private readonly double _step;
    private readonly int _bins;

    /// <summary>Bins over [<paramref name="lo"/>, <paramref name="hi"/>], lo &lt; hi, both finite.</summary>
    /// <param name="lo">Left edge of bin 0.</param>
    /// <param name="hi">Right edge of the last bin, which includes it.</param>
    /// <param name="bins">Number of bins, ≥ 1.</param>
    public UniformHistogramBins(double lo, double hi, int bins)
    {
        _lo = lo;
        _hi = hi;
        _bins = bins;
        _scale = bins / (hi - lo);
        _step = (hi - lo) / bins;
    }

    /// <summary>The bin of <paramref name="value"/>, which must lie in [lo, hi].</summary>
    /// <param name="value">A value in range.</param>
    /// <returns>0 ≤ index &lt; bins.</returns>
    public int IndexOf(double value)
    {
        // NumPy: int((v - lo) * norm), values on the last edge moved into the last bin ...
        int k = Math.Min((int)((value - _lo) * _scale), _bins - 1);
        // ... then corrected by one where that product is off by an ulp at a bin edge, comparing against
        // the edges numpy.linspace makes.
        if (value < Edge(k))
        {
            k--;
        }
        else if (k != _bins - 1 && value >= Edge(k + 1))
        {
            k++;
        }

        return k;
    }

    // numpy.linspace(lo, hi, bins + 1): k · step + lo, with the last edge set to hi exactly.
    private double Edge(int k) => k == _bins ? _hi : (k * _step) + _lo;
}
