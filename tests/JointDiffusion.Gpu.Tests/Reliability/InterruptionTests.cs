using System.Globalization;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Tests.Data;

namespace JointDiffusion.Gpu.Tests.Reliability;

/// <summary>
/// Ctrl-C (SIGINT, sent with kill(1) to a real <c>jointdiff</c> process) during train, denoise and eval stops the
/// run cleanly: the message says what was kept and how to go on, train's checkpoint and weights load, no output is
/// half-written and no temporary file is left behind.
/// </summary>
public sealed class InterruptionTests : IDisposable
{
    private readonly CliFixture _cli = new(Directory.CreateTempSubdirectory("jointdiff-interrupt-").FullName);

    public void Dispose() => Directory.Delete(_cli.Directory, recursive: true);

    [Fact]
    public void CtrlC_DuringTrain_KeepsTheLastCheckpoint_AndLeavesNoTemporaries()
    {
        string images = _cli.PathOf("images");
        Directory.CreateDirectory(images);
        for (int i = 0; i < 8; i++)
        {
            var pixels = new float[64];
            pixels[i * 9] = 1f;
            ImageFile.SavePng(Path.Combine(images, $"img{i}.png"), new PlanarImage(pixels, 1, 8, 8));
        }

        string outDir = _cli.PathOf("train");
        string weights = Path.Combine(outDir, "w.safetensors");
        using var process = CliFixture.Start("train", "--data", "folder:" + images, "--size", "8", "--ngf", "4", "--steps", "1000000",
            "--batch", "4", "--checkpoint-every", "1", "--out", weights, "--device", "cpu");

        CliFixture.ReadUntil(process, line => line.Contains("[checkpoint]", StringComparison.Ordinal));
        CliFixture.Signal(process, "INT");
        string rest = process.StandardOutput.ReadToEnd();
        string err = process.StandardError.ReadToEnd();
        process.WaitForExit();

        Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}\n{rest}\n{err}");
        Assert.Contains("Interrupted at step", rest);
        Assert.Contains("--resume", rest);
        var checkpoint = SafetensorsReader.Read(Path.Combine(outDir, "w.ckpt.safetensors"));
        Assert.True(long.Parse(checkpoint.Metadata["step"], CultureInfo.InvariantCulture) >= 1);
        Assert.NotEmpty(SafetensorsReader.Read(weights).RequireFinite().Tensors);
        Assert.Empty(CliFixture.Temporaries(outDir));
    }

    [Fact]
    public void CtrlC_DuringDenoise_Exits130_AndWritesNothing()
    {
        _cli.WriteGaussianPriors();
        string outDir = _cli.PathOf("out");
        using var process = CliFixture.Start("denoise", "--signal-prior", _cli.PathOf("signal.safetensors"), "--noise-prior", _cli.PathOf("noise.safetensors"),
            "--input", _cli.PathOf("y.png"), "--steps", "100000000", "--out", outDir, "--device", "cpu");

        // The header is printed after the signal handlers are registered and just before sampling starts.
        CliFixture.ReadUntil(process, line => line.Contains("100000000 steps on", StringComparison.Ordinal));
        CliFixture.Signal(process, "INT");
        string rest = process.StandardOutput.ReadToEnd();
        string err = process.StandardError.ReadToEnd();
        process.WaitForExit();

        Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}\n{rest}\n{err}");
        Assert.Contains("Interrupted before the sampler finished; nothing was written.", rest);
        Assert.Equal(string.Empty, err);
        Assert.False(Directory.Exists(outDir));
    }

    /// <summary>
    /// Eval runs its methods in catalog order (joint ΠGDM first); interrupted inside that sampler, it reports that
    /// no method finished, and leaves neither a cache entry nor a results table nor a temporary file.
    /// </summary>
    [Fact]
    public void CtrlC_DuringEval_StopsWithNoPartialCacheEntryOrTable()
    {
        foreach (var (folder, seed) in new[] { ("mnist", 3), ("fashion-mnist", 5) })
        {
            var pixels = new byte[10 * 28 * 28];
            new Random(seed).NextBytes(pixels);
            Directory.CreateDirectory(_cli.PathOf(Path.Combine("data", folder)));
            File.WriteAllBytes(_cli.PathOf(Path.Combine("data", folder, "t10k-images-idx3-ubyte")), IdxDatasetTests.Idx(10, 28, 28, pixels));
        }

        string outDir = _cli.PathOf("eval");
        using var process = CliFixture.Start("eval", "--experiment", "mnist-on-fashion", "--n", "2", "--steps", "1000000", "--batch", "2",
            "--methods", "joint-pigdm,classical", "--weights-dir", Path.Combine(AppContext.BaseDirectory, "weights"),
            "--data-dir", _cli.PathOf("data"), "--out", outDir, "--device", "cpu", "--grid-rows", "1");

        // The method's line is printed after the signal handlers are registered, as its million steps start.
        CliFixture.ReadUntil(process, line => line.StartsWith("joint ΠGDM", StringComparison.Ordinal));
        CliFixture.Signal(process, "INT");
        string rest = process.StandardOutput.ReadToEnd();
        string err = process.StandardError.ReadToEnd();
        process.WaitForExit();

        Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}\n{rest}\n{err}");
        Assert.Contains("Interrupted. 0 method(s) finished", rest);
        Assert.Contains("run the same command again to go on", rest);
        Assert.Empty(Directory.Exists(Path.Combine(outDir, "cache")) ? Directory.GetFiles(Path.Combine(outDir, "cache")) : []);
        Assert.False(File.Exists(Path.Combine(outDir, "results.md")));
        Assert.False(File.Exists(Path.Combine(outDir, "results.json")));
        Assert.Empty(CliFixture.Temporaries(outDir));
    }
}
