using JointDiffusion.Gpu.Backends.Simd;
using JointDiffusion.Gpu.Sampling.Operators;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Tests.Perf;

/// <summary>
/// The diagonal operator's ΠGDM solve builds its weights on the device from one scalar per distinct g² (no upload
/// per step) for up to four levels, and on the host beyond that or when a weight overflows. Either way the result
/// is the host formula e_i·(float)(1/(r²g_i² + c)) (0 where the sum is 0) to the bit.
/// </summary>
public sealed class DiagonalSolveTests : IDisposable
{
    private static readonly int[] Image = [1, 4, 6];
    private readonly SimdBackend _backend = new();

    public void Dispose() => _backend.Dispose();

    public static TheoryData<string, float, float> Cases => new()
    {
        { "scale", 0.7f, 0.05f },
        { "mask", 0.7f, 0.05f },
        { "mask", 0.3f, 0f },       // pseudo-inverse: masked pixels get 0
        { "three-levels", 0.9f, 0.01f },
        { "many-levels", 0.9f, 0.01f },  // host path
        { "tiny", 1e-20f, 0f },     // 1/(r²g²) overflows float: host path
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Solve_IsTheHostFormula_BitForBit(string kind, float r2, float c)
    {
        float[] gain = kind switch
        {
            "mask" => [.. Enumerable.Range(0, 24).Select(i => i % 3 == 0 ? 0f : 1f)],
            "three-levels" => [.. Enumerable.Range(0, 24).Select(i => 0.25f * (i % 3))],
            "many-levels" => [.. Enumerable.Range(0, 24).Select(i => 0.1f + 0.05f * i)],
            "tiny" => [.. Enumerable.Range(0, 24).Select(i => i % 2 == 0 ? 1e-15f : 1f)],
            _ => [.. Enumerable.Repeat(0.5f, 24)],
        };
        using var op = kind == "scale" ? DiagonalOperator.Scalar(_backend, Image, 0.5f) : DiagonalOperator.Mask(_backend, Image, gain);
        var e = Enumerable.Range(0, 48).Select(i => (float)Math.Sin(0.37 * i + 0.2)).ToArray();
        using var te = _backend.FromHost(e, new Shape([2, .. Image]));
        using var result = _backend.Allocate(te.Shape);

        for (int step = 0; step < 2; step++)
        {
            // Two steps with different r² as a sampler's, into a separate result and in place.
            float stepR2 = r2 * (1 + step);
            op.SolveCovariance(te, stepR2, c, result);
            var actual = result.ToArray();
            for (int i = 0; i < e.Length; i++)
            {
                double s = stepR2 * ((double)gain[i % 24] * gain[i % 24]) + c;
                float expected = e[i] * (s > 0 ? (float)(1.0 / s) : 0f);
                Assert.True(expected == actual[i], $"{kind} step {step}: element {i} is {actual[i]:R}, expected {expected:R}");
            }
        }

        // result may be e.
        op.SolveCovariance(te, r2, c, result);
        using var inPlace = _backend.FromHost(e, te.Shape);
        op.SolveCovariance(inPlace, r2, c, inPlace);
        Assert.Equal(result.ToArray(), inPlace.ToArray());
    }
}
