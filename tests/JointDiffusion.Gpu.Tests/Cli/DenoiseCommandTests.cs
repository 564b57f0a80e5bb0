using JointDiffusion.Cli;
using JointDiffusion.Gpu.IO;

namespace JointDiffusion.Gpu.Tests.Cli;

/// <summary><c>jointdiff denoise</c> end to end with Gaussian prior files (exact scores, fast).</summary>
public sealed class DenoiseCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("jointdiff-denoise-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Path_(string name) => Path.Combine(_dir, name);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private void WritePriors()
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
        SafetensorsWriter.Write(Path_("signal.safetensors"), [new("mean", [1, 8, 8], Enumerable.Repeat(0.5f, 64).ToArray()), new("cov", [64, 64], cov)], meta);
        SafetensorsWriter.Write(Path_("noise.safetensors"), [new("mean", [1, 8, 8], new float[64]), new("std", [1, 8, 8], Enumerable.Repeat(0.2f, 64).ToArray())], meta);
        ImageFile.SavePng(Path_("y.png"), new PlanarImage([.. Enumerable.Range(0, 64).Select(i => (i % 8) / 8f)], 1, 8, 8));
    }

    [Fact]
    public void Denoise_JointWithTwoSamples_WritesPosteriorTensorsAndImages()
    {
        WritePriors();
        string outDir = Path_("out");
        var (code, output, err) = Run("denoise", "--signal-prior", Path_("signal.safetensors"), "--noise-prior", Path_("noise.safetensors"),
            "--input", Path_("y.png"), "--operator", "scale:0.5", "--noise-gain", "0.5", "--steps", "20", "--samples", "2", "--out", outDir, "--device", "cpu");
        Assert.True(code == 0, output + err);
        Assert.Contains("step 20/20 (100%)", output);
        var posterior = SafetensorsReader.Read(Path.Combine(outDir, "posterior.safetensors"));
        Assert.Equal(new[] { 1, 2, 1, 8, 8 }, posterior.GetTensor("x_samples").Shape);
        Assert.Equal(new[] { 1, 2, 1, 8, 8 }, posterior.GetTensor("n_samples").Shape);
        Assert.Equal(new[] { 1, 1, 8, 8 }, posterior.GetTensor("x_mean").Shape);
        Assert.Equal(new[] { 1, 1, 8, 8 }, posterior.GetTensor("x_std").Shape);
        Assert.Equal(new[] { 1, 1, 8, 8 }, posterior.GetTensor("n_mean").Shape);
        foreach (var f in new[] { "x_y.png", "x_std_y.png", "n_y.png" })
        {
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        }
    }

    [Fact]
    public void Denoise_SinglePriorWithTensorInputAndCompressedSensing_Runs()
    {
        WritePriors();
        SafetensorsWriter.Write(Path_("y.safetensors"), [new("y", [2, 32], [.. Enumerable.Range(0, 64).Select(i => 0.01f * i)])]);
        string outDir = Path_("cs");
        var (code, output, err) = Run("denoise", "--signal-prior", Path_("signal.safetensors"), "--noise-std", "0.1",
            "--input", Path_("y.safetensors"), "--operator", "cs:2:7", "--rule", "dps", "--steps", "10", "--out", outDir);
        Assert.True(code == 0, output + err);
        var posterior = SafetensorsReader.Read(Path.Combine(outDir, "posterior.safetensors"));
        Assert.Equal(new[] { 2, 1, 1, 8, 8 }, posterior.GetTensor("x_samples").Shape);
        Assert.False(posterior.TryGetTensor("n_mean", out _));
    }

    [Fact]
    public void Denoise_RefusesBadOptionsBeforeRunning()
    {
        WritePriors();
        string outDir = Path_("never");
        string[] common = ["denoise", "--signal-prior", Path_("signal.safetensors"), "--input", Path_("y.png"), "--out", outDir];
        var (code, _, err) = Run([.. common, "--noise-std", "0.1", "--noise-prior", Path_("noise.safetensors")]);
        Assert.Equal(2, code);
        Assert.Contains("exactly one of --noise-prior", err);
        (code, _, err) = Run([.. common, "--noise-std", "0.1", "--steps", "0"]);
        Assert.Equal(2, code);
        Assert.Contains("steps must be ≥ 1", err);
        (code, _, err) = Run([.. common, "--noise-std", "0.1", "--lambda", "-1"]);
        Assert.Equal(2, code);
        Assert.Contains("λ must be finite and ≥ 0", err);
        (code, _, err) = Run([.. common, "--noise-std", "0.1", "--operator", "blur:3"]);
        Assert.Equal(2, code);
        Assert.Contains("is not one of", err);
        (code, _, err) = Run([.. common, "--noise-std", "0.1", "--rule", "ddrm"]);
        Assert.Equal(2, code);
        Assert.Contains("--rule must be", err);

        // A 16x16 image against a prior of 8x8 images: a runtime failure with a clear message.
        ImageFile.SavePng(Path_("big.png"), new PlanarImage(new float[256], 1, 16, 16));
        (code, _, err) = Run("denoise", "--signal-prior", Path_("signal.safetensors"), "--noise-std", "0.1", "--input", Path_("big.png"), "--out", outDir);
        Assert.Equal(1, code);
        Assert.Contains("the Gaussian signal prior models [1, 8, 8]", err);
        Assert.False(Directory.Exists(outDir));
    }
}
