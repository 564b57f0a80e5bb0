using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using JointDiffusion.Cli.Eval;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Data;
using JointDiffusion.Gpu.Sampling;

namespace JointDiffusion.Cli.Commands;

/// <summary>
/// <c>jointdiff tune</c>: a coarse-to-fine search of a rule's λ and κ on validation images of an experiment
/// (never its eval images): first λ = κ on a log grid, then λ and κ apart around the best. For ΠGDM the search
/// stays where (λa² + κb²)/(a² + b²) &lt; 2, beyond which it diverges (REFERENCE_RESULTS.md).
/// </summary>
internal static class TuneCommand
{
    /// <summary>The coarse λ = κ grid of each rule.</summary>
    public static double[] CoarseGrid(string rule) => rule switch
    {
        "pigdm" => [0.25, 0.5, 1.0, 1.5, 1.9],
        "dps" => [1, 2.5, 5, 10, 20],
        _ => [0.1, 0.25, 0.5, 1.0, 1.5],
    };

    /// <summary>Whether ΠGDM at (λ, κ) is inside its stability bound for gains a (null: compressed sensing, A's scale 1) and b.</summary>
    public static bool InsideBound(string rule, double lambda, double kappa, float? a, float b)
    {
        if (rule != "pigdm")
        {
            return true;
        }

        double a2 = a is float g ? g * (double)g : 1.0, b2 = b * (double)b;
        return (lambda * a2 + kappa * b2) / (a2 + b2) < 2.0;
    }

