using JointDiffusion.Cli;
using JointDiffusion.Gpu.Backends;

namespace JointDiffusion.Gpu.Tests.Reliability;

/// <summary>
/// The CLI contract, swept over every command: <c>--help</c> exits 0; an unknown option, a missing required option
/// and a malformed value exit 2 with "error:" on stderr; a runtime failure (a missing file or folder, an absent
/// device) exits 1 with "error:" on stderr and no stack trace, which <c>--verbose</c> adds.
/// </summary>
public sealed class CliContractTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("jointdiff-contract-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Missing(string name) => Path.Combine(_dir, "missing", name);

    /// <summary>Every command path, leaves included: the sweep fails when a command is added and not listed here.</summary>
    private static readonly string[] CommandPaths = ["info", "selftest", "bench", "score", "denoise", "sample", "train", "demo", "eval", "tune", "data", "data fetch", "data list"];

    /// <summary><see cref="CommandPaths"/> as theory data.</summary>
    public static TheoryData<string> Commands => new(CommandPaths);

    /// <summary>The required options each command has (the ones it needs before doing anything).</summary>
    private static readonly Dictionary<string, string[]> Required = new()
    {
        ["score"] = ["--weights", "--input", "--out"],
        ["denoise"] = ["--signal-prior", "--input", "--out"],
        ["sample"] = ["--weights", "--out"],
        ["train"] = ["--data", "--steps", "--out"],
        ["eval"] = ["--experiment", "--out"],
        ["tune"] = ["--experiment", "--rule"],
    };

    [Fact]
    public void TheSweep_CoversEveryCommandOfTheTree()
    {
        var root = CliApp.CreateRoot(TextWriter.Null, TextWriter.Null, out _);
        var paths = root.Subcommands.SelectMany(c => c.Subcommands.Count == 0 ? [c.Name] : new[] { c.Name }.Concat(c.Subcommands.Select(s => $"{c.Name} {s.Name}")));
        Assert.Equal(paths.Order(), CommandPaths.Order());
        foreach (var (command, options) in Required)
        {
            var declared = root.Subcommands.Single(c => c.Name == command).Options.Where(o => o.Required).Select(o => o.Name);
            Assert.Equal(options.Order(), declared.Order());
        }
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Help_ExitsZero_WithUsageOnStdout(string command)
    {
        var (code, output, err) = CliFixture.Run([.. command.Split(' '), "--help"]);

        Assert.True(code == 0, output + err);
        Assert.Contains("Usage:", output);
        Assert.Contains(command.Split(' ')[^1], output);
        Assert.Equal(string.Empty, err);
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void UnknownOption_ExitsTwo_WithAnErrorAndNoStackTrace(string command)
    {
        var (code, output, err) = CliFixture.Run([.. command.Split(' '), .. RequiredArguments(command), "--no-such-option", "1"]);

        Assert.True(code == 2, output + err);
        Assert.StartsWith("error: ", err);
        Assert.Contains("--no-such-option", err);
        CliFixture.AssertNoStackTrace(err);
    }

    [Theory]
    [InlineData("score")]
    [InlineData("denoise")]
    [InlineData("sample")]
    [InlineData("train")]
    [InlineData("eval")]
    [InlineData("tune")]
    public void EachMissingRequiredOption_ExitsTwo_NamingIt(string command)
    {
        string[] all = RequiredArguments(command);
        for (int i = 0; i < all.Length; i += 2)
        {
            string[] without = [.. all[..i], .. all[(i + 2)..]];
            var (code, output, err) = CliFixture.Run([command, .. without]);

            Assert.True(code == 2, $"{command} without {all[i]}: exit {code}\n{output}{err}");
            Assert.StartsWith("error: ", err);
            Assert.Contains(all[i], err);
            CliFixture.AssertNoStackTrace(err);
        }
    }

    [Theory]
    [InlineData("bench", "--batch", "many")]
    [InlineData("denoise", "--steps", "1.5")]
    [InlineData("sample", "--count", "-")]
    [InlineData("train", "--steps", "ten")]
    [InlineData("eval", "--n", "2x")]
    [InlineData("tune", "--seed", "-1")]
    [InlineData("selftest", "--device", "tpu")]
    [InlineData("data", "list", "--data")]
    public void MalformedValue_ExitsTwo(string command, string option, string value)
    {
        string[] args = command == "data" ? ["data", option, value] : With(command, option, value);

        var (code, output, err) = CliFixture.Run(args);

        Assert.True(code == 2, output + err);
        Assert.StartsWith("error: ", err);
        CliFixture.AssertNoStackTrace(err);
    }

    /// <summary>The commands that validate their values before running refuse bad ones as usage errors, not failures.</summary>
    [Theory]
    [InlineData("bench", "--batch", "0")]
    [InlineData("denoise", "--steps", "0")]
    [InlineData("sample", "--count", "0")]
    [InlineData("train", "--steps", "0")]
    [InlineData("eval", "--n", "0")]
    [InlineData("tune", "--n", "0")]
    [InlineData("selftest", "--size", "huge")]
    [InlineData("demo", "--count", "9")]
    public void OutOfRangeValue_ExitsTwo_BeforeTouchingAnyFile(string command, string option, string value)
    {
        var (code, output, err) = CliFixture.Run(With(command, option, value));

        Assert.True(code == 2, output + err);
        Assert.StartsWith("error: ", err);
        CliFixture.AssertNoStackTrace(err);
    }

    /// <summary>
    /// Up-front validation: a bad --device is a usage error (2) even when the run would also fail at run time
    /// (here every file and folder it names is missing), because options are checked before anything is opened.
    /// </summary>
    [Theory]
    [InlineData("selftest")]
    [InlineData("bench")]
    [InlineData("score")]
    [InlineData("sample")]
    [InlineData("train")]
    [InlineData("demo")]
    [InlineData("eval")]
    public void BadDevice_IsAUsageError_EvenWhenTheFilesAreMissing(string command) => AssertBadDeviceIsAUsageError(command);

    [Fact]
    public void Denoise_BadDevice_IsAUsageError_EvenWhenTheFilesAreMissing() => AssertBadDeviceIsAUsageError("denoise");

    [Fact]
    public void Tune_BadDevice_IsAUsageError_EvenWhenTheFilesAreMissing() => AssertBadDeviceIsAUsageError("tune");

    private void AssertBadDeviceIsAUsageError(string command)
    {
        string[]? failing = command is "selftest" or "bench" ? [command] : FailingArguments(command);
        int at = Array.IndexOf(failing!, "--device");
        string[] args = at >= 0 ? [.. failing![..at], .. failing[(at + 2)..], "--device", "tpu"] : [.. failing!, "--device", "tpu"];

        var (code, output, err) = CliFixture.Run(args);

        Assert.True(code == 2, $"exit {code}\n{output}{err}");
        Assert.StartsWith("error: ", err);
        Assert.Contains("tpu", err);
    }

    public static TheoryData<string> RuntimeFailures => new("selftest", "bench", "score", "denoise", "sample", "train", "demo", "eval", "tune", "data list");

    [Theory]
    [MemberData(nameof(RuntimeFailures))]
    public void RuntimeFailure_ExitsOne_WithoutStackTrace_AndVerboseShowsIt(string command)
    {
        string[]? args = FailingArguments(command);
        if (args is null)
        {
            // selftest and bench fail here only on an absent device; this machine has every one.
            return;
        }

        var (code, output, err) = CliFixture.Run(args);
        Assert.True(code == 1, $"exit {code}\n{output}{err}");
        Assert.StartsWith("error: ", err.TrimStart());
        CliFixture.AssertNoStackTrace(err);

        // data list reports missing data sets without an exception, so there is no stack trace to show.
        if (command != "data list")
        {
            var verbose = CliFixture.Run([.. args, "--verbose"]);
            Assert.Equal(1, verbose.Code);
            Assert.Contains("   at ", verbose.Err);
        }
    }

    /// <summary>The command with its required arguments, <paramref name="option"/> set to <paramref name="value"/> (replaced if required).</summary>
    private string[] With(string command, string option, string value)
    {
        string[] args = RequiredArguments(command);
        int at = Array.IndexOf(args, option);
        if (at >= 0)
        {
            args[at + 1] = value;
            return [command, .. args];
        }

        return [command, .. args, option, value];
    }

    /// <summary>Arguments for every required option, valid in form, so that only the option under test is wrong.</summary>
    private string[] RequiredArguments(string command) => command switch
    {
        "score" => ["--weights", Missing("w.safetensors"), "--input", Missing("x.safetensors"), "--out", Missing("o.safetensors")],
        "denoise" => ["--signal-prior", Missing("s.safetensors"), "--input", Missing("y.png"), "--out", Missing("out")],
        "sample" => ["--weights", Missing("w.safetensors"), "--out", Missing("o.png")],
        "train" => ["--data", "folder:" + Missing("images"), "--steps", "3", "--out", Missing("w.safetensors")],
        "eval" => ["--experiment", "mnist-on-fashion", "--out", Missing("out")],
        "tune" => ["--experiment", "mnist-on-fashion", "--rule", "pigdm"],
        _ => [],
    };

    /// <summary>Arguments that parse and validate but fail at run time: a missing file or folder, or an absent device.</summary>
    private string[]? FailingArguments(string command)
    {
        string? absent = AbsentDevice();
        return command switch
        {
            "selftest" => absent is null ? null : ["selftest", "--device", absent, "--size", "tiny"],
            "bench" => absent is null ? null : ["bench", "--device", absent],
            "denoise" => ["denoise", .. RequiredArguments("denoise"), "--noise-std", "0.1", "--device", "cpu"],
            "demo" => ["demo", "--weights-dir", Missing("weights"), "--out", Missing("demo"), "--device", "cpu"],
            "eval" => ["eval", .. RequiredArguments("eval"), "--weights-dir", Missing("weights"), "--device", "cpu"],
            "tune" => ["tune", .. RequiredArguments("tune"), "--weights-dir", Missing("weights"), "--device", "cpu"],
            "data list" => ["data", "list", "--data", Missing("data")],
            _ => [command, .. RequiredArguments(command), "--device", "cpu"],
        };
    }

    /// <summary>A GPU device kind that this machine cannot open, or null when it can open both.</summary>
    private static string? AbsentDevice()
    {
        var usable = DeviceSelector.ListDevices().Where(d => d.Usable).Select(d => d.Kind).ToHashSet();
        return new[] { DeviceKind.Cuda, DeviceKind.OpenCL }.Where(k => !usable.Contains(k)).Select(DeviceSelector.Name).FirstOrDefault();
    }
}
