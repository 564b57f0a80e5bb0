namespace JointDiffusion.Cli;

/// <summary>The CLI's exit-code contract.</summary>
internal static class ExitCodes
{
    /// <summary>The command did what was asked.</summary>
    public const int Success = 0;

    /// <summary>The command failed while running (bad file, missing device, numerical failure).</summary>
    public const int Failure = 1;

    /// <summary>The command line itself was wrong (unknown option, bad value).</summary>
    public const int Usage = 2;

    /// <summary>Stopped by Ctrl-C (SIGINT) or SIGTERM after saving what was finished (128 + SIGINT, the shell's convention).</summary>
    public const int Interrupted = 130;
}
