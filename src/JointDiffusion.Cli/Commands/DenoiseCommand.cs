using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Sampling;
using JointDiffusion.Gpu.Sampling.Rules;

namespace JointDiffusion.Cli.Commands;

/// <summary>
/// <c>jointdiff denoise</c>: posterior samples of the signal (and the structured noise) for an observation
/// y = A x + b n, with a signal prior and either a noise prior (joint) or white noise of a given std
/// (single-prior baseline). The input is one observation file or a folder of images (optionally one shard of
/// it, resumable; <see cref="DenoiseFolderRun"/> and docs/MANY_IMAGES.md).
/// </summary>
internal static class DenoiseCommand
{
    /// <summary>Images per batch of a folder run when --batch is not given.</summary>
    public const int DefaultBatch = 8;

    /// <summary>Default λ/κ per rule: the values tuned on mnist-on-fashion (see <see cref="Eval.TunedWeights"/>).</summary>
    public static (float Lambda, float Kappa) DefaultWeights(string rule) => Eval.TunedWeights.Default(rule);

    /// <summary>Builds the command.</summary>
    public static Command Create(TextWriter stdout) => Create(stdout, CancellationToken.None);

    /// <summary>
    /// Builds the command; cancelling <paramref name="interrupt"/> acts as SIGINT/SIGTERM do (tests use it to
    /// interrupt a run at a chosen point).
    /// </summary>
    internal static Command Create(TextWriter stdout, CancellationToken interrupt)
    {
        var signalPrior = new Option<FileInfo>("--signal-prior") { Description = "Signal score model (.safetensors: ncsnv2 or gaussian).", Required = true };
        var noisePrior = new Option<FileInfo?>("--noise-prior") { Description = "Structured-noise score model (joint sampling)." };
        var noiseStd = new Option<float?>("--noise-std") { Description = "Single-prior baseline: the noise is white with this std (instead of --noise-prior)." };
        var input = new Option<string>("--input")
        {
            Description = "Observation: an image (png/jpg/bmp/gif), a .safetensors with tensor y [B, ...] or [...], " +
                "or a folder of images (every png/jpg/jpeg/bmp/gif in it, sorted by name; see docs/MANY_IMAGES.md).",
            Required = true,
        };
        var op = new Option<string>("--operator") { Description = $"Measurement operator A: {OperatorSpec.Forms}.", DefaultValueFactory = _ => "identity" };
        var gain = new Option<float>("--noise-gain") { Description = "b in y = A x + b n.", DefaultValueFactory = _ => 1f };
        var sigmaY = new Option<float>("--sigma-y") { Description = "Extra white measurement noise std (joint mode).", DefaultValueFactory = _ => 0f };
        var rule = new Option<string>("--rule") { Description = "Data-consistency rule: pigdm | dps | projection.", DefaultValueFactory = _ => "pigdm" };
        var lambda = new Option<float?>("--lambda") { Description = "Signal step weight λ (default per rule, tuned on mnist-on-fashion at T = 300: pigdm 1.9, dps 1.75, projection 1)." };
        var kappa = new Option<float?>("--kappa") { Description = "Noise step weight κ (default per rule: pigdm 1.13, dps 2.125, projection 1)." };
        var steps = new Option<int>("--steps") { Description = "Reverse-diffusion steps T.", DefaultValueFactory = _ => 300 };
        var samples = new Option<int>("--samples") { Description = "Posterior samples K per observation.", DefaultValueFactory = _ => 1 };
        var seed = new Option<ulong>("--seed") { Description = "Random seed (for a folder, each image's seed is derived from it and the file name).", DefaultValueFactory = _ => 1UL };
        var imageSize = new Option<int?>("--image-size") { Description = "Signal height = width for an NCSNv2 prior: for compressed sensing (the input is then a vector), or the size every image of a folder must have." };
        var outDir = new Option<DirectoryInfo>("--out") { Description = "Output folder.", Required = true };
        var shard = new Option<string?>("--shard") { Description = "Folder input: handle only the files at sorted positions i with i % COUNT == INDEX (INDEX/COUNT, 0-based, e.g. 0/4)." };
        var batch = new Option<int?>("--batch") { Description = $"Folder input: images per batch (progress is reported and results are on disk after each); default {DefaultBatch}." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Folder input: recompute images whose result files exist already (they are skipped otherwise)." };
        var device = DeviceOption.Create();
        var command = new Command("denoise", "Remove structured noise: joint posterior sampling of signal and noise.")
        {
            signalPrior, noisePrior, noiseStd, input, op, gain, sigmaY, rule, lambda, kappa, steps, samples, seed, imageSize, outDir,
            shard, batch, overwrite, device,
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

            string inputPath = parse.GetValue(input)!;
            bool folder = Directory.Exists(inputPath);
            var shardText = parse.GetValue(shard);
            var batchSize = parse.GetValue(batch);
            bool overwriteAll = parse.GetValue(overwrite);
            var dir = parse.GetValue(outDir)!;
            DenoiseShard shardValue = DenoiseShard.All;
            if (folder)
            {
                shardValue = shardText is null ? DenoiseShard.All : DenoiseShard.Parse(shardText);
                if (batchSize is < 1)
                {
                    throw new UsageException($"--batch must be ≥ 1; got {batchSize}.");
                }

                if (spec.IsCompressedSensing)
                {
                    throw new UsageException("--operator cs measures vectors, so its observations come as a .safetensors tensor 'y', not a folder of images.");
                }

                if (Path.GetFullPath(inputPath).TrimEnd(Path.DirectorySeparatorChar) == dir.FullName.TrimEnd(Path.DirectorySeparatorChar))
                {
                    throw new UsageException("--out must not be the --input folder (the results are images and would be read as inputs by the next run).");
                }
            }
            else if (shardText is not null || batchSize is not null || overwriteAll)
            {
                throw new UsageException($"--shard, --batch and --overwrite apply to a folder --input; {inputPath} is not a folder.");
            }

            var signalFile = parse.GetValue(signalPrior)!;
            var kind = DeviceOption.Parse(parse.GetValue(device)!);
            if (!folder && !File.Exists(inputPath))
            {
                throw new FileNotFoundException($"{Path.GetFullPath(inputPath)} does not exist.");
            }

            foreach (var f in new[] { signalFile, noiseFile })
            {
                if (f is not null && !f.Exists)
                {
                    throw new FileNotFoundException($"{f.FullName} does not exist.");
                }
            }

            // Ctrl-C (SIGINT) and SIGTERM (what schedulers send) cancel the sampler; finished results stay, nothing half-written.
            using var cancel = new InterruptSignal(interrupt);

            // ---- models
            using var backend = DeviceSelector.Create(kind);
            using var signal = ScoreModelFile.Load(backend, signalFile.FullName);
            using var noise = joint ? ScoreModelFile.Load(backend, noiseFile!.FullName) : null;
            string header = $"{(joint ? "Joint" : "Single-prior")} {dcRule.Name} (λ {options.Lambda.ToString(CultureInfo.InvariantCulture)}, κ {options.Kappa.ToString(CultureInfo.InvariantCulture)})";
            if (folder)
            {
                var run = new DenoiseFolderRun
                {
                    Folder = DenoiseFolder.List(inputPath),
                    OutDir = dir.FullName,
                    Shard = shardValue,
                    Batch = batchSize ?? DefaultBatch,
                    Overwrite = overwriteAll,
                    Signal = signal,
                    Noise = noise,
                    Operator = spec,
                    ImageSize = parse.GetValue(imageSize),
                    Options = options,
                    Metadata = new Dictionary<string, string> { ["command"] = "jointdiff " + string.Join(' ', parse.Tokens.Select(t => t.Value)) },
                    Backend = backend,
                    Header = header,
                };
                return run.Run(stdout, parse.InvocationConfiguration.Error, cancel.Token);
            }

            // ---- one observation file
            var observation = Observation.Load(inputPath, signal, spec, parse.GetValue(imageSize));
            using var measurement = spec.Create(backend, observation.SignalShape);
            if (!observation.MeasurementShape.SequenceEqual(measurement.MeasurementShape))
            {
                throw new InvalidDataException(
                    $"{Path.GetFileName(inputPath)}: the observation is [{string.Join(", ", observation.MeasurementShape)}] per sample but {measurement.Description} measures [{string.Join(", ", measurement.MeasurementShape)}].");
            }

            stdout.WriteLine($"{header}, {measurement.Description}, {observation.Count} observation(s) × {options.SamplesPerObservation} sample(s), {options.Steps} steps on {backend.Description}");

            // ---- sampling
            var sampler = new JointSampler(signal, noise, measurement);
            PosteriorSamples result;
            try
            {
                result = sampler.Sample(observation.Values, observation.Count, options, new ProgressPrinter(stdout, options.Steps), cancel.Token);
            }
            catch (OperationCanceledException)
            {
                stdout.WriteLine("Interrupted before the sampler finished; nothing was written.");
                return DenoiseFolderRun.Interrupted;
            }

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
