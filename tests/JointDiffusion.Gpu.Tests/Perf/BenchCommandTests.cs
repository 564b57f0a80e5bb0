using System.Text.Json;
using JointDiffusion.Cli;
using JointDiffusion.Gpu.Backends.Simd;
using JointDiffusion.Gpu.Models;

namespace JointDiffusion.Gpu.Tests.Perf;

/// <summary>
/// <c>jointdiff bench</c> on tiny networks: every measurement is reported (text and JSON), a checkpoint given with
/// <c>--weights</c> is the network timed, and bad arguments follow the exit-code contract (1 runtime, 2 usage).
/// </summary>
public sealed class BenchCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("jointdiff-bench-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static JsonElement Json(string output) => JsonDocument.Parse(output.Trim()).RootElement;

    [Fact]
    public void Json_ReportsEveryMeasurement()
    {
        var (code, output, err) = Run("bench", "--ngf", "2", "--size", "8", "--batch", "2", "--iterations", "1", "--device", "cpu", "--json");
        Assert.True(code == 0, err);
        var json = Json(output);
        Assert.Equal("cpu", json.GetProperty("device").GetString());
        foreach (var key in new[] { "fwd_ms", "fwd_vjp_ms", "fwd_param_grad_ms", "train_step_ms", "joint_step_ms", "gflops", "train_steps_per_s", "joint_steps_per_s", "images_per_s_fwd_vjp" })
        {
            double value = json.GetProperty(key).GetDouble();
            Assert.True(value > 0 && double.IsFinite(value), $"{key} = {value}");
        }

        Assert.True(json.GetProperty("joint_step_alloc_bytes").GetInt64() >= 0);
        Assert.True(json.GetProperty("peak_device_bytes").GetInt64() > 0);
        // DESIGN.md: 1811·ngf² + (123 + 18C)·ngf + C parameters.
        Assert.Equal(1811 * 4 + (123 + 18) * 2 + 1, json.GetProperty("parameters").GetInt64());
        Assert.Equal(JsonValueKind.Null, json.GetProperty("weights").ValueKind);
    }

    [Fact]
    public void Text_ReportsTrainingAndSamplingSteps()
    {
        var (code, output, err) = Run("bench", "--ngf", "2", "--size", "8", "--batch", "1", "--iterations", "1", "--device", "cpu");
        Assert.True(code == 0, err);
        Assert.Contains("DSM training step", output);
        Assert.Contains("joint PiGDM step", output);
        Assert.Contains("steps/s", output);
    }

    [Fact]
    public void Weights_TimeTheCheckpoint_NotTheWidthOptions()
    {
        string path = Path.Combine(_dir, "net.safetensors");
        using (var backend = new SimdBackend())
        using (var net = Ncsnv2.CreateRandom(backend, 3, 2, seed: 7))
        {
            net.Save(path);
        }

        var (code, output, err) = Run("bench", "--weights", path, "--ngf", "9", "--channels", "1", "--size", "8", "--batch", "1", "--iterations", "1", "--device", "cpu", "--json");
        Assert.True(code == 0, err);
        var json = Json(output);
        Assert.Equal(3, json.GetProperty("ngf").GetInt32());
        Assert.Equal(2, json.GetProperty("channels").GetInt32());
        Assert.Equal("net.safetensors", json.GetProperty("weights").GetString());
        Assert.True(json.GetProperty("joint_step_ms").GetDouble() > 0);
    }

    [Fact]
    public void BadArguments_FollowTheExitCodeContract()
    {
        var (code, _, err) = Run("bench", "--weights", Path.Combine(_dir, "missing.safetensors"), "--device", "cpu");
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("does not exist", err);

        (code, _, err) = Run("bench", "--size", "7", "--device", "cpu");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--size", err);
    }
}
