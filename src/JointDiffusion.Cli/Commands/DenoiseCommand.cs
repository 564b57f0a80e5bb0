using System.CommandLine;
using System.Globalization;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Sampling;
using JointDiffusion.Gpu.Sampling.Rules;

namespace JointDiffusion.Cli.Commands;

/// <summary>
/// <c>jointdiff denoise</c>: posterior samples of the signal (and the structured noise) for an observation
/// y = A x + b n, with a signal prior and either a noise prior (joint) or white noise of a given std
/// (single-prior baseline).
/// </summary>
internal static class DenoiseCommand
{
    /// <summary>Default λ/κ per rule (see README: tuned values replace these once the tuner has run).</summary>
    public static (float Lambda, float Kappa) DefaultWeights(string rule) => rule switch
    {
        "dps" => (5f, 5f),
        _ => (1f, 1f),
    };

    /// <summary>Builds the command.</summary>
    public static Command Create(TextWriter stdout)
    {
        var signalPrior = new Option<FileInfo>("--signal-prior") { Description = "Signal score model (.safetensors: ncsnv2 or gaussian).", Required = true };
        var noisePrior = new Option<FileInfo?>("--noise-prior") { Description = "Structured-noise score model (joint sampling)." };
        var noiseStd = new Option<float?>("--noise-std") { Description = "Single-prior baseline: the noise is white with this std (instead of --noise-prior)." };
        var input = new Option<FileInfo>("--input") { Description = "Observation: an image (png/jpg/bmp/gif) or .safetensors with tensor y [B, ...] or [...].", Required = true };
        var op = new Option<string>("--operator") { Description = $"Measurement operator A: {OperatorSpec.Forms}.", DefaultValueFactory = _ => "identity" };
        var gain = new Option<float>("--noise-gain") { Description = "b in y = A x + b n.", DefaultValueFactory = _ => 1f };
        var sigmaY = new Option<float>("--sigma-y") { Description = "Extra white measurement noise std (joint mode).", DefaultValueFactory = _ => 0f };
        var rule = new Option<string>("--rule") { Description = "Data-consistency rule: pigdm | dps | projection.", DefaultValueFactory = _ => "pigdm" };
        var lambda = new Option<float?>("--lambda") { Description = "Signal step weight λ (default per rule: pigdm 1, dps 5, projection 1)." };
        var kappa = new Option<float?>("--kappa") { Description = "Noise step weight κ (default per rule, as λ)." };
        var steps = new Option<int>("--steps") { Description = "Reverse-diffusion steps T.", DefaultValueFactory = _ => 300 };
        var samples = new Option<int>("--samples") { Description = "Posterior samples K per observation.", DefaultValueFactory = _ => 1 };
        var seed = new Option<ulong>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 1UL };
        var imageSize = new Option<int?>("--image-size") { Description = "Signal height = width for compressed sensing with an NCSNv2 prior (the input is then a vector)." };
        var outDir = new Option<DirectoryInfo>("--out") { Description = "Output folder.", Required = true };
        var device = DeviceOption.Create();
        var command = new Command("denoise", "Remove structured noise: joint posterior sampling of signal and noise.")
        {
            signalPrior, noisePrior, noiseStd, input, op, gain, sigmaY, rule, lambda, kappa, steps, samples, seed, imageSize, outDir, device,
        };
        command.SetAction(parse =>
        {
            // ---- options, all checked before anything runs
            var spec = OperatorSpec.Parse(parse.GetValue(op)!);
            string ruleName = parse.GetValue(rule)!;
            IDataConsistencyRule dcRule = ruleName switch
            {
                "pigdm" => new PigdmRule(),
                "dps" => new DpsRule(),
                "projection" => new ProjectionRule(),
                _ => throw new UsageException($"--rule must be pigdm, dps or projection; got '{ruleName}'."),
            };
            var noiseFile = parse.GetValue(noisePrior);
            var whiteStd = parse.GetValue(noiseStd);
            if ((noiseFile is null) == (whiteStd is null))
            {
                throw new UsageException("Give exactly one of --noise-prior (joint sampling) and --noise-std (single-prior baseline).");
            }

            var (defaultLambda, defaultKappa) = DefaultWeights(ruleName);
            bool joint = noiseFile is not null;
            var options = new SamplerOptions
            {
                Steps = parse.GetValue(steps),
                Rule = dcRule,
                Lambda = parse.GetValue(lambda) ?? defaultLambda,
                Kappa = parse.GetValue(kappa) ?? defaultKappa,
                NoiseGain = parse.GetValue(gain),
                SigmaY = joint ? parse.GetValue(sigmaY) : whiteStd!.Value,
                SamplesPerObservation = parse.GetValue(samples),
                Seed = parse.GetValue(seed),
            };
            try
            {
                options.Validate(joint);
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }

            var inputFile = parse.GetValue(input)!;
            var signalFile = parse.GetValue(signalPrior)!;
            foreach (var f in new[] { inputFile, signalFile, noiseFile })
            {
                if (f is not null && !f.Exists)
                {
                    throw new FileNotFoundException($"{f.FullName} does not exist.");
                }
            }

            var kind = DeviceOption.Parse(parse.GetValue(device)!);
            var dir = parse.GetValue(outDir)!;

            // ---- models and observation
            using var backend = DeviceSelector.Create(kind);
            using var signal = ScoreModelFile.Load(backend, signalFile.FullName);
            using var noise = joint ? ScoreModelFile.Load(backend, noiseFile!.FullName) : null;
            var observation = Observation.Load(inputFile.FullName, signal, spec, parse.GetValue(imageSize));
            using var measurement = spec.Create(backend, observation.SignalShape);
            if (!observation.MeasurementShape.SequenceEqual(measurement.MeasurementShape))
            {
                throw new InvalidDataException(
                    $"{inputFile.Name}: the observation is [{string.Join(", ", observation.MeasurementShape)}] per sample but {measurement.Description} measures [{string.Join(", ", measurement.MeasurementShape)}].");
            }

            stdout.WriteLine($"{(joint ? "Joint" : "Single-prior")} {dcRule.Name} (λ {options.Lambda.ToString(CultureInfo.InvariantCulture)}, κ {options.Kappa.ToString(CultureInfo.InvariantCulture)}), " +
                $"{measurement.Description}, {observation.Count} observation(s) × {options.SamplesPerObservation} sample(s), {options.Steps} steps on {backend.Description}");

            // ---- sampling
            var sampler = new JointSampler(signal, noise, measurement);
            var result = sampler.Sample(observation.Values, observation.Count, options, new ProgressPrinter(stdout, options.Steps));

            // ---- outputs
            dir.Create();
            var written = DenoiseOutputs.Write(dir.FullName, result, observation.Names);
            stdout.WriteLine($"Wrote {written.Count} file(s) to {dir.FullName}: {string.Join(", ", written.Take(6))}{(written.Count > 6 ? ", ..." : string.Empty)}");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Prints a progress line about every 10% of the steps.</summary>
    private sealed class ProgressPrinter(TextWriter output, int steps) : IProgress<SamplingProgress>
    {
        private int _nextPercent = 10;

        public void Report(SamplingProgress value)
        {
            int percent = (int)(100L * value.Step / steps);
            if (percent < _nextPercent && value.Step != steps)
            {
                return;
            }

            _nextPercent = percent / 10 * 10 + 10;
            double eta = value.Elapsed.TotalSeconds / value.Step * (steps - value.Step);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  step {value.Step}/{steps} ({percent}%), {value.Elapsed.TotalSeconds:F1} s elapsed, ETA {eta:F1} s"));
        }
    }
}
