using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Backends.Simd;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Tensors;
using JointDiffusion.Gpu.Tests.Reference;
using JointDiffusion.Gpu.Training;

namespace JointDiffusion.Gpu.Tests.Models;

/// <summary>
/// A whole NCSNv2 whose wide 3x3 convolutions run through Winograd (ngf 32 at 32x32, batch 8: 32- and 64-channel layers,
/// so forward, backward-data and, at 64 channels, the weight gradient) against the same network on the direct kernels, which
/// <see cref="Ncsnv2ParityTests"/> ties to PyTorch. The PyTorch fixtures themselves are ngf 8, below Winograd's
/// channel threshold, and an ngf 32 fixture would weigh 7 MB.
/// </summary>
/// <remarks>
/// Bounds as in <see cref="Ncsnv2ParityTests"/> (norm-wise, max |a − b| / max |b|): score 1e-4, parameter gradients
/// 1e-3; the input VJP's bound is calibrated on the direct kernels themselves (see the test: max-pool near-ties make it
/// move by ~5e-3 for a 1e-6 change of the input on these random weights). Winograd's per-convolution error (~20·u·Σ|terms|, <see cref="Ops.SimdWinogradTests"/>) is of the
/// order of the direct kernels' bound, so the network-level differences should be of the order of float32 rounding
/// through the network (~1e-6); a wrong tile, channel or tap would be visible at the 1e-2 level.
/// </remarks>
public sealed class Ncsnv2WinogradTests : IDisposable
{
    // 32x32, batch 8: the 64-channel layers at 16x16 have 8 × 16 = 128 tiles, enough for Winograd's weight gradient too.
    private const int Batch = 8, Size = 32;

    private readonly SimdBackend _winograd = new(winograd: true);
    private readonly SimdBackend _direct = new(winograd: false);

    public void Dispose()
    {
        _winograd.Dispose();
        _direct.Dispose();
    }

    private static double RelativeError(float[] actual, float[] expected)
    {
        double diff = 0, scale = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs((double)actual[i] - expected[i]));
            scale = Math.Max(scale, Math.Abs((double)expected[i]));
        }

        return diff / scale;
    }

    private (float[] Score, float[] Vjp) ScoreAndVjp(ComputeBackend backend, float[] x, float[] v, float[] sigma)
    {
        using var net = Ncsnv2.CreateRandom(backend, 32, 1, seed: 11);
        var shape = new Shape(Batch, 1, Size, Size);
        using var tx = backend.FromHost(x, shape);
        using var tv = backend.FromHost(v, shape);
        using var score = backend.Allocate(shape);
        using var vjp = backend.Allocate(shape);
        net.ScoreAndVjp(tx, sigma, tv, score, vjp);
        return (score.ToArray(), vjp.ToArray());
    }

    [Fact]
    public void ScoreAndVjp_MatchDirectKernels()
    {
        Assert.True(_winograd.UsesWinograd, "no AVX-512 here: nothing to compare");
        var x = RandomArrays.Uniform(1, Batch * Size * Size, 0, 1).Select(d => (float)d).ToArray();
        var v = RandomArrays.Uniform(2, Batch * Size * Size).Select(d => (float)d).ToArray();
        float[] sigma = Enumerable.Range(0, Batch).Select(i => 0.3f + 0.25f * i).ToArray();

        var (scoreW, vjpW) = ScoreAndVjp(_winograd, x, v, sigma);
        var (scoreD, vjpD) = ScoreAndVjp(_direct, x, v, sigma);

        // The VJP of this network is ill-conditioned: the 5x5 max pools route each window's gradient to its largest
        // input, and a change of the input at the 1e-6 level (Winograd's) flips near-ties. So the VJP bound is set by
        // the direct kernels' own sensitivity: their VJP at an input changed by ±1e-6 relative.
        var nudged = x.Select((value, i) => value * (1 + 1e-6f * (i % 3 - 1))).ToArray();
        var (_, vjpNudged) = ScoreAndVjp(_direct, nudged, v, sigma);
        double sensitivity = RelativeError(vjpNudged, vjpD);

        Assert.NotEqual(scoreD, scoreW); // the Winograd path ran
        double scoreError = RelativeError(scoreW, scoreD), vjpError = RelativeError(vjpW, vjpD);
        Assert.True(scoreError < 1e-4, $"score relative error {scoreError:E2}");
        Assert.True(vjpError < Math.Max(1e-3, 4 * sensitivity),
            $"vjp relative error {vjpError:E2}; the direct kernels' VJP moves by {sensitivity:E2} for a 1e-6 input change");
    }

    [Fact]
    public void DsmParameterGradients_MatchDirectKernels()
    {
        Assert.True(_winograd.UsesWinograd, "no AVX-512 here: nothing to compare");
        var x0 = RandomArrays.Uniform(3, Batch * Size * Size, 0, 1).Select(d => (float)d).ToArray();
        var z = RandomArrays.Uniform(4, Batch * Size * Size).Select(d => (float)d).ToArray();
        float[] sigma = Enumerable.Range(0, Batch).Select(i => 0.5f + 0.2f * i).ToArray();
        var winograd = Gradients(_winograd, x0, z, sigma);
        var direct = Gradients(_direct, x0, z, sigma);

        Assert.Equal(direct.Loss, winograd.Loss, 1e-4 * direct.Loss);
        foreach (var (name, expected) in direct.Grads)
        {
            double error = RelativeError(winograd.Grads[name], expected);
            Assert.True(error < 1e-3, $"grad.{name} relative error {error:E2}");
        }
    }

    private static (float Loss, Dictionary<string, float[]> Grads) Gradients(ComputeBackend backend, float[] x0, float[] z, float[] sigma)
    {
        using var net = Ncsnv2.CreateRandom(backend, 32, 1, seed: 12);
        var shape = new Shape(Batch, 1, Size, Size);
        using var tx = backend.FromHost(x0, shape);
        using var tz = backend.FromHost(z, shape);
        var grads = net.Parameters.Parameters.ToDictionary(p => p.Value, p => backend.Zeros(p.Value.Shape));
        try
        {
            float loss = DenoisingScoreMatching.LossAndGradients(net, tx, tz, sigma, grads);
            return (loss, net.Parameters.Parameters.ToDictionary(p => p.Name, p => grads[p.Value].ToArray()));
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
