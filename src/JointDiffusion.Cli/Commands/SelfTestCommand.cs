using System.CommandLine;
using System.Globalization;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Backends.Simd;

namespace JointDiffusion.Cli.Commands;

/// <summary><c>jointdiff selftest</c>: every op on a device against the SIMD CPU backend.</summary>
internal static class SelfTestCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(TextWriter stdout)
    {
        var device = DeviceOption.Create();
        var size = new Option<string>("--size") { Description = "Problem size: tiny (for ilgpu-cpu) or network (NCSNv2 layer sizes).", DefaultValueFactory = _ => "network" };
        var command = new Command("selftest", "Check that every op on --device gives the SIMD CPU backend's numbers.") { device, size };
        command.SetAction(parse =>
        {
            var kind = DeviceOption.Parse(parse.GetValue(device)!);
            var sizes = parse.GetValue(size) switch
            {
                "tiny" => BackendAgreement.Sizes.Tiny,
                "network" => BackendAgreement.Sizes.Network,
                var other => throw new UsageException($"--size must be tiny or network; got '{other}'."),
            };
            using var candidate = DeviceSelector.Create(kind);
            // The direct CPU kernels as the reference: they sum each output in one chain, the tightest rounding here.
            using var reference = new SimdBackend(winograd: false);
            stdout.WriteLine($"Comparing {candidate.Description} against {reference.Description} at {sizes}.");
            var results = BackendAgreement.Compare(candidate, reference, sizes);
            foreach (var r in results)
            {
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {(r.Passed ? "ok  " : "FAIL")} {r.Op,-40} {r.Shape,-18} rel.err {r.RelativeError:E2} (tol {r.Tolerance:E0})"));
            }

            int failed = results.Count(r => !r.Passed);
            stdout.WriteLine(failed == 0 ? $"All {results.Count} checks passed." : $"{failed} of {results.Count} checks FAILED.");
            return failed == 0 ? ExitCodes.Success : ExitCodes.Failure;
        });
        return command;
    }
}
