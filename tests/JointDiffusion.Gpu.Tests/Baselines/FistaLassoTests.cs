using JointDiffusion.Gpu.Baselines;
using JointDiffusion.Kernels;
using MathNet.Numerics.LinearAlgebra;

namespace JointDiffusion.Gpu.Tests.Baselines;

/// <summary>
/// FISTA on the Haar LASSO: it recovers an exactly Haar-sparse image from half as many Gaussian measurements
/// far better than the minimum-norm least-squares solution, it decreases the objective towards its long-run
/// value, and with μ = 0 it inverts identity and diagonal operators.
/// </summary>
public sealed class FistaLassoTests
{
    /// <summary>A Gaussian [m, d] matrix with N(0, 1/m) entries, as in the paper's compressed sensing.</summary>
    private static float[] GaussianMatrix(int m, int d, ulong seed)
    {
        var matrix = new float[m * d];
        float scale = 1f / MathF.Sqrt(m);
        for (int i = 0; i < matrix.Length; i++)
        {
            matrix[i] = scale * Philox.Gaussian(seed, (ulong)i);
        }

        return matrix;
    }

    private static float[] Apply(float[] matrix, int m, float[] x)
    {
        int d = x.Length;
        var y = new float[m];
        for (int i = 0; i < m; i++)
        {
            double sum = 0;
            for (int j = 0; j < d; j++)
            {
                sum += (double)matrix[(i * d) + j] * x[j];
            }

            y[i] = (float)sum;
        }

        return y;
    }

    /// <summary>
    /// 16×16, piecewise constant on 2×2-aligned blocks: the finest detail bands vanish and the level-2 bands hold
    /// only the edges that cross 4×4 blocks.
    /// </summary>
    private static float[] BlockImage()
    {
        var image = new float[16 * 16];
        for (int y = 0; y < 16; y++)
        {
            for (int x = 0; x < 16; x++)
            {
                float value = 0.2f;
                if (y >= 2 && y < 10 && x >= 6 && x < 14)
                {
                    value = 0.8f;
                }
                else if (y >= 12 && y < 14 && x >= 2 && x < 4)
                {
                    value = 0.9f;
                }

                image[(y * 16) + x] = value;
            }
        }

        return image;
    }

    [Fact]
    public void Solve_RecoversHaarSparseImage_FarBetterThanMinimumNormLeastSquares()
    {
        const int m = 128, d = 256;
        float[] truth = BlockImage();
        var wavelet = new HaarWavelet(1, 16, 16);
        int nonZero = wavelet.Forward(truth).Count(v => Math.Abs(v) > 1e-6);
        Assert.InRange(nonZero, 10, 40);
        float[] matrix = GaussianMatrix(m, d, seed: 21);
        float[] y = Apply(matrix, m, truth);
        var solver = new FistaLasso(matrix, m, 1, 16, 16);

        // A small μ (1e-4 of ‖Aᵀy‖∞) and many iterations approach basis pursuit, which recovers this 35-sparse
        // vector from 128 Gaussian measurements (to ~1e-2 after 1500 iterations, ~3e-4 after 3000); the
        // pseudo-inverse only projects onto A's row space and misses ~70 % of the image.
        FistaLassoResult result = solver.Solve(y, new FistaLassoOptions { MuRelative = 1e-4, Iterations = 1500, Tolerance = 0 });
        var a = Matrix<double>.Build.Dense(m, d, (i, j) => matrix[(i * d) + j]);
        Vector<double> pinv = a.PseudoInverse() * Vector<double>.Build.Dense(m, i => y[i]);

        double truthNorm = BaselineTestImages.Norm(truth);
        double lassoError = Math.Sqrt(truth.Select((v, j) => Math.Pow(result.Image[j] - v, 2)).Sum()) / truthNorm;
        double pinvError = Math.Sqrt(truth.Select((v, j) => Math.Pow(pinv[j] - v, 2)).Sum()) / truthNorm;
        Assert.InRange(pinvError, 0.2, 1.0);
        Assert.True(lassoError < 0.05 * pinvError, $"LASSO relative error {lassoError:G4}, pseudo-inverse {pinvError:G4}");
    }

