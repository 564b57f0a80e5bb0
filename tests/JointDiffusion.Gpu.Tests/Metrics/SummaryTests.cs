using JointDiffusion.Gpu.Metrics;

namespace JointDiffusion.Gpu.Tests.Metrics;

public sealed class SummaryTests
{
    [Fact]
    public void Of_GivesMeanAndPopulationStandardDeviation()
    {
        // Mean 5; squared deviations 9+1+1+1+0+0+4+16 = 32; population variance 32/8 = 4 (sample: 32/7).
        Summary s = Summary.Of([2, 4, 4, 4, 5, 5, 7, 9]);

        Assert.Equal(new Summary(5, 2, 8), s);
    }

    [Fact]
    public void Of_OneValue_HasZeroSpread()
    {
        Assert.Equal(new Summary(27.5, 0, 1), Summary.Of([27.5]));
    }

    [Fact]
    public void Of_InfiniteValue_GivesInfiniteMeanAndNaNSpread()
    {
        Summary s = Summary.Of([30.0, double.PositiveInfinity]);

        Assert.Equal(double.PositiveInfinity, s.Mean);
        Assert.True(double.IsNaN(s.StandardDeviation));
    }

    [Fact]
    public void Of_RefusesNoValues()
    {
        Assert.Throws<ArgumentException>(() => Summary.Of([]));
    }

    [Fact]
    public void ToString_WritesMeanPlusMinusSpreadInInvariantCulture()
    {
        var s = new Summary(27.3142, 0.4213, 10);

        Assert.Equal("27.31 ± 0.42", s.ToString("F2"));
        Assert.Equal("27.3142 ± 0.4213", s.ToString());
    }
}
