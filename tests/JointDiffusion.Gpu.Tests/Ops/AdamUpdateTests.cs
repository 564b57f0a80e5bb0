using JointDiffusion.Gpu.Tests.Reference;
using JointDiffusion.Kernels;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>
/// The fused Adam step of every backend against the double reference, over several consecutive steps so that
/// the moments carry over. Tolerance 1e-5 relative: a handful of float32 operations per element per step.
/// </summary>
[Collection(BackendCollection.Name)]
public sealed class AdamUpdateTests(BackendFixture fixture)
{
    [Theory]
    [InlineData(BackendFixture.Simd)]
    [InlineData(BackendFixture.IlgpuCpu)]
    public void AdamUpdate_MatchesReferenceOverSteps(string backendName)
    {
        var backend = fixture.Get(backendName);
        const int n = 37;
        var p = RandomArrays.Uniform(1, n);
        var m = new double[n];
        var v = new double[n];
        using var pt = backend.Upload(p, n);
        using var mt = backend.Filled(0f, n);
        using var vt = backend.Filled(0f, n);
        for (int t = 1; t <= 4; t++)
        {
            var g = RandomArrays.Uniform(10 + t, n, -2, 2);
            using var gt = backend.Upload(g, n);
            backend.AdamUpdate(pt, gt, mt, vt, AdamStep.At(t, 1e-2f));
            (p, m, v) = ReferenceOps.AdamUpdate(p, g, m, v, 1e-2, 0.9, 0.999, 1e-8, t);
            ArrayAssert.Close(p, pt.ToDoubles(), p.Select(x => 1e-5 * (1 + Math.Abs(x))).ToArray(), $"parameter after step {t}");
            ArrayAssert.Close(m, mt.ToDoubles(), m.Select(x => 1e-5 * (1 + Math.Abs(x))).ToArray(), $"m after step {t}");
            ArrayAssert.Close(v, vt.ToDoubles(), v.Select(x => 1e-5 * (1 + Math.Abs(x))).ToArray(), $"v after step {t}");
        }
    }

    [Fact]
    public void SimdAdamUpdate_VectorLanesAndScalarTailAgreeBitForBit()
    {
        // 16 values repeated: lengths 37 and 100,003 put each value in vector lanes and in the scalar tail (the
        // longer one also runs in parallel chunks); both paths must give the same bits, as they do the same operations.
        var backend = fixture.Get(BackendFixture.Simd);
        var values = RandomArrays.Uniform(30, 16);
        var grads = RandomArrays.Uniform(31, 16, -2, 2);
        foreach (int n in new[] { 37, 100_003 })
        {
            using var pt = backend.Upload(Enumerable.Range(0, n).Select(i => values[i % 16]).ToArray(), n);
            using var gt = backend.Upload(Enumerable.Range(0, n).Select(i => grads[i % 16]).ToArray(), n);
            using var mt = backend.Filled(0.25f, n);
            using var vt = backend.Filled(0.5f, n);
            for (int t = 1; t <= 3; t++)
            {
                backend.AdamUpdate(pt, gt, mt, vt, AdamStep.At(t, 1e-2f));
            }

            foreach (var tensor in new[] { pt, mt, vt })
            {
                var r = tensor.ToDoubles();
                for (int i = 16; i < n; i++)
                {
                    Assert.Equal(r[i % 16], r[i]);
                }
            }
        }
    }

    [Fact]
    public void AdamUpdate_RefusesMismatchedShapes()
    {
        var backend = fixture.Get(BackendFixture.Simd);
        using var p = backend.Filled(0f, 4);
        using var g = backend.Filled(0f, 5);
        var e = Assert.Throws<ArgumentException>(() => backend.AdamUpdate(p, g, p, p, AdamStep.At(1, 1e-3f)));
        Assert.Contains("'gradient' has shape [5]", e.Message);
    }
}