    [Fact]
    public void Solve_DecreasesObjective_TowardsLongRunValue()
    {
        const int m = 96, d = 256;
        float[] truth = BaselineTestImages.Add(BaselineTestImages.Piecewise(1, 16, 16), BaselineTestImages.Ramp(1, 16, 16));
        float[] matrix = GaussianMatrix(m, d, seed: 5);
        float[] y = BaselineTestImages.Add(Apply(matrix, m, truth), BaselineTestImages.Noise(m, 0.02, seed: 6));
        var solver = new FistaLasso(matrix, m, 1, 16, 16);

        FistaLassoResult early = solver.Solve(y, new FistaLassoOptions { Iterations = 300, Tolerance = 0 });
        FistaLassoResult reference = solver.Solve(y, new FistaLassoOptions { Iterations = 5000, Tolerance = 0 });
        double initial = solver.Objective(y, new float[d], early.Mu);

        // FISTA's bound F(c_k) − F* ≤ 2 L ‖c₀ − c*‖² / (k + 1)²; on this problem 300 iterations come within ~1e-6
        // relative of the 5000-iteration value (float rounding of the objective is ~1e-7), so 1e-4 is a wide margin.
        Assert.Equal(300, early.Iterations);
        Assert.Equal(early.Mu, reference.Mu);
        Assert.True(early.Objective < 0.5 * initial, $"objective {early.Objective} from {initial}");
        Assert.True(reference.Objective <= early.Objective * (1 + 1e-6));
        Assert.True(early.Objective - reference.Objective < 1e-4 * reference.Objective,
            $"300 iterations {early.Objective}, 5000 iterations {reference.Objective}");
        Assert.Equal(early.Objective, solver.Objective(y, early.Coefficients, early.Mu), 1e-9);
    }

    [Fact]
    public void DefaultMu_IsOnePercentOfLargestBackProjection()
    {
        const int m = 64, d = 64;
        float[] matrix = GaussianMatrix(m, d, seed: 8);
        float[] y = BaselineTestImages.Uniform(m, seed: 9);
        var a = Matrix<double>.Build.Dense(m, d, (i, j) => matrix[(i * d) + j]);
        double largest = (a.Transpose() * Vector<double>.Build.Dense(m, i => y[i])).AbsoluteMaximum();

        FistaLassoResult result = new FistaLasso(matrix, m, 1, 8, 8).Solve(y, new FistaLassoOptions { Iterations = 1 });

        Assert.Equal(0.01 * largest, result.Mu, 1e-5 * largest);
    }

    [Fact]
    public void Lipschitz_IsSquaredSpectralNorm()
    {
        const int m = 128, d = 256;
        float[] matrix = GaussianMatrix(m, d, seed: 13);
        double sigmaMax = Matrix<double>.Build.Dense(m, d, (i, j) => matrix[(i * d) + j]).L2Norm();

        var solver = new FistaLasso(matrix, m, 1, 16, 16);

        // 1 % margin above the power-iteration estimate, which converges from below.
        Assert.InRange(solver.Lipschitz, sigmaMax * sigmaMax, 1.011 * sigmaMax * sigmaMax);
    }

    [Fact]
    public void WithZeroMu_IdentityOperatorReturnsObservation()
    {
        const int d = 3 * 8 * 8;
        var identity = new float[d * d];
        for (int i = 0; i < d; i++)
        {
            identity[(i * d) + i] = 1f;
        }

        float[] y = BaselineTestImages.Uniform(d, seed: 2);
        var options = new FistaLassoOptions { Mu = 0 };

        float[] dense = new FistaLasso(identity, d, 3, 8, 8).Reconstruct(y, options);
        float[] diagonal = FistaLasso.Diagonal(Enumerable.Repeat(1f, d).ToArray(), 3, 8, 8).Reconstruct(y, options);

        for (int j = 0; j < d; j++)
        {
            Assert.Equal(y[j], dense[j], 1e-5);
            Assert.Equal(y[j], diagonal[j], 1e-5);
        }
    }

