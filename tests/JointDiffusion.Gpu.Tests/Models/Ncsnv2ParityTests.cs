using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Tensors;
using JointDiffusion.Gpu.Tests.Ops;
using JointDiffusion.Gpu.Training;

namespace JointDiffusion.Gpu.Tests.Models;

/// <summary>
/// NCSNv2 against PyTorch: fixtures made by tools/make_ncsnv2_fixtures.py (ermongroup's architecture,
/// computed in float64 from float32-representable weights and inputs) on both CPU backends.
/// </summary>
/// <remarks>
/// Errors are norm-wise: max |ours − torch| / max |torch| over the tensor. Forward 1e-4: float32 rounding
/// through ~30 layers of sums over up to 9·2·ngf terms is ~1e-6; the bound leaves room for the 1/σ multiply
/// and InstanceNorm's divisions. VJP and parameter gradients 1e-3: the backward sums over the batch and
/// the whole image (up to 64·64·2 terms) and passes through the 5×5 max pools, whose window maxima in
/// these fixtures are separated by at least 3e-6 (the generator reports the gaps), so no winner flips.
/// </remarks>
[Collection(BackendCollection.Name)]
public sealed class Ncsnv2ParityTests(BackendFixture fixture)
{
    private static readonly string[] InputNames = ["x", "sigma", "v", "x0", "z", "score", "vjp", "dsm_loss"];

    public static TheoryData<string, string> Cases => new()
    {
        { BackendFixture.Simd, "ncsnv2_ngf8_32x32x1.safetensors" },
        { BackendFixture.Simd, "ncsnv2_ngf8_64x64x3.safetensors" },
        { BackendFixture.IlgpuCpu, "ncsnv2_ngf8_32x32x1.safetensors" },
        { BackendFixture.IlgpuCpu, "ncsnv2_ngf8_64x64x3.safetensors" },
    };

    private static (Ncsnv2 Net, SafetensorsFile File) Load(ComputeBackend backend, string fixtureName)
    {
        var file = SafetensorsReader.Read(Path.Combine(AppContext.BaseDirectory, "Fixtures", fixtureName));
        var weights = file.Tensors
            .Where(t => !InputNames.Contains(t.Name) && !t.Name.StartsWith("grad.", StringComparison.Ordinal) && !t.Name.StartsWith("act.", StringComparison.Ordinal))
            .ToDictionary(t => t.Name);
        return (Ncsnv2.FromTensors(backend, weights, file.Metadata, fixtureName), file);
    }

    private static Tensor Upload(ComputeBackend backend, SafetensorsFile file, string name) =>
        backend.FromHost(file.GetTensor(name).Data, new Shape(file.GetTensor(name).Shape));

    private static double RelativeError(float[] actual, float[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double diff = 0, scale = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs((double)actual[i] - expected[i]));
            scale = Math.Max(scale, Math.Abs((double)expected[i]));
        }

        return diff / scale;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ScoreAndVjp_MatchPyTorch(string backendName, string fixtureName)
    {
        var backend = fixture.Get(backendName);
        var (net, file) = Load(backend, fixtureName);
        using var _ = net;
        using var x = Upload(backend, file, "x");
        using var v = Upload(backend, file, "v");
        using var score = backend.Allocate(x.Shape);
        using var vjp = backend.Allocate(x.Shape);
        net.ScoreAndVjp(x, file.GetTensor("sigma").Data, v, score, vjp);

        double scoreError = RelativeError(score.ToArray(), file.GetTensor("score").Data);
        double vjpError = RelativeError(vjp.ToArray(), file.GetTensor("vjp").Data);
        Assert.True(scoreError < 1e-4, $"score relative error {scoreError:E2}");
        Assert.True(vjpError < 1e-3, $"vjp relative error {vjpError:E2}");
    }

    [Theory]
    [InlineData(BackendFixture.Simd)]
    [InlineData(BackendFixture.IlgpuCpu)]
    public void DsmLossAndParameterGradients_MatchPyTorch(string backendName)
    {
        var backend = fixture.Get(backendName);
        var (net, file) = Load(backend, "ncsnv2_ngf8_32x32x1.safetensors");
        using var _ = net;
        using var x0 = Upload(backend, file, "x0");
        using var z = Upload(backend, file, "z");
        var grads = net.Parameters.Parameters.ToDictionary(p => p.Value, p => backend.Zeros(p.Value.Shape));
        try
        {
            float loss = DenoisingScoreMatching.LossAndGradients(net, x0, z, file.GetTensor("sigma").Data, grads);
            float expectedLoss = file.GetTensor("dsm_loss").Data[0];
            Assert.True(Math.Abs(loss - expectedLoss) <= 1e-4 * expectedLoss, $"loss {loss} vs {expectedLoss}");
            foreach (var (name, value) in net.Parameters.Parameters)
            {
                double error = RelativeError(grads[value].ToArray(), file.GetTensor("grad." + name).Data);
                Assert.True(error < 1e-3, $"grad.{name} relative error {error:E2}");
            }
        }
        finally
        {
            foreach (var g in grads.Values)
            {
                g.Dispose();
            }
        }
    }
}
