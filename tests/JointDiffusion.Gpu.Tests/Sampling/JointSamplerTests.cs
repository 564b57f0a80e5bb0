using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Backends.Simd;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Sampling;
using JointDiffusion.Gpu.Sampling.Operators;
using JointDiffusion.Gpu.Sampling.Rules;
using JointDiffusion.Gpu.Tests.Ops;

namespace JointDiffusion.Gpu.Tests.Sampling;

/// <summary>Determinism, backend agreement and up-front validation of the sampler (small Gaussian problems).</summary>
[Collection(BackendCollection.Name)]
public sealed class JointSamplerTests(BackendFixture fixture)
{
    private static readonly int[] Shape = [1, 4, 4];

    private static (GaussianPrior Signal, GaussianPrior Noise) Priors(ComputeBackend backend)
    {
        var cov = new double[16, 16];
        for (int i = 0; i < 16; i++)
        {
            for (int j = 0; j < 16; j++)
            {
                cov[i, j] = 0.05 * Math.Exp(-Math.Abs(i - j) / 3.0);
            }
        }

        var signal = GaussianPrior.FullCovariance(backend, Shape, [.. Enumerable.Range(0, 16).Select(i => 0.3f + 0.02f * i)], cov);
        var noise = GaussianPrior.Diagonal(backend, Shape, new float[16], [.. Enumerable.Range(0, 16).Select(i => 0.1f + 0.05f * (i / 4))]);
        return (signal, noise);
    }

    private static float[] Observation(int count) => [.. Enumerable.Range(0, 16 * count).Select(i => 0.2f + 0.01f * (i % 17))];

    public static TheoryData<string> Rules => new("pigdm", "dps", "projection");

