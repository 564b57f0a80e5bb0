using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Data;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Training;

namespace JointDiffusion.Cli.Commands;

/// <summary>
/// <c>jointdiff train</c>: denoising score matching of an NCSNv2 on a named data set or noise generator,
/// with periodic atomic checkpoints (<c>OUT.ckpt.safetensors</c>), the EMA weights (<c>OUT</c>), a CSV loss log
/// (<c>OUT.log.csv</c>) and a model card (<c>OUT.md</c>). <c>--resume</c> continues from the checkpoint.
/// </summary>
internal static class TrainCommand
{
    /// <summary>Training sources beyond the data-set catalog: structured-noise generators.</summary>
    public static readonly string[] GeneratorNames = ["letters", "sine", "rain"];

    /// <summary>Builds the command.</summary>
    public static Command Create(TextWriter stdout)
    {
        var data = new Option<string>("--data") { Description = $"Training data: {string.Join(", ", DatasetCatalog.Names.Concat(GeneratorNames))}.", Required = true };
        var dataDir = DataCommand.CreateFolderOption("--data-dir");
        var size = new Option<int>("--size") { Description = "Image height and width.", DefaultValueFactory = _ => 32 };
        var channels = new Option<int>("--channels") { Description = "Image channels (1 or 3).", DefaultValueFactory = _ => 1 };
        var ngf = new Option<int>("--ngf") { Description = "NCSNv2 base width.", DefaultValueFactory = _ => 32 };
        var steps = new Option<long>("--steps") { Description = "Train until this step (in all, counting resumed steps).", Required = true };
        var batch = new Option<int>("--batch") { Description = "Images per step.", DefaultValueFactory = _ => 32 };
        var lr = new Option<float>("--lr") { Description = "Adam learning rate.", DefaultValueFactory = _ => 5e-4f };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the initial weights, data order, times and noise.", DefaultValueFactory = _ => 1UL };
        var every = new Option<int>("--checkpoint-every") { Description = "Steps between checkpoints.", DefaultValueFactory = _ => 250 };
        var output = new Option<FileInfo>("--out") { Description = "Weights file to write (EMA weights, .safetensors).", Required = true };
        var resume = new Option<bool>("--resume") { Description = "Continue from OUT.ckpt.safetensors." };
        var device = DeviceOption.Create();
        var command = new Command("train", "Train an NCSNv2 score model by denoising score matching.")
        {
            data, dataDir, size, channels, ngf, steps, batch, lr, seed, every, output, resume, device,
        };
        command.SetAction(parse =>
        {
            var options = new TrainerOptions { Batch = parse.GetValue(batch), LearningRate = parse.GetValue(lr), Seed = parse.GetValue(seed) };
            long target = parse.GetValue(steps);
            int n = parse.GetValue(ngf), s = parse.GetValue(size), c = parse.GetValue(channels), checkpointEvery = parse.GetValue(every);
            try
            {
                options.Validate();
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }

            if (target < 1 || n < 1 || checkpointEvery < 1 || c is not (1 or 3) || s < 2 || s % 2 != 0)
            {
                throw new UsageException("--steps, --ngf and --checkpoint-every must be ≥ 1, --channels 1 or 3, --size even and ≥ 2.");
            }

            var kind = DeviceOption.Parse(parse.GetValue(device)!);
            var outFile = parse.GetValue(output)!;
            string weightsPath = outFile.FullName;
            string stem = Path.Combine(outFile.DirectoryName ?? ".", Path.GetFileNameWithoutExtension(outFile.Name));
            string checkpointPath = stem + ".ckpt.safetensors", logPath = stem + ".log.csv", cardPath = stem + ".md";
            bool resuming = parse.GetValue(resume);
            if (resuming && !File.Exists(checkpointPath))
            {
                throw new UsageException($"--resume: no checkpoint at {checkpointPath}.");
            }

            // Ctrl-C (SIGINT) and SIGTERM (what schedulers send) finish the current step, save a checkpoint and stop.
            // Registered before anything is printed or opened, so a signal sent as soon as the run reports itself
            // is never met by the runtime's default (terminate without a checkpoint).
            using var interrupt = new InterruptSignal();
            string dataName = parse.GetValue(data)!;
            var dataset = OpenData(dataName, DataLocator.Resolve(parse.GetValue(dataDir)), s, c, options.Seed);
            outFile.Directory?.Create();
            RemoveStaleTemporaries(outFile.DirectoryName ?? ".", [weightsPath, checkpointPath]);
            using var backend = DeviceSelector.Create(kind);
            using var trainer = resuming
                ? DsmTrainer.Resume(backend, checkpointPath, dataset, options)
                : new DsmTrainer(Ncsnv2.CreateRandom(backend, n, c, options.Seed), dataset, options);
            using var net = trainer.Network;
            if (trainer.Step >= target)
            {
                stdout.WriteLine($"The checkpoint is already at step {trainer.Step} ≥ --steps {target}; nothing to do.");
                return ExitCodes.Success;
            }

            string commandLine = "jointdiff " + string.Join(' ', parse.Tokens.Select(t => t.Value));
            stdout.WriteLine($"{(resuming ? $"Resuming at step {trainer.Step}" : "Training")} NCSNv2 ngf {net.Ngf} ({net.Parameters.Count:N0} parameters) on {dataset.Description}, " +
                $"batch {options.Batch}, lr {options.LearningRate.ToString(CultureInfo.InvariantCulture)}, until step {target}, on {backend.Description}");
            var card = new Dictionary<string, string> { ["command"] = commandLine };
            float smoothed = float.NaN;
            var printer = new Progress(p =>
            {
                smoothed = p.SmoothedLoss;
                if (p.Step % 50 == 0 || p.CheckpointWritten || p.Step == p.TargetSteps)
                {
                    double eta = (p.TargetSteps - p.Step) / Math.Max(p.StepsPerSecond, 1e-9);
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  step {p.Step}/{p.TargetSteps}  loss {p.Loss:F3} (last 100: {p.SmoothedLoss:F3})  {p.StepsPerSecond:F2} steps/s  ETA {TimeSpan.FromSeconds(eta):hh\\:mm\\:ss}{(p.CheckpointWritten ? "  [checkpoint]" : string.Empty)}"));
                }

                if (p.CheckpointWritten)
                {
                    WriteCard(cardPath, trainer, net, dataset, options, p.SmoothedLoss, commandLine, backend);
                }
            });
            try
            {
                trainer.Run(target, checkpointPath, weightsPath, logPath, checkpointEvery, card, printer, interrupt.Token);
            }
            catch (OperationCanceledException)
            {
                WriteCard(cardPath, trainer, net, dataset, options, smoothed, commandLine, backend);
                stdout.WriteLine($"Interrupted at step {trainer.Step}; the checkpoint and weights are saved. Continue with the same command and --resume.");
                return ExitCodes.Interrupted;
            }

            stdout.WriteLine($"Wrote {weightsPath}, {checkpointPath}, {logPath} and {cardPath}.");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>
    /// Deletes the temporary files an earlier run left when it was killed while writing (the atomic writer
    /// names them .NAME.GUID.tmp beside the target; the target itself is never half-written).
    /// </summary>
    private static void RemoveStaleTemporaries(string directory, string[] targets)
    {
        foreach (var target in targets)
        {
            foreach (var stale in Directory.EnumerateFiles(directory, $".{Path.GetFileName(target)}.*.tmp"))
            {
                File.Delete(stale);
            }
        }
    }

    /// <summary>Opens a catalog data set or a noise generator by name.</summary>
    private static IImageDataset OpenData(string name, DataLocator locator, int size, int channels, ulong seed)
    {
        var options = new DatasetOptions { Size = size, Channels = channels, Seed = seed };
        try
        {
            if (DatasetCatalog.TryOpen(name, locator, options, out var dataset))
            {
                return dataset;
            }
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }

        IImageDataset grey = name switch
        {
            "letters" => new LetterNoiseGenerator(locator.FontsFolder, size, size),
            "sine" => SinusoidalNoiseGenerator.PerRow(channels, size, size, seed),
            "rain" => new RainNoiseGenerator(channels, size, size, seed),
            _ => throw new UsageException($"--data '{name}' is not one of {string.Join(", ", DatasetCatalog.Names.Concat(GeneratorNames))}."),
        };
        return name == "letters" && channels == 3 ? new DigitNoiseGenerator(grey, 3, NoiseChannelPlacement.RandomChannel, seed) : grey;
    }

    /// <summary>The model card beside the weights: everything needed to reproduce and judge them.</summary>
    private static void WriteCard(string path, DsmTrainer trainer, Ncsnv2 net, IImageDataset data, TrainerOptions options, float loss, string command, ComputeBackend backend)
    {
        string machine = $"{Environment.ProcessorCount} logical CPUs, {backend.Description}";
        var text = string.Create(CultureInfo.InvariantCulture, $"""
            # {Path.GetFileNameWithoutExtension(path)}

            NCSNv2 score model trained by denoising score matching with `jointdiff train` (VE-SDE, σ = 25).

            | field | value |
            |---|---|
            | data | {data.Description} |
            | image size | {data.Height}x{data.Width}x{data.Channels} |
            | ngf | {net.Ngf} ({net.Parameters.Count:N0} parameters) |
            | steps | {trainer.Step} |
            | batch | {options.Batch} |
            | learning rate | {options.LearningRate} (Adam β = {options.Beta1}/{options.Beta2}, gradient clip {options.GradientClip}) |
            | EMA decay | {options.EmaDecay} (the weights file holds the EMA weights) |
            | seed | {options.Seed} |
            | loss (mean of the last 100 steps) | {loss:F3} |
            | wall time | {trainer.Elapsed.TotalMinutes:F1} min |
            | machine | {machine} |
            | command | `{command}` |

            The loss curve is in the `.log.csv` beside this file; the training checkpoint (`.ckpt.safetensors`)
            resumes the run exactly with `--resume`.
            """);
        File.WriteAllText(path + ".tmp", text + Environment.NewLine);
        File.Move(path + ".tmp", path, overwrite: true);
    }

    private sealed class Progress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
