using JointDiffusion.Gpu.Sde;

namespace JointDiffusion.Gpu.Tests.Sampling;

/// <summary>The VE-SDE's coefficients and grid (DESIGN.md: σ = 25, β_t² = (σ^{2t} − 1)/(2 ln σ)).</summary>
public sealed class VeSdeTests
{
    [Fact]
    public void MarginalStd_MatchesTheClosedFormAndItsDerivative()
    {
        var sde = new VeSde(25);
        Assert.Equal(0.0, sde.MarginalStd(0), 12);
        Assert.Equal(Math.Sqrt(624 / (2 * Math.Log(25))), sde.MarginalStd(1), 12); // β_1 ≈ 9.85
        Assert.InRange(sde.MarginalStd(1), 9.84, 9.86);
        // dβ²/dt = g(t)²: the variance the forward SDE adds per unit time.
        foreach (double t in new[] { 0.1, 0.5, 0.9 })
        {
            const double h = 1e-6;
            double derivative = (sde.MarginalVariance(t + h) - sde.MarginalVariance(t - h)) / (2 * h);
            Assert.Equal(sde.Diffusion(t) * sde.Diffusion(t), derivative, 5);
        }
    }

    [Fact]
    public void Grid_RunsFromOneToEpsilonInEqualSteps()
    {
        var (times, dt) = VeSde.Grid(4, 1e-3);
        Assert.Equal(5, times.Length);
        Assert.Equal(1.0, times[0]);
        Assert.Equal(1e-3, times[^1]);
        Assert.Equal((1 - 1e-3) / 4, dt, 15);
        for (int i = 1; i < times.Length; i++)
        {
            Assert.Equal(dt, times[i - 1] - times[i], 12);
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => VeSde.Grid(0, 1e-3));
        Assert.Throws<ArgumentOutOfRangeException>(() => VeSde.Grid(10, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new VeSde(1));
    }
}
