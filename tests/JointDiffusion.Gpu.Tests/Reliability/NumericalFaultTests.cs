using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Sampling;
using JointDiffusion.Gpu.Sampling.Operators;
using JointDiffusion.Gpu.Sampling.Rules;
using JointDiffusion.Gpu.Tests.Ops;

namespace JointDiffusion.Gpu.Tests.Reliability;

/// <summary>
/// Numerical faults: NaN and infinity in observations and weights, and a sampler driven to divergence by a huge
/// λ/κ. Each is refused or stopped with a message that says what and where, and nothing is written.
/// </summary>
[Collection(BackendCollection.Name)]
public sealed class NumericalFaultTests(BackendFixture fixture) : IDisposable
{
    private static readonly int[] Shape = [1, 4, 4];

    private readonly CliFixture _cli = new(Directory.CreateTempSubdirectory("jointdiff-numerical-").FullName);

    public void Dispose() => Directory.Delete(_cli.Directory, recursive: true);

    private static (GaussianPrior Signal, GaussianPrior Noise) Priors(ComputeBackend backend) =>
        (GaussianPrior.Diagonal(backend, Shape, [.. Enumerable.Range(0, 16).Select(i => 0.3f + 0.02f * i)], [.. Enumerable.Repeat(0.3f, 16)]),
         GaussianPrior.Diagonal(backend, Shape, new float[16], [.. Enumerable.Repeat(0.2f, 16)]));

    public static TheoryData<float> NonFinite => new(float.NaN, float.PositiveInfinity, float.NegativeInfinity);

    [Theory]
    [MemberData(nameof(NonFinite))]
    public void Observation_WithNaNOrInfinity_IsRefusedBeforeSampling(float bad)
    {
        var backend = fixture.Get(BackendFixture.Simd);
        var (signal, noise) = Priors(backend);
        using var _s = signal;
        using var _n = noise;
        using var op = DiagonalOperator.Scalar(backend, Shape, 0.5f);
        float[] y = [.. Enumerable.Repeat(0.25f, 32)];
        y[21] = bad;
        var progress = new List<SamplingProgress>();

        var e = Assert.Throws<ArgumentException>(() =>
            new JointSampler(signal, noise, op).Sample(y, 2, new SamplerOptions { Steps = 5 }, new Progress(progress.Add)));

        Assert.Contains("NaN or infinite", e.Message);
        Assert.Empty(progress);
    }

    /// <summary>
    /// ΠGDM and projection with λ = κ = 10⁶, far past their stability bounds ((λa² + κb²)/(a² + b²) &lt; 2 and
    /// λ(a² + b²) &lt; 2): the state overflows within a few steps; the sampler stops at the next check with a message
    /// naming the step and suggesting smaller λ/κ. (DPS normalises its step by the residual norm, so its state
    /// grows only linearly in λ and does not overflow.)
    /// </summary>
    [Theory]
    [InlineData("pigdm")]
    [InlineData("projection")]
    public void HugeLambdaKappa_Diverges_WithTheStepAndAdviceInTheMessage(string rule)
    {
        var backend = fixture.Get(BackendFixture.Simd);
        var (signal, noise) = Priors(backend);
        using var _s = signal;
        using var _n = noise;
        using var op = DiagonalOperator.Scalar(backend, Shape, 0.5f);
        var options = new SamplerOptions
        {
            Steps = 60,
            Rule = rule == "pigdm" ? new PigdmRule() : new ProjectionRule(),
            Lambda = 1e6f,
            Kappa = 1e6f,
            NoiseGain = 0.5f,
            DivergenceCheckInterval = 5,
        };
        int lastReported = 0;

        var e = Assert.Throws<SamplerDivergedException>(() => new JointSampler(signal, noise, op).Sample(
            [.. Enumerable.Repeat(0.3f, 16)], 1, options, new Progress(p => lastReported = p.Step)));

        // The check runs every 5 steps: the step named is a multiple of 5 (or the last), and no step after it ran.
        Assert.InRange(e.Step, 1, 60);
        Assert.True(e.Step % 5 == 0 || e.Step == 60, $"step {e.Step}");
        Assert.Equal(e.Step - 1, lastReported);
        Assert.Contains($"by step {e.Step} of 60", e.Message);
        Assert.Contains($"rule {rule}", e.Message);
        Assert.Contains("Try smaller λ/κ", e.Message);
    }

