using JointDiffusion.Gpu.Backends.Simd;
using JointDiffusion.Gpu.Sampling.Operators;
using JointDiffusion.Gpu.Tensors;
using MathNet.Numerics.LinearAlgebra;

namespace JointDiffusion.Gpu.Tests.Sampling;

/// <summary>
/// Operators against dense double algebra: apply, transpose (⟨Ax, y⟩ = ⟨x, Aᵀy⟩) and the ΠGDM solve
/// (r² A Aᵀ + c I)⁻¹ e. Tolerance 1e-4 relative: float32 products of length ≤ 64 and an eigendecomposition
/// rounded to float32 (eigenvectors accurate to ~1e-7).
/// </summary>
public sealed class MeasurementOperatorTests : IDisposable
{
    private static readonly int[] ImageShape = [1, 4, 4];
    private readonly SimdBackend _backend = new();

    public void Dispose() => _backend.Dispose();

    private static Matrix<double> Dense(IMeasurementOperator op, SimdBackend backend)
    {
        int d = op.SignalShape.Aggregate(1, (a, b) => a * b);
        int m = op.MeasurementShape.Aggregate(1, (a, b) => a * b);
        var a = Matrix<double>.Build.Dense(m, d);
        for (int j = 0; j < d; j++)
        {
            var e = new float[d];
            e[j] = 1f;
            using var x = backend.FromHost(e, new Shape([1, .. op.SignalShape]));
            using var y = backend.Allocate(new Shape([1, .. op.MeasurementShape]));
            op.Apply(x, y);
            var col = y.ToArray();
            for (int i = 0; i < m; i++)
            {
                a[i, j] = col[i];
            }
        }

        return a;
    }

    public static TheoryData<string> Kinds => new("scale", "mask", "cs");

    private IMeasurementOperator Make(string kind) => kind switch
    {
        "scale" => DiagonalOperator.Scalar(_backend, ImageShape, 0.5f),
        "mask" => DiagonalOperator.Mask(_backend, ImageShape, [.. Enumerable.Range(0, 16).Select(i => i % 3 == 0 ? 0f : 1f)]),
        _ => DenseOperator.CompressedSensing(_backend, ImageShape, 2, seed: 9),
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void TransposeAndCovarianceSolve_MatchDenseAlgebra(string kind)
    {
        using var op = Make(kind);
        var a = Dense(op, _backend);
        int m = a.RowCount, d = a.ColumnCount;
        var rng = new Random(4);
        var yHost = Enumerable.Range(0, 2 * m).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        using var y = _backend.FromHost(yHost, new Shape([2, .. op.MeasurementShape]));
        using var xt = _backend.Allocate(new Shape([2, .. op.SignalShape]));
        op.ApplyTranspose(y, xt);
        var xtHost = xt.ToArray();
        using var solved = _backend.Allocate(y.Shape);
        const float r2 = 0.7f, c = 0.05f;
        op.SolveCovariance(y, r2, c, solved);
        var solvedHost = solved.ToArray();
        var sigma = r2 * a * a.Transpose() + c * Matrix<double>.Build.DenseIdentity(m);
        for (int b = 0; b < 2; b++)
        {
            var yb = Vector<double>.Build.Dense(m, i => yHost[b * m + i]);
            var expectedT = a.Transpose() * yb;
            var expectedSolve = sigma.Solve(yb);
            for (int j = 0; j < d; j++)
            {
                Assert.Equal(expectedT[j], xtHost[b * d + j], 1e-4 * (1 + Math.Abs(expectedT[j])));
            }

            for (int i = 0; i < m; i++)
            {
                Assert.Equal(expectedSolve[i], solvedHost[b * m + i], 1e-4 * (1 + Math.Abs(expectedSolve[i])));
            }
        }
    }

    [Fact]
    public void CompressedSensing_IsSeededAndScaledAsThePaper()
    {
        using var a = DenseOperator.CompressedSensing(_backend, [1, 16, 16], 2, seed: 1);
        using var b = DenseOperator.CompressedSensing(_backend, [1, 16, 16], 2, seed: 1);
        using var c = DenseOperator.CompressedSensing(_backend, [1, 16, 16], 2, seed: 2);
        var av = a.Matrix.ToArray();
        Assert.Equal(av, b.Matrix.ToArray());
        Assert.NotEqual(av, c.Matrix.ToArray());
        Assert.Equal(new Shape(128, 256), a.Matrix.Shape);
        double variance = av.Average(v => (double)v * v);
        Assert.InRange(variance, 0.9 / 128, 1.1 / 128); // entries N(0, 1/m): 32768 draws, ±10% is > 10 std errors
    }

    [Fact]
    public void Operators_RefuseBadParameters()
    {
        Assert.Throws<ArgumentException>(() => DiagonalOperator.Scalar(_backend, ImageShape, 0f));
        Assert.Contains("has 3 values", Assert.Throws<ArgumentException>(() => DiagonalOperator.Mask(_backend, ImageShape, [1f, 0f, 1f])).Message);
        Assert.Throws<ArgumentException>(() => DenseOperator.CompressedSensing(_backend, ImageShape, 0, 1));
    }
}
