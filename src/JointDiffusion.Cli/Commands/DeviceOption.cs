using System.CommandLine;
using JointDiffusion.Gpu.Backends;

namespace JointDiffusion.Cli.Commands;

/// <summary>The shared <c>--device</c> option.</summary>
internal static class DeviceOption
{
    /// <summary>Creates the option (default auto).</summary>
    public static Option<string> Create() => new("--device")
    {
        Description = $"Compute device: {DeviceSelector.Choices}.",
        DefaultValueFactory = _ => "auto",
    };

    /// <summary>Parses the value; an unknown name is a usage error.</summary>
    public static DeviceKind Parse(string value)
    {
        try
        {
            return DeviceSelector.Parse(value);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
    }
}
