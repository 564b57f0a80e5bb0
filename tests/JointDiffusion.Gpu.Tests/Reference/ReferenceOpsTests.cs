using static JointDiffusion.Gpu.Tests.Reference.ReferenceOps;

namespace JointDiffusion.Gpu.Tests.Reference;

/// <summary>
/// Validates the double reference itself: forwards against hand-computed values and invariants, backwards
/// against central differences of the reference forward.
/// </summary>
/// <remarks>
/// Finite-difference tolerance: with h = 1e-6 the truncation error is O(h²·|f'''|) ≈ 1e-12 and the rounding error
/// is O(ε_double·Σ|dy·y|/h) ≈ 2e-16·1e2/1e-6 = 2e-8 for these shapes, so 1e-6·(1 + |g|) is tight: a wrong term in a
/// backward formula changes a gradient by O(0.01..1).
/// </remarks>
public sealed class ReferenceOpsTests
{
    private const double FdTolerance = 1e-6;

    private static void AssertMatchesFiniteDifferences(double[] analytic, double[] numeric, string what) =>
        ArrayAssert.Close(numeric, analytic, numeric.Select(g => FdTolerance * (1 + Math.Abs(g))).ToArray(), what);

    // ---------------------------------------------------------------- forwards, by hand

    [Fact]
    public void Conv2d_MatchesHandComputedValues()
    {
        // x = 1..9 on a 3×3 grid, one all-ones 3×3 kernel.
        var x = Enumerable.Range(1, 9).Select(v => (double)v).ToArray();
        var w = Enumerable.Repeat(1.0, 9).ToArray();

        var same = Conv2d(x, w, [0.5], 1, 1, 3, 3, 1, 3, pad: 1, dil: 1);
        Assert.Equal(1 + 2 + 4 + 5 + 0.5, same[0]);
        Assert.Equal(45 + 0.5, same[4]);

        // Dilation 2, padding 2: output (0,0) reads rows/cols −2, 0, 2 → the four corners; (1,1) reads only the centre.
        var dilated = Conv2d(x, w, null, 1, 1, 3, 3, 1, 3, pad: 2, dil: 2);
        Assert.Equal(1 + 3 + 7 + 9, dilated[0]);
        Assert.Equal(5, dilated[4]);

        // No padding: a single output, the sum of everything.
        Assert.Equal([45.0], Conv2d(x, w, null, 1, 1, 3, 3, 1, 3, pad: 0, dil: 1));
    }

    [Fact]
    public void InstanceNorm2dPlus_OutputHasTheDefiningMoments()
    {
        // With α = 0, γ = 1, β = 0 each plane is the plain instance norm: mean 0, variance s²/(s² + ε).
        // With α = 1 the plane means are mhat_c, whose mean over channels is 0 and unbiased variance v/(v + ε).
        const int n = 2, c = 5, h = 4, w = 3, hw = h * w;
        var x = RandomArrays.ChannelOffsetScaled(1, n, c, hw, 0.5, 2);
        var ones = Enumerable.Repeat(1.0, c).ToArray();
        var zeros = new double[c];
        var st = InstanceNorm2dPlusStats(x, n, c, h, w);
        var plain = InstanceNorm2dPlus(x, zeros, ones, zeros, n, c, h, w);
        var withMeans = InstanceNorm2dPlus(x, ones, ones, zeros, n, c, h, w);
        for (int b = 0; b < n; b++)
        {
            var planeMeans = new double[c];
            for (int ch = 0; ch < c; ch++)
            {
                var plane = plain.Skip((b * c + ch) * hw).Take(hw).ToArray();
                double s2 = x.Skip((b * c + ch) * hw).Take(hw).Select(v => v * v).Average() - Math.Pow(st[b * (2 * c + 2) + ch], 2);
                Assert.Equal(0, plane.Average(), 12);
                Assert.Equal(s2 / (s2 + InstanceNormEpsilon), plane.Select(v => v * v).Average(), 10);
                planeMeans[ch] = withMeans.Skip((b * c + ch) * hw).Take(hw).Average();
            }

            double mean = planeMeans.Average();
            double unbiased = planeMeans.Sum(v => (v - mean) * (v - mean)) / (c - 1);
            double muMean = Enumerable.Range(0, c).Average(ch => st[b * (2 * c + 2) + ch]);
            double v = Enumerable.Range(0, c).Sum(ch => Math.Pow(st[b * (2 * c + 2) + ch] - muMean, 2)) / (c - 1);
            Assert.Equal(0, mean, 12);
            Assert.Equal(v / (v + InstanceNormEpsilon), unbiased, 10);
        }
    }