    [Fact]
    public void ReasonableLambdaKappa_DoNotDiverge()
    {
        // The control for the test above: the same problem at λ = κ = 1 finishes with finite samples.
        var backend = fixture.Get(BackendFixture.Simd);
        var (signal, noise) = Priors(backend);
        using var _s = signal;
        using var _n = noise;
        using var op = DiagonalOperator.Scalar(backend, Shape, 0.5f);

        var result = new JointSampler(signal, noise, op).Sample([.. Enumerable.Repeat(0.3f, 16)], 1,
            new SamplerOptions { Steps = 60, NoiseGain = 0.5f, DivergenceCheckInterval = 5 });

        Assert.All(result.XSamples, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Cli_DenoiseThatDiverges_ExitsOneWithStepAndAdvice_AndWritesNoFiles()
    {
        _cli.WriteGaussianPriors();
        string outDir = _cli.PathOf("out");

        var (code, output, err) = CliFixture.Run("denoise", "--signal-prior", _cli.PathOf("signal.safetensors"), "--noise-prior", _cli.PathOf("noise.safetensors"),
            "--input", _cli.PathOf("y.png"), "--operator", "scale:0.5", "--noise-gain", "0.5", "--lambda", "1e6", "--kappa", "1e6", "--steps", "50",
            "--out", outDir, "--device", "cpu");

        Assert.True(code == 1, output + err);
        Assert.StartsWith("error: The sampler diverged", err);
        Assert.Matches(@"by step \d+ of 50", err);
        Assert.Contains("Try smaller λ/κ", err);
        CliFixture.AssertNoStackTrace(err);
        Assert.False(Directory.Exists(outDir), "an output folder was created for a diverged run");
    }

    [Theory]
    [MemberData(nameof(NonFinite))]
    public void Cli_DenoiseWithANonFiniteObservation_ExitsOneNamingTheValue_AndWritesNothing(float bad)
    {
        _cli.WriteGaussianPriors();
        var y = Enumerable.Repeat(0.25f, 64).ToArray();
        y[10] = bad;
        SafetensorsWriter.Write(_cli.PathOf("y.safetensors"), [new SafetensorsTensor("y", [1, 8, 8], y)]);
        string outDir = _cli.PathOf("out");

        var (code, output, err) = CliFixture.Run("denoise", "--signal-prior", _cli.PathOf("signal.safetensors"), "--noise-prior", _cli.PathOf("noise.safetensors"),
            "--input", _cli.PathOf("y.safetensors"), "--steps", "5", "--out", outDir, "--device", "cpu");

        Assert.True(code == 1, output + err);
        Assert.Contains("y.safetensors: 'y' contains NaN or infinite values", err);
        Assert.Contains("at flat index 10 of 64", err);
        Assert.Contains(bad.ToString(System.Globalization.CultureInfo.InvariantCulture), err);
        CliFixture.AssertNoStackTrace(err);
        Assert.DoesNotContain("step", output);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void RequireFinite_NamesTheTensorValueAndPosition()
    {
        var data = new float[2 * 3 * 4];
        data[17] = float.NegativeInfinity;
        byte[] file = WriteToBytes([new SafetensorsTensor("ok", [2], [1f, 2f]), new SafetensorsTensor("conv.weight", [2, 3, 4], data)]);

        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsReader.Read(file, "w.safetensors").RequireFinite());

        // Flat index 17 of [2, 3, 4] is [1, 1, 1] (17 = 1·12 + 1·4 + 1).
        Assert.Equal("conv.weight", e.TensorName);
        Assert.StartsWith("w.safetensors: tensor 'conv.weight' holds -∞ at [1, 1, 1] (flat index 17 of 24)", e.Message.Replace("-Infinity", "-∞"));
        Assert.Equal("ok", SafetensorsReader.Read(WriteToBytes([new SafetensorsTensor("ok", [2], [1f, 2f])]), "fine").RequireFinite().Tensors[0].Name);
    }

    [Theory]
    [InlineData(0x7FC00000u)] // quiet NaN
    [InlineData(0x7F800001u)] // signalling NaN
    [InlineData(0xFFFFFFFFu)] // NaN with the sign bit
    [InlineData(0x7F800000u)] // +∞
    public void IndexOfNonFinite_FindsEveryNaNAndInfinityPattern_AndNothingElse(uint bits)
    {
        float[] data = [0f, -0f, float.MaxValue, float.MinValue, float.Epsilon, BitConverter.UInt32BitsToSingle(bits), 1f];
        Assert.Equal(5, new SafetensorsTensor("t", [7], data).IndexOfNonFinite());
        Assert.Equal(-1, new SafetensorsTensor("t", [5], data[..5]).IndexOfNonFinite());
    }

    /// <summary>
    /// What happens today with a NaN in the weights: the model loads, the sampler's state turns NaN and the run
    /// stops with exit 1 before writing anything. Required here: exit 1, no output, no stack trace; the message
    /// is today the divergence message (see the skipped test below for the one it should be).
    /// </summary>
    [Theory]
    [InlineData("gaussian")]
    [InlineData("ncsnv2")]
    public void Cli_DenoiseWithNaNInTheWeights_ExitsOne_AndWritesNothing(string arch)
    {
        _cli.WriteGaussianPriors();
        string weights = arch == "gaussian" ? WriteGaussianWithNaN() : WriteNcsnv2WithNaN();
        string input = arch == "gaussian" ? _cli.PathOf("y.png") : WriteObservation32();
        string outDir = _cli.PathOf("out");

        var (code, output, err) = CliFixture.Run("denoise", "--signal-prior", weights, "--noise-std", "0.1",
            "--input", input, "--steps", "3", "--out", outDir, "--device", "cpu");

        Assert.True(code == 1, output + err);
        Assert.StartsWith("error: ", err);
        CliFixture.AssertNoStackTrace(err);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void NaNInNcsnv2Weights_IsRefusedAtLoad_NamingTheTensor()
    {
        string weights = WriteNcsnv2WithNaN();
        var backend = fixture.Get(BackendFixture.Simd);

        var e = Assert.Throws<SafetensorsFormatException>(() => ScoreModelFile.Load(backend, weights).Dispose());

        Assert.Equal("res1.0.conv1.weight", e.TensorName);
        Assert.Contains("NaN", e.Message);
    }

    private string WriteGaussianWithNaN()
    {
        var mean = Enumerable.Repeat(0.5f, 64).ToArray();
        mean[5] = float.NaN;
        string path = _cli.PathOf("nan-gaussian.safetensors");
        SafetensorsWriter.Write(path, [new("mean", [1, 8, 8], mean), new("std", [1, 8, 8], Enumerable.Repeat(0.2f, 64).ToArray())],
            new Dictionary<string, string> { ["arch"] = "gaussian" });
        return path;
    }

    /// <summary>The committed ngf-8 32×32 grey NCSNv2 fixture's weights with one NaN in a deep conv.</summary>
    private string WriteNcsnv2WithNaN()
    {
        string path = _cli.PathOf("nan-ncsnv2.safetensors");
        Ncsnv2FixtureWeights.Write(path, weights => weights["res1.0.conv1.weight"].Data[3] = float.NaN);
        return path;
    }

    private string WriteObservation32()
    {
        string path = _cli.PathOf("y32.png");
        ImageFile.SavePng(path, new PlanarImage([.. Enumerable.Range(0, 1024).Select(i => (i % 32) / 32f)], 1, 32, 32));
        return path;
    }

    private static byte[] WriteToBytes(IReadOnlyList<SafetensorsTensor> tensors)
    {
        using var stream = new MemoryStream();
        SafetensorsWriter.Write(stream, tensors);
        return stream.ToArray();
    }

    private sealed class Progress(Action<SamplingProgress> report) : IProgress<SamplingProgress>
    {
        public void Report(SamplingProgress value) => report(value);
    }
}
