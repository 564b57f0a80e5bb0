using JointDiffusion.Cli;

namespace JointDiffusion.Gpu.Tests.Cli;

/// <summary><c>jointdiff info</c> and <c>jointdiff selftest</c> on this GPU-less machine.</summary>
public sealed class SelfTestAndInfoCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void SelfTest_OnIlgpuCpu_PassesEveryOpAgainstTheSimdBackend()
    {
        var (code, output, err) = Run("selftest", "--device", "ilgpu-cpu", "--size", "tiny");
        Assert.True(code == 0, output + err);
        Assert.Matches(@"All \d+ checks passed\.", output);
        Assert.Contains("conv2d k3 d4 backward_weight", output);
    }

    [Fact]
    public void SelfTest_OnAMissingDevice_FailsWithAdvice()
    {
        var (code, _, err) = Run("selftest", "--device", "cuda");
        Assert.Equal(1, code);
        Assert.Contains("--device cpu", err);
    }

    [Fact]
    public void UnknownDevice_IsAUsageError()
    {
        var (code, _, err) = Run("selftest", "--device", "tpu");
        Assert.Equal(2, code);
        Assert.Contains("Unknown device 'tpu'", err);
    }

    [Fact]
    public void Info_ListsBothCpuBackendsAndTheAutoChoice()
    {
        var (code, output, _) = Run("info");
        Assert.Equal(0, code);
        Assert.Contains("--device cpu", output);
        Assert.Contains("--device ilgpu-cpu", output);
        Assert.Contains("--device auto picks:", output);
    }
}