    [Fact]
    public void Pools_MatchHandComputedValues()
    {
        Assert.Equal([2.5], MeanPool2x2([1, 2, 3, 4], 1, 1, 2, 2));

        // 3×3 max pool on a 1×3 row with a tie: the windows at 0 and 1 see both 5s and pick the first;
        // the window at 2 sees only the second 5 (and the 1).
        double[] row = [5, 5, 1];
        Assert.Equal([5.0, 5, 5], MaxPool2d(row, 1, 1, 1, 3, 3));
        Assert.Equal([2.0, 1, 0], MaxPool2dBackward(row, [1, 1, 1], 1, 1, 1, 3, 3));
    }

    [Fact]
    public void BilinearResize_ReproducesALinearRamp()
    {
        // align_corners maps corner to corner, so a ramp a·i + b·j is resampled exactly: y = a·i·s_h + b·j·s_w.
        const int h = 4, w = 5, ho = 7, wo = 3;
        var x = new double[h * w];
        for (int i = 0; i < h; i++)
        {
            for (int j = 0; j < w; j++)
            {
                x[i * w + j] = 2 * i - 3 * j;
            }
        }

        var y = BilinearResize(x, 1, 1, h, w, ho, wo);
        for (int i = 0; i < ho; i++)
        {
            for (int j = 0; j < wo; j++)
            {
                Assert.Equal(2 * i * (h - 1.0) / (ho - 1) - 3 * j * (w - 1.0) / (wo - 1), y[i * wo + j], 12);
            }
        }
    }

    // ---------------------------------------------------------------- backwards, by finite differences

    [Theory]
    [InlineData(2, 3, 4, 5, 4, 3, 1, 1)]
    [InlineData(1, 2, 3, 6, 7, 3, 2, 2)]
    [InlineData(1, 2, 2, 9, 9, 3, 4, 4)]
    [InlineData(2, 3, 2, 4, 5, 1, 0, 1)]
    [InlineData(1, 2, 2, 6, 5, 5, 0, 1)]
    public void Conv2dReferenceBackward_MatchesFiniteDifferences(int n, int cin, int cout, int h, int w, int k, int pad, int dil)
    {
        int ho = ConvOutputSize(h, k, pad, dil), wo = ConvOutputSize(w, k, pad, dil);
        var x = RandomArrays.Uniform(1, n * cin * h * w);
        var wt = RandomArrays.Uniform(2, cout * cin * k * k);
        var b = RandomArrays.Uniform(3, cout);
        var dy = RandomArrays.Uniform(4, n * cout * ho * wo);

        AssertMatchesFiniteDifferences(Conv2dBackwardData(dy, wt, n, cin, h, w, cout, k, pad, dil),
            FiniteDifferences.Gradient(p => Conv2d(p, wt, b, n, cin, h, w, cout, k, pad, dil), x, dy), "dx");
        AssertMatchesFiniteDifferences(Conv2dBackwardWeight(x, dy, n, cin, h, w, cout, k, pad, dil),
            FiniteDifferences.Gradient(p => Conv2d(x, p, b, n, cin, h, w, cout, k, pad, dil), wt, dy), "dw");
        AssertMatchesFiniteDifferences(Conv2dBackwardBias(dy, n, cout, ho, wo),
            FiniteDifferences.Gradient(p => Conv2d(x, wt, p, n, cin, h, w, cout, k, pad, dil), b, dy), "db");
    }

