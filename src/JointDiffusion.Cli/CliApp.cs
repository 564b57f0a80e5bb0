using System.CommandLine;
using JointDiffusion.Cli.Commands;

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
        var verbose = new Option<bool>("--verbose") { Description = "Show stack traces on errors.", Recursive = true };
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
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            stderr.WriteLine($"error: {e.Message}");
            if (parse.GetValue(verbose))
            {
                stderr.WriteLine(e.ToString());
            }

            return ExitCodes.Failure;
        }
    }
}