    /// <summary>Builds the command.</summary>
    public static Command Create(TextWriter stdout)
    {
        var experiment = new Option<string>("--experiment") { Description = $"Experiment: {string.Join(", ", Experiment.Catalog.Keys)}.", Required = true };
        var rule = new Option<string>("--rule") { Description = "Rule to tune: pigdm | dps | projection.", Required = true };
        var count = new Option<int>("--n") { Description = "Validation images.", DefaultValueFactory = _ => 5 };
        var steps = new Option<int>("--steps") { Description = "Reverse-diffusion steps T (λ depends on T: tune at the T you run).", DefaultValueFactory = _ => 300 };
        var seed = new Option<ulong>("--seed") { Description = "Random seed of the sampler.", DefaultValueFactory = _ => 1UL };
        var weightsDir = new Option<DirectoryInfo>("--weights-dir") { Description = "Folder with the priors.", DefaultValueFactory = _ => new DirectoryInfo("weights") };
        var dataDir = DataCommand.CreateFolderOption("--data-dir");
        var output = new Option<FileInfo?>("--out") { Description = "Also write every trial and the best to this JSON file." };
        var device = DeviceOption.Create();
        var command = new Command("tune", "Search λ and κ of a rule on validation images of an experiment.")
        {
            experiment, rule, count, steps, seed, weightsDir, dataDir, output, device,
        };
        command.SetAction(parse =>
        {
            string name = parse.GetValue(experiment)!, ruleName = parse.GetValue(rule)!;
            int n = parse.GetValue(count), t = parse.GetValue(steps);
            if (!Experiment.Exists(name))
            {
                throw new UsageException($"--experiment must be one of {string.Join(", ", Experiment.Catalog.Keys)}; got '{name}'.");
            }

            if (ruleName is not ("pigdm" or "dps" or "projection"))
            {
                throw new UsageException($"--rule must be pigdm, dps or projection; got '{ruleName}'.");
            }

            if (n < 1 || t < 1)
            {
                throw new UsageException("--n and --steps must be ≥ 1.");
            }

            var kind = DeviceOption.Parse(parse.GetValue(device)!);
            var weights = parse.GetValue(weightsDir)!;
            if (!weights.Exists)
            {
                throw new DirectoryNotFoundException($"The weights folder {weights.FullName} does not exist (give it with --weights-dir).");
            }

            var data = DataLocator.Resolve(parse.GetValue(dataDir));
            // Signals first: a Ctrl-C or SIGTERM from here on stops the run cleanly (see ExitCodes.Interrupted).
            using var interrupt = new InterruptSignal();

            using var backend = DeviceSelector.Create(kind);
            using var e = Experiment.Open(name, ExperimentSplit.Validation, n, backend, data, weights.FullName);
            var method = EvalMethod.All.First(m => m.Rule == ruleName && m.Joint);
            stdout.WriteLine($"Tuning joint {ruleName} on {name} ({n} validation images, T = {t}) on {backend.Description}");

            var runner = new EvalRunner(e, t, n, parse.GetValue(seed), TextWriter.Null);
            var trials = new List<(double Lambda, double Kappa, double Psnr, double Ssim)>();
            (double Lambda, double Kappa, double Psnr) best = (double.NaN, double.NaN, double.NegativeInfinity);
            void Trial(double lambda, double kappa)
            {
                lambda = Math.Round(lambda, 3);
                kappa = Math.Round(kappa, 3);
                if (!InsideBound(ruleName, lambda, kappa, e.SignalGain, e.NoiseGain) || trials.Any(x => x.Lambda == lambda && x.Kappa == kappa))
                {
                    return;
                }

                double psnr, ssim;
                try
                {
                    var r = runner.Run(method, (float)lambda, (float)kappa, interrupt.Token);
                    psnr = r.Psnr(e).Average();
                    ssim = r.Ssim(e).Average();
                }
                catch (SamplerDivergedException)
                {
                    (psnr, ssim) = (double.NegativeInfinity, double.NaN);
                }

                trials.Add((lambda, kappa, psnr, ssim));
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  λ {lambda,6:G4}  κ {kappa,6:G4}  PSNR {psnr,7:F2} dB  SSIM {ssim:F3}"));
                if (psnr > best.Psnr)
                {
                    best = (lambda, kappa, psnr);
                }
            }

            try
            {
                stdout.WriteLine("Coarse (λ = κ):");
                foreach (double w in CoarseGrid(ruleName))
                {
                    Trial(w, w);
                }

                stdout.WriteLine("Fine (λ and κ apart):");
                var centre = best;
                foreach (double f in new[] { 0.7, 1.4 })
                {
                    Trial(centre.Lambda * f, centre.Kappa);
                    Trial(centre.Lambda, centre.Kappa * f);
                }

                var second = best;
                if (second.Lambda != centre.Lambda || second.Kappa != centre.Kappa)
                {
                    foreach (double f in new[] { 0.85, 1.2 })
                    {
                        Trial(second.Lambda * f, second.Kappa);
                        Trial(second.Lambda, second.Kappa * f);
                    }
                }
            }
            catch (OperationCanceledException)
            {
                stdout.WriteLine($"Interrupted after {trials.Count} trial(s).");
                return ExitCodes.Interrupted;
            }

            if (double.IsNegativeInfinity(best.Psnr))
            {
                stdout.WriteLine("Every trial diverged.");
                return ExitCodes.Failure;
            }

            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Best: --lambda {best.Lambda:G4} --kappa {best.Kappa:G4} ({best.Psnr:F2} dB on {n} validation images)."));
            var file = parse.GetValue(output);
            if (file is not null)
            {
                var document = new
                {
                    experiment = name,
                    rule = ruleName,
                    n,
                    steps = t,
                    best = new { lambda = best.Lambda, kappa = best.Kappa, psnr = best.Psnr },
                    trials = trials.Select(x => new { lambda = x.Lambda, kappa = x.Kappa, psnr = double.IsFinite(x.Psnr) ? x.Psnr : (double?)null, ssim = double.IsFinite(x.Ssim) ? x.Ssim : (double?)null }),
                };
                file.Directory?.Create();
                File.WriteAllText(file.FullName + ".tmp", JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true }));
                File.Move(file.FullName + ".tmp", file.FullName, overwrite: true);
                stdout.WriteLine($"Wrote {file.FullName}.");
            }

            return ExitCodes.Success;
        });
        return command;
    }
}