    [Theory]
    [InlineData(2, 3, 4, 3, 0.5)]
    [InlineData(1, 5, 3, 5, 0.5)]
    [InlineData(2, 2, 2, 2, 0.5)]
    [InlineData(1, 4, 3, 4, 0.003)] // s² ≈ 3e-6, comparable to ε: checks ε enters the derivative correctly
    public void InstanceNorm2dPlusReferenceBackward_MatchesFiniteDifferences(int n, int c, int h, int w, double scaleLo)
    {
        var x = RandomArrays.ChannelOffsetScaled(5, n, c, h * w, scaleLo, 4 * scaleLo);
        var alpha = RandomArrays.Uniform(6, c, 0.5, 1.5);
        var gamma = RandomArrays.Uniform(7, c, 0.5, 1.5);
        var beta = RandomArrays.Uniform(8, c);
        var dy = RandomArrays.Uniform(9, x.Length);
        var (dx, dalpha, dgamma, dbeta) = InstanceNorm2dPlusBackward(x, dy, alpha, gamma, n, c, h, w);

        // For tiny-variance planes the output moves by ~r = 1/√(s²+ε) ≈ 300 per unit of x, so h shrinks accordingly
        // to keep the truncation error O(h²·r³) ≈ 1e-9 (relative to gradients of size ~r).
        double step = scaleLo < 0.01 ? 1e-8 : 1e-6;
        AssertMatchesFiniteDifferences(dx, FiniteDifferences.Gradient(p => InstanceNorm2dPlus(p, alpha, gamma, beta, n, c, h, w), x, dy, step), "dx");
        AssertMatchesFiniteDifferences(dalpha, FiniteDifferences.Gradient(p => InstanceNorm2dPlus(x, p, gamma, beta, n, c, h, w), alpha, dy), "dalpha");
        AssertMatchesFiniteDifferences(dgamma, FiniteDifferences.Gradient(p => InstanceNorm2dPlus(x, alpha, p, beta, n, c, h, w), gamma, dy), "dgamma");
        AssertMatchesFiniteDifferences(dbeta, FiniteDifferences.Gradient(p => InstanceNorm2dPlus(x, alpha, gamma, p, n, c, h, w), beta, dy), "dbeta");
    }

    [Fact]
    public void EluReferenceBackward_MatchesFiniteDifferences()
    {
        // Inputs at least 1e-3 from the kink at 0, far beyond the step 1e-6.
        var x = RandomArrays.AwayFromZero(10, 200, 1e-3);
        var dy = RandomArrays.Uniform(11, 200);
        AssertMatchesFiniteDifferences(EluBackward(x, dy), FiniteDifferences.Gradient(Elu, x, dy), "dx");
    }

    [Fact]
    public void EluReferenceBackwardFromOutput_MatchesFiniteDifferences()
    {
        // The derivative from y = ELU(x) against finite differences in x; inputs away from the kink, as above.
        var x = RandomArrays.AwayFromZero(14, 200, 1e-3);
        var dy = RandomArrays.Uniform(15, 200);
        AssertMatchesFiniteDifferences(EluBackwardFromOutput(Elu(x), dy), FiniteDifferences.Gradient(Elu, x, dy), "dx");
    }

    [Fact]
    public void MeanPool2x2ReferenceBackward_MatchesFiniteDifferences()
    {
        var x = RandomArrays.Uniform(12, 2 * 3 * 4 * 6);
        var dy = RandomArrays.Uniform(13, 2 * 3 * 2 * 3);
        AssertMatchesFiniteDifferences(MeanPool2x2Backward(dy, 2, 3, 4, 6),
            FiniteDifferences.Gradient(p => MeanPool2x2(p, 2, 3, 4, 6), x, dy), "dx");
    }

    [Theory]
    [InlineData(5, 6, 7)]
    [InlineData(3, 5, 4)]
    [InlineData(5, 2, 3)]
    [InlineData(1, 3, 3)]
    public void MaxPool2dReferenceBackward_MatchesFiniteDifferences(int k, int h, int w)
    {
        // Distinct values 1e-3 apart: the ±1e-6 steps never change an argmax, so the pool is locally linear.
        var x = RandomArrays.DistinctPermutation(14, 2 * 2 * h * w, 1e-3);
        var dy = RandomArrays.Uniform(15, x.Length);
        AssertMatchesFiniteDifferences(MaxPool2dBackward(x, dy, 2, 2, h, w, k),
            FiniteDifferences.Gradient(p => MaxPool2d(p, 2, 2, h, w, k), x, dy), "dx");
    }

    [Theory]
    [InlineData(4, 5, 8, 10)]
    [InlineData(5, 3, 2, 7)]
    [InlineData(3, 3, 3, 3)]
    [InlineData(1, 4, 3, 1)]
    public void BilinearResizeReferenceBackward_MatchesFiniteDifferences(int h, int w, int ho, int wo)
    {
        var x = RandomArrays.Uniform(16, 2 * 3 * h * w);
        var dy = RandomArrays.Uniform(17, 2 * 3 * ho * wo);
        AssertMatchesFiniteDifferences(BilinearResizeBackward(dy, 2, 3, h, w, ho, wo),
            FiniteDifferences.Gradient(p => BilinearResize(p, 2, 3, h, w, ho, wo), x, dy), "dx");
    }
}
