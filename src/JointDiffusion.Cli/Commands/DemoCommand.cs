using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Metrics;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Sampling;
using JointDiffusion.Gpu.Sampling.Operators;
using JointDiffusion.Gpu.Sampling.Rules;

namespace JointDiffusion.Cli.Commands;

/// <summary>
/// <c>jointdiff demo</c>: the README's main command. Removes MNIST digits from Fashion-MNIST items
/// (y = 0.5x + 0.5n) with joint ΠGDM on the shipped weights and with the single-prior ΠGDM baseline, on shipped
/// test pairs, and writes a picture grid and a metrics table. No download.
/// </summary>
internal static class DemoCommand
{
    private const string SignalWeights = "fmnist32_ngf16.safetensors", NoiseWeights = "mnist32_ngf16.safetensors";

    /// <summary>Builds the command.</summary>
    public static Command Create(TextWriter stdout)
    {
        var weightsDir = new Option<DirectoryInfo?>("--weights-dir") { Description = $"Folder with {SignalWeights} and {NoiseWeights} (default: ./weights, else the shipped copy)." };
        var count = new Option<int>("--count") { Description = "Number of test pairs (1 to 8).", DefaultValueFactory = _ => 8 };
        var steps = new Option<int>("--steps") { Description = "Reverse-diffusion steps T.", DefaultValueFactory = _ => 300 };
        var seed = new Option<ulong>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 1UL };
        var output = new Option<DirectoryInfo>("--out") { Description = "Output folder.", DefaultValueFactory = _ => new DirectoryInfo("demo") };
        var device = DeviceOption.Create();
        var command = new Command("demo", "Remove MNIST digits from Fashion-MNIST images with the shipped models (a few minutes on a CPU).")
        {
            weightsDir, count, steps, seed, output, device,
        };
        command.SetAction(parse =>
        {
            int n = parse.GetValue(count), t = parse.GetValue(steps);
            if (n is < 1 or > 8 || t < 1)
            {
                throw new UsageException("--count must be 1 to 8 and --steps ≥ 1.");
            }

            var kind = DeviceOption.Parse(parse.GetValue(device)!);
            string dir = FindWeights(parse.GetValue(weightsDir));
            var pairs = SafetensorsReader.Read(Path.Combine(AppContext.BaseDirectory, "Demo", "demo_pairs.safetensors"));
            const int per = 32 * 32;
            var x = pairs.GetTensor("x").Data.AsSpan(0, n * per).ToArray();
            var noise = pairs.GetTensor("n").Data.AsSpan(0, n * per).ToArray();
            var y = x.Select((v, i) => 0.5f * v + 0.5f * noise[i]).ToArray();

            var clock = Stopwatch.StartNew();
            using var backend = DeviceSelector.Create(kind);
            using var signal = Ncsnv2.Load(backend, Path.Combine(dir, SignalWeights));
            using var noiseModel = Ncsnv2.Load(backend, Path.Combine(dir, NoiseWeights));
            using var op = DiagonalOperator.Scalar(backend, [1, 32, 32], 0.5f);
            stdout.WriteLine($"Demo: y = 0.5·x + 0.5·n, x = Fashion-MNIST test, n = MNIST test, {n} pairs, T = {t}, on {backend.Description}");
            stdout.WriteLine($"Weights: {Path.Combine(dir, SignalWeights)} ({signal.Parameters.Count:N0} parameters) and {NoiseWeights}");

            var (lambda, kappa) = Eval.TunedWeights.Default("pigdm");
            var options = new SamplerOptions { Steps = t, Rule = new PigdmRule(), Lambda = lambda, Kappa = kappa, NoiseGain = 0.5f, Seed = parse.GetValue(seed) };
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Joint ΠGDM (signal and noise models, tuned λ = {lambda}, κ = {kappa}):"));
            var joint = new JointSampler(signal, noiseModel, op).Sample(y, n, options, new StepPrinter(stdout, t));
            double jointSeconds = clock.Elapsed.TotalSeconds;
            stdout.WriteLine("Single-prior ΠGDM baseline (signal model only, noise taken as white with σ_y = 0.25):");
            var single = new JointSampler(signal, null, op).Sample(y, n, options with { SigmaY = 0.25f }, new StepPrinter(stdout, t));
            double totalSeconds = clock.Elapsed.TotalSeconds;

            var naive = y.Select(v => Math.Clamp(2f * v, 0f, 1f)).ToArray();
            var rows = new (string Method, float[] Estimate, float[] Truth)[]
            {
                ("observation clip(2y)", naive, x),
                ("joint ΠGDM (ours)", joint.XMean, x),
                ("single-prior ΠGDM", single.XMean, x),
                ("joint ΠGDM noise estimate", joint.NMean!, noise),
            };
            var table = new StringBuilder();
            table.AppendLine("| method | PSNR (dB) | SSIM |");
            table.AppendLine("|---|---|---|");
            foreach (var (method, estimate, truth) in rows)
            {
                var psnr = Enumerable.Range(0, n).Select(i => ImageMetrics.Psnr(Clamp(estimate.AsSpan(i * per, per)), truth.AsSpan(i * per, per))).ToArray();
                var ssim = Enumerable.Range(0, n).Select(i => ImageMetrics.Ssim(Clamp(estimate.AsSpan(i * per, per)), truth.AsSpan(i * per, per), 1, 32, 32)).ToArray();
                table.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {method} | {psnr.Average():F2} ± {Std(psnr):F2} | {ssim.Average():F3} ± {Std(ssim):F3} |"));
            }

            var outDir = parse.GetValue(output)!;
            outDir.Create();
            var grid = Enumerable.Range(0, n).Select(i => (IReadOnlyList<PlanarImage>)
            [
                Image(y, i, 1f), Image(joint.XMean, i), Image(joint.NMean!, i), Image(single.XMean, i), Image(x, i),
            ]).ToList();
            string gridPath = Path.Combine(outDir.FullName, "grid.png");
            ImageGrid.SavePng(gridPath, grid, padding: 2, paddingGrey: 1f, scale: 3);
            string timing = string.Create(CultureInfo.InvariantCulture,
                $"Wall time: {totalSeconds:F0} s in all ({jointSeconds:F0} s for joint ΠGDM on {n} images, {options.Steps} steps, {backend.Name}).");
            string report = $"{table}\n{timing}\nGrid columns: observation y | joint estimate of x | joint estimate of n | single-prior estimate of x | ground truth x.\n";
            // Atomic, as the grid: an interrupted run leaves the old table or the new one, never half of one.
            string metricsPath = Path.Combine(outDir.FullName, "metrics.md");
            File.WriteAllText(metricsPath + ".tmp", report);
            File.Move(metricsPath + ".tmp", metricsPath, overwrite: true);
            stdout.WriteLine();
            stdout.Write(table.ToString());
            stdout.WriteLine(timing);
            stdout.WriteLine($"Wrote {gridPath} and {Path.Combine(outDir.FullName, "metrics.md")}.");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>./weights when it holds both files, else the copy shipped beside the program.</summary>
    private static string FindWeights(DirectoryInfo? option)
    {
        var candidates = option is not null
            ? [option.FullName]
            : new[] { Path.Combine(Directory.GetCurrentDirectory(), "weights"), Path.Combine(AppContext.BaseDirectory, "weights") };
        foreach (var dir in candidates)
        {
            if (File.Exists(Path.Combine(dir, SignalWeights)) && File.Exists(Path.Combine(dir, NoiseWeights)))
            {
                return dir;
            }
        }

        throw new FileNotFoundException($"The demo weights {SignalWeights} and {NoiseWeights} were not found in {string.Join(" or ", candidates)}.");
    }

    private static float[] Clamp(ReadOnlySpan<float> v)
    {
        var r = new float[v.Length];
        for (int i = 0; i < r.Length; i++)
        {
            r[i] = Math.Clamp(v[i], 0f, 1f);
        }

        return r;
    }

    private static PlanarImage Image(float[] values, int index, float gain = 1f) =>
        new([.. values.AsSpan(index * 1024, 1024).ToArray().Select(v => Math.Clamp(gain * v, 0f, 1f))], 1, 32, 32);

    private static double Std(double[] v)
    {
        double m = v.Average();
        return Math.Sqrt(v.Average(a => (a - m) * (a - m)));
    }

    /// <summary>Prints every 25% of the steps.</summary>
    private sealed class StepPrinter(TextWriter output, int steps) : IProgress<SamplingProgress>
    {
        public void Report(SamplingProgress value)
        {
            if (value.Step == steps || value.Step * 4 / steps != (value.Step - 1) * 4 / steps)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  step {value.Step}/{steps}, {value.Elapsed.TotalSeconds:F1} s"));
            }
        }
    }
}
