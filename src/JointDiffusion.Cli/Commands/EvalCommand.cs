using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using JointDiffusion.Cli.Eval;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Data;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Metrics;

namespace JointDiffusion.Cli.Commands;

/// <summary>
/// <c>jointdiff eval</c>: one of the paper's experiments on a seeded test set, every method on the same
/// observations; writes a results table (markdown and JSON) and a picture grid like the paper's Figure 2.
/// </summary>
internal static class EvalCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(TextWriter stdout)
    {
        var experiment = new Option<string>("--experiment") { Description = $"Experiment: {string.Join(", ", Experiment.Catalog.Keys)}.", Required = true };
        var count = new Option<int>("--n") { Description = "Number of test images.", DefaultValueFactory = _ => 100 };
        var steps = new Option<int>("--steps") { Description = "Reverse-diffusion steps T.", DefaultValueFactory = _ => 300 };
        var methods = new Option<string>("--methods") { Description = $"Comma-separated methods, or all: {string.Join(", ", EvalMethod.All.Select(m => m.Key))}.", DefaultValueFactory = _ => "all" };
        var chunk = new Option<int>("--batch") { Description = "Observations per sampler batch (results depend on it through the random streams).", DefaultValueFactory = _ => 25 };
        var seed = new Option<ulong>("--seed") { Description = "Random seed of the samplers.", DefaultValueFactory = _ => 1UL };
        var grid = new Option<int>("--grid-rows") { Description = "Examples shown in grid.png.", DefaultValueFactory = _ => 6 };
        var weightsDir = new Option<DirectoryInfo>("--weights-dir") { Description = "Folder with the priors.", DefaultValueFactory = _ => new DirectoryInfo("weights") };
        var dataDir = DataCommand.CreateFolderOption("--data-dir");
        var output = new Option<DirectoryInfo>("--out") { Description = "Output folder (results.md, results.json, grid.png, cache/).", Required = true };
        var device = DeviceOption.Create();
        var command = new Command("eval", "Run one of the paper's experiments: every method on the same seeded test images; tables and a picture grid.")
        {
            experiment, count, steps, methods, chunk, seed, grid, weightsDir, dataDir, output, device,
        };
        command.SetAction(parse =>
        {
            string name = parse.GetValue(experiment)!;
            int n = parse.GetValue(count), t = parse.GetValue(steps), b = parse.GetValue(chunk), rows = parse.GetValue(grid);
            if (!Experiment.Exists(name))
            {
                throw new UsageException($"--experiment must be one of {string.Join(", ", Experiment.Catalog.Keys)}; got '{name}'.");
            }

            if (n < 1 || t < 1 || b < 1 || rows < 0)
            {
                throw new UsageException("--n, --steps and --batch must be ≥ 1 and --grid-rows ≥ 0.");
            }

            var chosen = EvalMethod.Parse(parse.GetValue(methods)!);
            var kind = DeviceOption.Parse(parse.GetValue(device)!);
            var outDir = parse.GetValue(output)!;
            var weights = parse.GetValue(weightsDir)!;
            if (!weights.Exists)
            {
                throw new DirectoryNotFoundException($"The weights folder {weights.FullName} does not exist (give it with --weights-dir).");
            }

            var data = DataLocator.Resolve(parse.GetValue(dataDir));
            // Signals first: a Ctrl-C or SIGTERM from here on stops the run cleanly (see ExitCodes.Interrupted).
            using var interrupt = new InterruptSignal();

            using var backend = DeviceSelector.Create(kind);
            using var e = Experiment.Open(name, ExperimentSplit.Test, n, backend, data, weights.FullName);
            stdout.WriteLine($"Experiment {name}: {e.Description}");
            stdout.WriteLine($"  {e.DataText}");
            stdout.WriteLine($"  {e.PriorsText}; {n} images, T = {t}, on {backend.Description}");

            outDir.Create();
            var runner = new EvalRunner(e, t, b, parse.GetValue(seed), stdout) { CacheFolder = Path.Combine(outDir.FullName, "cache") };
            var results = new List<MethodResult>();
            try
            {
                foreach (var method in chosen)
                {
                    var (lambda, kappa) = method.Rule is null ? (0f, 0f) : TunedWeights.For(e, method.Rule);
                    results.Add(runner.Run(method, lambda, kappa, interrupt.Token));
                }
            }
            catch (OperationCanceledException)
            {
                stdout.WriteLine($"Interrupted. {results.Count} method(s) finished and are cached in {runner.CacheFolder}; run the same command again to go on.");
                return ExitCodes.Interrupted;
            }

            Report(e, results, t, backend.Description, outDir.FullName, rows, stdout);
            return ExitCodes.Success;
        });
        return command;
    }

    private static void Report(Experiment e, IReadOnlyList<MethodResult> results, int steps, string device, string outDir, int gridRows, TextWriter stdout)
    {
        var observation = e.Matrix is null
            ? new MethodResult(new EvalMethod("observation", "observation clip(y/a)", null, false), "–",
                [.. Enumerable.Range(0, e.Count).SelectMany(i => e.ObservationImage(i))], null, 0)
            : null;
        var table = new StringBuilder();
        table.AppendLine(CultureInfo.InvariantCulture, $"| method | settings | PSNR (dB) | SSIM | s / image |");
        table.AppendLine("|---|---|---|---|---|");
        var json = new List<Dictionary<string, object>>();
        foreach (var r in (observation is null ? results : results.Prepend(observation)))
        {
            if (r.Failure is not null)
            {
                table.AppendLine(CultureInfo.InvariantCulture, $"| {r.Method.Label} | {r.Settings} | {r.Failure} | – | – |");
                json.Add(new Dictionary<string, object> { ["method"] = r.Method.Key, ["settings"] = r.Settings, ["failure"] = r.Failure });
                continue;
            }

            var psnr = Summary.Of(r.Psnr(e));
            var ssim = Summary.Of(r.Ssim(e));
            string perImage = r.Method.Key == "observation" ? "–" : (r.Seconds / e.Count).ToString("F2", CultureInfo.InvariantCulture);
            table.AppendLine(CultureInfo.InvariantCulture, $"| {r.Method.Label} | {r.Settings} | {psnr.ToString("F2")} | {ssim.ToString("F3")} | {perImage} |");
            var row = new Dictionary<string, object>
            {
                ["method"] = r.Method.Key,
                ["settings"] = r.Settings,
                ["psnr_mean"] = psnr.Mean,
                ["psnr_std"] = psnr.StandardDeviation,
                ["ssim_mean"] = ssim.Mean,
                ["ssim_std"] = ssim.StandardDeviation,
                ["seconds"] = r.Seconds,
            };
            if (r.N is not null && e.Matrix is null)
            {
                var noisePsnr = Summary.Of(Enumerable.Range(0, e.Count).Select(i =>
                    ImageMetrics.Psnr(r.N.AsSpan(i * e.M, e.M), e.N.AsSpan(i * e.M, e.M), dataRange: NoiseRange(e))));
                row["noise_psnr_mean"] = noisePsnr.Mean;
            }

            json.Add(row);
        }

        string header = string.Create(CultureInfo.InvariantCulture,
            $"Experiment `{e.Name}`: {e.Description}.\n{e.DataText}.\n{e.PriorsText}. n = {e.Count}, T = {steps}, on {device}, {DateTime.UtcNow:yyyy-MM-dd}.\nPSNR/SSIM: mean ± std over images of clip(x̂, 0, 1) against the truth.\n");
        var columns = new List<string> { e.Matrix is null ? "observation y/a" : "Aᵀy" };
        columns.AddRange(results.Select(r => r.Method.Label));
        columns.Add("ground truth");
        string gridText = $"Grid columns: {string.Join(" | ", columns)}.";
        File.WriteAllText(Path.Combine(outDir, "results.md.tmp"), $"{header}\n{table}\n{gridText}\n");
        File.Move(Path.Combine(outDir, "results.md.tmp"), Path.Combine(outDir, "results.md"), overwrite: true);
        var document = new Dictionary<string, object>
        {
            ["experiment"] = e.Name,
            ["description"] = e.Description,
            ["n"] = e.Count,
            ["steps"] = steps,
            ["device"] = device,
            ["single_sigma_y"] = e.SingleSigmaY,
            ["methods"] = json,
        };
        File.WriteAllText(Path.Combine(outDir, "results.json.tmp"), JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true }));
        File.Move(Path.Combine(outDir, "results.json.tmp"), Path.Combine(outDir, "results.json"), overwrite: true);

        if (gridRows > 0)
        {
            var grid = Enumerable.Range(0, Math.Min(gridRows, e.Count)).Select(i =>
            {
                var row = new List<PlanarImage> { new(e.ObservationImage(i), 1, 32, 32) };
                row.AddRange(results.Select(r => new PlanarImage(r.Clipped(i, e.D), 1, 32, 32)));
                row.Add(new PlanarImage(e.X.AsSpan(i * e.D, e.D).ToArray(), 1, 32, 32));
                return (IReadOnlyList<PlanarImage>)row;
            }).ToList();
            string tmp = Path.Combine(outDir, "grid.tmp.png");
            ImageGrid.SavePng(tmp, grid, padding: 2, paddingGrey: 1f, scale: 3);
            File.Move(tmp, Path.Combine(outDir, "grid.png"), overwrite: true);
        }

        stdout.WriteLine();
        stdout.Write(table.ToString());
        stdout.WriteLine(gridText);
        stdout.WriteLine($"Wrote {Path.Combine(outDir, "results.md")}, results.json{(gridRows > 0 ? " and grid.png" : string.Empty)}.");
    }

    /// <summary>The data range of the noise for its PSNR: 1 for images in [0, 1], else its max − min.</summary>
    private static double NoiseRange(Experiment e)
    {
        float min = e.N.Min(), max = e.N.Max();
        return min >= 0 && max <= 1 ? 1.0 : max - min;
    }
}
