using System.CommandLine;
using JointDiffusion.Gpu.Backends;

namespace JointDiffusion.Cli.Commands;

/// <summary><c>jointdiff info</c>: the devices found, which one <c>auto</c> picks, and why.</summary>
internal static class InfoCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(TextWriter stdout)
    {
        var command = new Command("info", "List the compute devices found and which one --device auto picks.");
        command.SetAction(_ =>
        {
            stdout.WriteLine("Devices:");
            foreach (var d in DeviceSelector.ListDevices())
            {
                string state = d.Usable ? "usable" : $"not usable: {d.WhyNot}";
                stdout.WriteLine($"  --device {DeviceSelector.Name(d.Kind),-9}  {d.Name} ({d.Details}) [{state}]");
            }

            var (kind, reason) = DeviceSelector.ResolveAuto();
            stdout.WriteLine($"--device auto picks: {DeviceSelector.Name(kind)} ({reason})");
            return ExitCodes.Success;
        });
        return command;
    }
}
