using JointDiffusion.Gpu.Backends.Simd;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>
/// The Winograd GEMM micro-kernels on their own: C = A·B (overwrite) and C += A·B (accumulate, as the weight gradient
/// adds a group's chunks into one slice), for every block shape, with both strides of A (row-major as the forward's
/// products, transposed as the weight gradient's), against a double-precision product.
/// </summary>
public sealed class SimdWinogradGemmTests
{
    public static TheoryData<int, int, bool, bool> Cases()
    {
        var data = new TheoryData<int, int, bool, bool>();
        foreach (var (rows, vectors) in new[] { (6, 4), (8, 2), (8, 1) })
        {
            foreach (bool transposedA in new[] { false, true })
            {
                foreach (bool accumulate in new[] { false, true })
                {
                    data.Add(rows, vectors, transposedA, accumulate);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Kernel_MatchesReference(int rows, int vectors, bool transposedA, bool accumulate)
    {
        Assert.True(SimdWinograd.Supported, "no AVX-512 here: the Winograd kernels are not used on this machine");

        const int Depth = 37, Ldb = 80, Ldc = 96;
        int columns = 16 * vectors;
        var rng = new Random(rows * 100 + vectors * 10 + (transposedA ? 2 : 0) + (accumulate ? 1 : 0));
        float Next() => (float)(2 * rng.NextDouble() - 1);
        // A[r, k] at r·rowStride + k·depthStride.
        nuint rowStride = transposedA ? 1 : (nuint)Depth, depthStride = transposedA ? (nuint)rows : 1;
        var a = Enumerable.Range(0, rows * Depth).Select(_ => Next()).ToArray();
        var b = Enumerable.Range(0, Depth * Ldb).Select(_ => Next()).ToArray();
        var c = Enumerable.Range(0, rows * Ldc).Select(_ => Next()).ToArray();
        var before = c.ToArray();

        switch (rows, vectors)
        {
            case (6, 4):
                SimdWinogradGemm.Rows6Vectors4(ref a[0], rowStride, depthStride, Depth, ref b[0], Ldb, ref c[0], Ldc, accumulate);
                break;
            case (8, 2):
                SimdWinogradGemm.Rows8Vectors2(ref a[0], rowStride, depthStride, Depth, ref b[0], Ldb, ref c[0], Ldc, accumulate);
                break;
            default:
                SimdWinogradGemm.Rows8Vectors1(ref a[0], rowStride, depthStride, Depth, ref b[0], Ldb, ref c[0], Ldc, accumulate);
                break;
        }

        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < Ldc; j++)
            {
                int at = r * Ldc + j;
                if (j >= columns)
                {
                    Assert.Equal(before[at], c[at]); // past the block: untouched
                    continue;
                }

                double sum = accumulate ? before[at] : 0, magnitude = accumulate ? Math.Abs(before[at]) : 0;
                for (int k = 0; k < Depth; k++)
                {
                    double term = (double)a[(int)((nuint)r * rowStride + (nuint)k * depthStride)] * b[k * Ldb + j];
                    sum += term;
                    magnitude += Math.Abs(term);
                }

                Assert.True(Math.Abs(c[at] - sum) <= 4 * Depth * 6e-8 * magnitude + 1e-30,
                    $"C[{r},{j}] = {c[at]}, expected {sum} ({rows}x{vectors}, transposed A {transposedA}, accumulate {accumulate})");
            }
        }
    }
}