    [Fact]
    public void WithZeroMu_DiagonalGainIsInverted()
    {
        const int d = 8 * 8;
        float[] gain = [.. BaselineTestImages.Uniform(d, seed: 4).Select(u => 0.5f + (1.5f * u))];
        float[] x = BaselineTestImages.Uniform(d, seed: 7);
        float[] y = [.. x.Select((v, j) => gain[j] * v)];
        var solver = FistaLasso.Diagonal(gain, 1, 8, 8);

        // The condition number is at most 4, so the error shrinks by ≥ 3/4 per plain gradient step; 2000 accelerated
        // iterations with no tolerance stop leave nothing above float rounding.
        float[] estimate = solver.Reconstruct(y, new FistaLassoOptions { Mu = 0, Iterations = 2000, Tolerance = 0 });

        Assert.Equal(gain.Max() * gain.Max(), solver.Lipschitz, 1e-6);
        for (int j = 0; j < d; j++)
        {
            Assert.Equal(x[j], estimate[j], 1e-5);
        }
    }

    [Fact]
    public void SolveBatch_MatchesSolvingEachObservation()
    {
        const int m = 128, d = 256, count = 3;
        float[] matrix = GaussianMatrix(m, d, seed: 17);
        var solver = new FistaLasso(matrix, m, 1, 16, 16);
        var measurements = new float[count * m];
        for (int k = 0; k < count; k++)
        {
            float[] truth = BaselineTestImages.Add(BaselineTestImages.Piecewise(1, 16, 16), BaselineTestImages.Noise(d, 0.05 * k, seed: (ulong)k));
            Apply(matrix, m, truth).CopyTo(measurements, k * m);
        }

        var options = new FistaLassoOptions { Iterations = 200 };
        FistaLassoResult[] batch = solver.SolveBatch(measurements, count, options);
        float[] images = solver.ReconstructBatch(measurements, count, options);

        for (int k = 0; k < count; k++)
        {
            FistaLassoResult single = solver.Solve(measurements.AsSpan(k * m, m), options);
            Assert.Equal(single.Iterations, batch[k].Iterations);
            Assert.Equal(single.Mu, batch[k].Mu);
            for (int j = 0; j < d; j++)
            {
                Assert.Equal(single.Image[j], batch[k].Image[j], 1e-6);
                Assert.Equal(single.Image[j], images[(k * d) + j], 1e-6);
            }
        }
    }

    [Fact]
    public void ClampToUnitRange_KeepsImageInRange()
    {
        const int m = 64, d = 256;
        float[] matrix = GaussianMatrix(m, d, seed: 19);
        float[] y = BaselineTestImages.Noise(m, 3.0, seed: 20);
        var solver = new FistaLasso(matrix, m, 1, 16, 16);

        float[] raw = solver.Reconstruct(y, new FistaLassoOptions { Iterations = 50 });
        float[] clamped = solver.Reconstruct(y, new FistaLassoOptions { Iterations = 50, ClampToUnitRange = true });

        Assert.Contains(raw, v => v is < 0 or > 1);
        Assert.All(clamped, v => Assert.InRange(v, 0f, 1f));
        Assert.Equal(raw.Select(v => Math.Clamp(v, 0f, 1f)), clamped);
    }

    [Fact]
    public void RefusesMismatchedShapesAndBadSettings()
    {
        float[] matrix = GaussianMatrix(8, 64, seed: 1);
        Assert.Throws<ArgumentException>(() => new FistaLasso(matrix, 9, 1, 8, 8));
        Assert.Throws<ArgumentException>(() => new FistaLasso(new float[8 * 64], 8, 1, 8, 8));
        float[] bad = [.. matrix];
        bad[3] = float.NaN;
        Assert.Throws<ArgumentException>(() => new FistaLasso(bad, 8, 1, 8, 8));
        Assert.Throws<ArgumentException>(() => FistaLasso.Diagonal(new float[63], 1, 8, 8));

        var solver = new FistaLasso(matrix, 8, 1, 8, 8);
        Assert.Throws<ArgumentException>(() => solver.Solve(new float[7]));
        Assert.Throws<ArgumentException>(() => solver.SolveBatch(new float[15], 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => solver.Solve(new float[8], new FistaLassoOptions { Mu = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => solver.Solve(new float[8], new FistaLassoOptions { Iterations = 0 }));
    }
}