    private static IDataConsistencyRule Rule(string name) => name switch
    {
        "pigdm" => new PigdmRule(),
        "dps" => new DpsRule(),
        _ => new ProjectionRule(),
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public void SameSeed_GivesIdenticalSamples_AndAnotherSeedDoesNot(string rule)
    {
        var backend = fixture.Get(BackendFixture.Simd);
        var (signal, noise) = Priors(backend);
        using var _s = signal;
        using var _n = noise;
        using var op = DiagonalOperator.Scalar(backend, Shape, 0.5f);
        var options = new SamplerOptions { Steps = 30, Rule = Rule(rule), NoiseGain = 0.5f, SamplesPerObservation = 3, Seed = 42 };
        var sampler = new JointSampler(signal, noise, op);
        var a = sampler.Sample(Observation(2), 2, options);
        var b = sampler.Sample(Observation(2), 2, options);
        var c = sampler.Sample(Observation(2), 2, options with { Seed = 43 });
        Assert.Equal(a.XSamples, b.XSamples);
        Assert.Equal(a.NSamples, b.NSamples);
        Assert.NotEqual(a.XSamples, c.XSamples);
        Assert.Equal(2 * 3 * 16, a.XSamples.Length);
        Assert.Equal(2 * 16, a.XMean.Length);
    }

    /// <summary>
    /// With per-observation seeds an observation's samples are those of a call with it alone and its seed,
    /// whatever shares the batch; without them the batch shares one stream (so the neighbours matter).
    /// </summary>
    [Theory]
    [MemberData(nameof(Rules))]
    public void ObservationSeeds_MakeEachResultIndependentOfItsBatch(string rule)
    {
        var backend = fixture.Get(BackendFixture.Simd);
        var (signal, noise) = Priors(backend);
        using var _s = signal;
        using var _n = noise;
        using var op = DiagonalOperator.Scalar(backend, Shape, 0.5f);
        var sampler = new JointSampler(signal, noise, op);
        var options = new SamplerOptions { Steps = 20, Rule = Rule(rule), NoiseGain = 0.5f, SamplesPerObservation = 2 };
        var three = Observation(3);
        var batch = sampler.Sample(three, 3, options with { ObservationSeeds = [11UL, 12UL, 13UL] });
        var alone = sampler.Sample(three.AsSpan(16, 16).ToArray(), 1, options with { Seed = 12 });
        var second = batch.Observation(1);
        for (int i = 0; i < alone.XSamples.Length; i++)
        {
            Assert.Equal(alone.XSamples[i], second.XSamples[i], 5e-6f);
            Assert.Equal(alone.NSamples![i], second.NSamples![i], 5e-6f);
        }

        var shared = sampler.Sample(three, 3, options with { Seed = 12 }).Observation(1);
        Assert.True(Enumerable.Range(0, alone.XSamples.Length).Max(i => Math.Abs(alone.XSamples[i] - shared.XSamples[i])) > 1e-3f);
        Assert.Throws<ArgumentException>(() => sampler.Sample(three, 3, options with { ObservationSeeds = [1UL, 2UL] }));
    }

    /// <summary>
    /// The same run on SIMD and on ILGPU's CPU accelerator. Both draw the same Philox noise; the ops agree to
    /// ~1e-6 relative, and 20 contracting reverse-diffusion steps keep the difference at that order: 1e-4
    /// absolute on values of order 1 leaves a wide margin without hiding a wrong op (which gives O(0.1)).
    /// </summary>
    [Theory]
    [MemberData(nameof(Rules))]
    public void SimdAndIlgpuCpu_GiveTheSameSamples(string rule)
    {
        float[]? reference = null;
        foreach (var name in new[] { BackendFixture.Simd, BackendFixture.IlgpuCpu })
        {
            var backend = fixture.Get(name);
            var (signal, noise) = Priors(backend);
            using var _s = signal;
            using var _n = noise;
            using var op = DenseOperator.CompressedSensing(backend, Shape, 2, seed: 3);
            var options = new SamplerOptions { Steps = 20, Rule = Rule(rule), Lambda = 0.3f, Kappa = 0.3f, NoiseGain = 1f, SamplesPerObservation = 2, Seed = 5 };
            var noiseModel = GaussianPrior.Diagonal(backend, [8], new float[8], [.. Enumerable.Repeat(0.2f, 8)]);
            using var _nm = noiseModel;
            var result = new JointSampler(signal, noiseModel, op).Sample([.. Enumerable.Range(0, 8).Select(i => 0.1f * i)], 1, options);
            if (reference is null)
            {
                reference = result.XSamples;
                continue;
            }

            for (int i = 0; i < reference.Length; i++)
            {
                Assert.True(Math.Abs(reference[i] - result.XSamples[i]) < 1e-4, $"element {i}: {reference[i]} vs {result.XSamples[i]}");
            }
        }
    }

    /// <summary>
    /// Evaluating the two networks (and their Jacobian products) at the same time, one per core, gives the samples of
    /// evaluating them one after the other, bit for bit: each network's ops are the same either way.
    /// </summary>
    [Theory]
    [MemberData(nameof(Rules))]
    public void ConcurrentNetworks_GiveTheSameSamplesAsOneAfterTheOther(string rule)
    {
        var backend = fixture.Get(BackendFixture.Simd);
        using var signal = Ncsnv2.CreateRandom(backend, 8, 1, seed: 1);
        using var noise = Ncsnv2.CreateRandom(backend, 8, 1, seed: 2);
        int[] image = [1, 8, 8];
        using var op = DiagonalOperator.Scalar(backend, image, 0.5f);
        var observation = Enumerable.Range(0, 64).Select(i => 0.3f + 0.01f * (i % 7)).ToArray();
        var options = new SamplerOptions
        {
            Steps = 12, Rule = Rule(rule), Lambda = 0.1f, Kappa = 0.1f, NoiseGain = 0.5f, SamplesPerObservation = 2, Seed = 9,
        };
        var sampler = new JointSampler(signal, noise, op);
        var concurrent = sampler.Sample(observation, 1, options);
        var sequential = sampler.Sample(observation, 1, options with { ConcurrentNetworks = false });
        Assert.Equal(sequential.XSamples, concurrent.XSamples);
        Assert.Equal(sequential.NSamples, concurrent.NSamples);
        Assert.Contains(concurrent.XSamples, v => v != 0f);
    }

    [Fact]
    public void InvalidOptionsAndShapes_AreRefusedBeforeSampling()
    {
        var backend = fixture.Get(BackendFixture.Simd);
        var (signal, noise) = Priors(backend);
        using var _s = signal;
        using var _n = noise;
        using var op = DiagonalOperator.Scalar(backend, Shape, 0.5f);
        var sampler = new JointSampler(signal, noise, op);
        var y = Observation(1);
        string Refusal(SamplerOptions o, float[]? obs = null) =>
            Assert.Throws<ArgumentException>(() => sampler.Sample(obs ?? y, 1, o)).Message;

        Assert.Contains("steps must be ≥ 1", Refusal(new SamplerOptions { Steps = 0 }));
        Assert.Contains("λ must be finite and ≥ 0", Refusal(new SamplerOptions { Lambda = -1 }));
        Assert.Contains("κ must be finite and ≥ 0", Refusal(new SamplerOptions { Kappa = float.NaN }));
        Assert.Contains("noise gain b", Refusal(new SamplerOptions { NoiseGain = 0 }));
        Assert.Contains("Expected 1 observation(s) of 16 values", Refusal(new SamplerOptions(), new float[15]));
        Assert.Contains("NaN or infinite", Refusal(new SamplerOptions(), [.. y.Select((v, i) => i == 3 ? float.NaN : v)]));

        // A prior whose image size does not match the operator's.
        using var bigOp = DiagonalOperator.Scalar(backend, [1, 8, 8], 0.5f);
        var e = Assert.Throws<ArgumentException>(() => new JointSampler(signal, noise, bigOp).Sample(new float[64], 1, new SamplerOptions()));
        Assert.Contains("models samples of shape [1, 4, 4]", e.Message);

        // Single-prior ΠGDM without white noise has no noise model at all.
        var single = new JointSampler(signal, null, op);
        Assert.Contains("σ_y > 0", Assert.Throws<ArgumentException>(() => single.Sample(y, 1, new SamplerOptions())).Message);
    }

    [Fact]
    public void DivergingRun_StopsWithAMessageNamingTheStep()
    {
        var backend = fixture.Get(BackendFixture.Simd);
        var (signal, noise) = Priors(backend);
        using var _s = signal;
        using var _n = noise;
        using var op = DenseOperator.CompressedSensing(backend, Shape, 2, seed: 1);
        using var noiseModel = GaussianPrior.Diagonal(backend, [8], new float[8], [.. Enumerable.Repeat(0.2f, 8)]);
        // Projection with λ far beyond its stability bound λ(‖A‖² + b²) < 2.
        var options = new SamplerOptions { Steps = 200, Rule = new ProjectionRule(), Lambda = 50f, Kappa = 50f, DivergenceCheckInterval = 10 };
        var e = Assert.Throws<SamplerDivergedException>(() => new JointSampler(signal, noiseModel, op).Sample(new float[8], 1, options));
        Assert.InRange(e.Step, 1, 200);
        Assert.Contains("Try smaller λ/κ", e.Message);
    }
}
