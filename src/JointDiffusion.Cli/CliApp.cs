using System.CommandLine;
using JointDiffusion.Cli.Commands;
using JointDiffusion.Gpu.Backends;

namespace JointDiffusion.Cli;

/// <summary>
/// The <c>jointdiff</c> command line: builds the command tree, parses, and maps failures to the exit-code
/// contract (0 success, 1 runtime failure, 2 usage error) with messages on stderr and no stack traces
/// unless <c>--verbose</c> is given.
/// </summary>
internal static class CliApp
{
    /// <summary>Runs the CLI with the given streams; returns the process exit code.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = CreateRoot(stdout, stderr, out var verbose);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
            {
                stderr.WriteLine($"error: {error.Message}");
            }

            stderr.WriteLine("Run 'jointdiff --help' for usage.");
            return ExitCodes.Usage;
        }

        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return ExitCodes.Usage;
        }
        catch (Exception e)
        {
            // Out of host memory too: the failed allocation is garbage by now, so printing a line is safe.
            stderr.WriteLine(e is OutOfMemoryException ? $"error: out of host memory: {e.Message}" : $"error: {e.Message}");
            if (e is OutOfMemoryException or DeviceOutOfMemoryException)
            {
                stderr.WriteLine(BatchAdvice(parse));
            }

            if (parse.GetValue(verbose))
            {
                stderr.WriteLine(e.ToString());
            }

            return ExitCodes.Failure;
        }
    }

    /// <summary>The command tree, with the recursive <c>--verbose</c> option it adds.</summary>
    internal static RootCommand CreateRoot(TextWriter stdout, TextWriter stderr, out Option<bool> verbose)
    {
        verbose = new Option<bool>("--verbose") { Description = "Show stack traces on errors.", Recursive = true };
        var root = new RootCommand("jointdiff: remove structured noise from images by joint posterior sampling with two diffusion models.");
        root.Options.Add(verbose);
        root.Subcommands.Add(InfoCommand.Create(stdout));
        root.Subcommands.Add(SelfTestCommand.Create(stdout));
        root.Subcommands.Add(BenchCommand.Create(stdout));
        root.Subcommands.Add(ScoreCommand.Create(stdout));
        root.Subcommands.Add(DenoiseCommand.Create(stdout));
        root.Subcommands.Add(SampleCommand.Create(stdout));
        root.Subcommands.Add(TrainCommand.Create(stdout));
        root.Subcommands.Add(DemoCommand.Create(stdout));
        root.Subcommands.Add(EvalCommand.Create(stdout));
        root.Subcommands.Add(TuneCommand.Create(stdout));
        root.Subcommands.Add(DataCommand.Create(stdout, stderr));
        return root;
    }

    /// <summary>What to try after running out of memory: half the --batch this run used, when the command has one.</summary>
    internal static string BatchAdvice(ParseResult parse)
    {
        int? batch = parse.CommandResult.Command.Options.FirstOrDefault(o => o.Name == "--batch") switch
        {
            Option<int> option => parse.GetValue(option),
            Option<int?> option => parse.GetValue(option),
            _ => null,
        };
        return batch switch
        {
            > 1 => $"hint: this run used --batch {batch}; try --batch {batch / 2}.",
            1 => "hint: --batch is already 1; try fewer samples, a smaller image size, or another --device.",
            _ => "hint: try fewer images or samples at once, a smaller image size, or another --device.",
        };
    }
}
