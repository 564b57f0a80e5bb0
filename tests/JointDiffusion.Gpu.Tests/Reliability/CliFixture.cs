using System.Diagnostics;
using System.Globalization;
using JointDiffusion.Cli;
using JointDiffusion.Gpu.IO;

namespace JointDiffusion.Gpu.Tests.Reliability;

/// <summary>
/// Runs <c>jointdiff</c> for the reliability tests: in process (exit code, stdout, stderr), or as a child
/// process that can be sent signals; and writes the small Gaussian prior files the runs use (exact scores, fast).
/// </summary>
internal sealed class CliFixture(string directory)
{
    /// <summary>The folder the files are written to.</summary>
    public string Directory { get; } = directory;

    /// <summary>A path in <see cref="Directory"/>.</summary>
    public string PathOf(string name) => Path.Combine(Directory, name);

    /// <summary>Runs the CLI in this process.</summary>
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>A .NET stack trace has lines "   at Namespace.Type.Method(...)"; error messages never do.</summary>
    public static void AssertNoStackTrace(string stderr) =>
        Assert.False(stderr.Contains("   at ", StringComparison.Ordinal), "stderr holds a stack trace:\n" + stderr);

    /// <summary>
    /// Writes signal.safetensors (8×8 grey, full covariance), noise.safetensors (diagonal) and y.png (8×8), the
    /// files of a joint denoise run that takes milliseconds per step.
    /// </summary>
    public void WriteGaussianPriors()
    {
        var cov = new float[64 * 64];
        for (int i = 0; i < 64; i++)
        {
            for (int j = 0; j < 64; j++)
            {
                cov[i * 64 + j] = (float)(0.04 * Math.Exp(-Math.Abs(i - j) / 4.0));
            }
        }

        var meta = new Dictionary<string, string> { ["arch"] = "gaussian" };
        SafetensorsWriter.Write(PathOf("signal.safetensors"), [new("mean", [1, 8, 8], Enumerable.Repeat(0.5f, 64).ToArray()), new("cov", [64, 64], cov)], meta);
        SafetensorsWriter.Write(PathOf("noise.safetensors"), [new("mean", [1, 8, 8], new float[64]), new("std", [1, 8, 8], Enumerable.Repeat(0.2f, 64).ToArray())], meta);
        ImageFile.SavePng(PathOf("y.png"), new PlanarImage([.. Enumerable.Range(0, 64).Select(i => (i % 8) / 8f)], 1, 8, 8));
    }

    /// <summary>
    /// Starts <c>jointdiff</c> as a child process with SIGINT at its default action (a test runner started in the
    /// background may ignore SIGINT, and .NET then never sees it), stdout and stderr redirected.
    /// </summary>
    public static Process Start(params string[] args)
    {
        var info = new ProcessStartInfo("env") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--default-signal=INT", "dotnet", Path.Combine(AppContext.BaseDirectory, "jointdiff.dll") }.Concat(args))
        {
            info.ArgumentList.Add(a);
        }

        return Process.Start(info)!;
    }

    /// <summary>Sends <paramref name="signal"/> (e.g. INT, TERM) to <paramref name="process"/> with kill(1).</summary>
    public static void Signal(Process process, string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", process.Id.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    /// <summary>Reads stdout lines until one satisfies <paramref name="match"/>; returns the lines read (fails at end of output).</summary>
    public static string ReadUntil(Process process, Func<string, bool> match)
    {
        var lines = new System.Text.StringBuilder();
        while (process.StandardOutput.ReadLine() is { } line)
        {
            lines.AppendLine(line);
            if (match(line))
            {
                return lines.ToString();
            }
        }

        process.WaitForExit();
        Assert.Fail($"The process ended (exit {process.ExitCode}) before the expected line:\n{lines}\n{process.StandardError.ReadToEnd()}");
        return string.Empty;
    }

    /// <summary>Files left by an interrupted atomic write (.NAME.GUID.tmp or NAME.tmp) under <paramref name="folder"/>.</summary>
    public static string[] Temporaries(string folder) =>
        System.IO.Directory.Exists(folder)
            ? [.. System.IO.Directory.EnumerateFiles(folder, "*.tmp", SearchOption.AllDirectories)]
            : [];
}
