namespace JointDiffusion.Cli;

/// <summary>An invalid option value found after parsing; maps to exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
