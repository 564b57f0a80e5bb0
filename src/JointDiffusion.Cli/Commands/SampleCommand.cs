using System.CommandLine;
using System.Globalization;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Sampling;

namespace JointDiffusion.Cli.Commands;

/// <summary><c>jointdiff sample</c>: unconditional samples of a score model, as a PNG grid (and tensors).</summary>
internal static class SampleCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(TextWriter stdout)
    {
        var weights = new Option<FileInfo>("--weights") { Description = "Score model (.safetensors).", Required = true };
        var count = new Option<int>("--count") { Description = "Number of samples.", DefaultValueFactory = _ => 16 };
        var size = new Option<int>("--size") { Description = "Image height and width (NCSNv2; Gaussian priors use their own shape).", DefaultValueFactory = _ => 32 };
        var steps = new Option<int>("--steps") { Description = "Reverse-diffusion steps.", DefaultValueFactory = _ => 600 };
        var seed = new Option<ulong>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 1UL };
        var columns = new Option<int>("--columns") { Description = "Grid columns.", DefaultValueFactory = _ => 8 };
        var output = new Option<FileInfo>("--out") { Description = "Output PNG grid (a .safetensors with tensor 'samples' is written beside it).", Required = true };
        var device = DeviceOption.Create();
        var command = new Command("sample", "Draw unconditional samples from a score model.") { weights, count, size, steps, seed, columns, output, device };
        command.SetAction(parse =>
        {
            int n = parse.GetValue(count), s = parse.GetValue(size), t = parse.GetValue(steps), cols = parse.GetValue(columns);
            if (n < 1 || t < 1 || cols < 1 || s < 2 || s % 2 != 0)
            {
                throw new UsageException("--count, --steps and --columns must be ≥ 1 and --size even and ≥ 2.");
            }

            var kind = DeviceOption.Parse(parse.GetValue(device)!);
            var file = parse.GetValue(weights)!;
            if (!file.Exists)
            {
                throw new FileNotFoundException($"{file.FullName} does not exist.");
            }

            using var backend = DeviceSelector.Create(kind);
            using var model = ScoreModelFile.Load(backend, file.FullName);
            int[] shape = model switch
            {
                Ncsnv2 net => [net.Channels, s, s],
                GaussianPrior g => [.. g.SampleShape],
                _ => throw new InvalidDataException("Unknown model kind."),
            };
            stdout.WriteLine($"Sampling {n} x [{string.Join(", ", shape)}] with {t} steps on {backend.Description}");
            int lastTenth = 0;
            var samples = new UnconditionalSampler(model).Sample(n, shape, t, parse.GetValue(seed), progress: new Progress(p =>
            {
                if (p.Step * 10 / p.Steps > lastTenth || p.Step == p.Steps)
                {
                    lastTenth = p.Step * 10 / p.Steps;
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  step {p.Step}/{p.Steps}, {p.Elapsed.TotalSeconds:F1} s"));
                }
            }));
            var outFile = parse.GetValue(output)!;
            outFile.Directory?.Create();
            SafetensorsWriter.Write(Path.ChangeExtension(outFile.FullName, ".safetensors"), [new SafetensorsTensor("samples", [n, .. shape], samples)]);
            if (shape.Length == 3 && shape[0] is 1 or 3)
            {
                int per = shape[0] * shape[1] * shape[2];
                var images = Enumerable.Range(0, n).Select(i => new PlanarImage(samples.AsSpan(i * per, per).ToArray(), shape[0], shape[1], shape[2])).ToList();
                var rows = images.Chunk(cols).Select(r => (IReadOnlyList<PlanarImage>)r).ToList();
                ImageGrid.SavePng(outFile.FullName, rows, padding: 2, paddingGrey: 1f, scale: 2);
                stdout.WriteLine($"Wrote {outFile.FullName}");
            }

            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Synchronous progress callback (System.Progress posts to a sync context).</summary>
    private sealed class Progress(Action<SamplingProgress> report) : IProgress<SamplingProgress>
    {
        public void Report(SamplingProgress value) => report(value);
    }
}
