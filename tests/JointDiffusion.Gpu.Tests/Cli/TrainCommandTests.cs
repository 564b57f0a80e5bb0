using System.Diagnostics;
using JointDiffusion.Cli;
using JointDiffusion.Gpu.Backends.Simd;
using JointDiffusion.Gpu.Data;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Training;

namespace JointDiffusion.Gpu.Tests.Cli;

/// <summary><c>jointdiff train</c> end to end on a tiny folder of images (ngf 4, 8×8).</summary>
public sealed class TrainCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("jointdiff-traincli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string MakeImages()
    {
        string images = Path.Combine(_dir, "images");
        Directory.CreateDirectory(images);
        for (int i = 0; i < 8; i++)
        {
            var pixels = new float[64];
            pixels[i * 8 + i] = 1f;
            pixels[(7 - i) * 8 + i] = 0.5f;
            ImageFile.SavePng(Path.Combine(images, $"img{i}.png"), new PlanarImage(pixels, 1, 8, 8));
        }

        return images;
    }

    private static string[] Args(string images, string output, long steps, int every, bool resume) =>
        ["train", "--data", "folder:" + images, "--size", "8", "--ngf", "4", "--steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture),
         "--batch", "4", "--checkpoint-every", every.ToString(System.Globalization.CultureInfo.InvariantCulture), "--out", output, "--device", "cpu",
         .. resume ? new[] { "--resume" } : []];

    [Fact]
    public void Train_WritesWeightsCheckpointLogAndCard_AndResumes()
    {
        string images = MakeImages();
        string output = Path.Combine(_dir, "out", "w.safetensors");
        var stdout = new StringWriter();
        Assert.Equal(0, CliApp.Run(Args(images, output, 6, 3, resume: false), stdout, new StringWriter()));
        string stem = Path.Combine(_dir, "out", "w");
        Assert.True(File.Exists(output));
        Assert.Equal("6", SafetensorsReader.Read(stem + ".ckpt.safetensors").Metadata["step"]);
        Assert.Equal("6", SafetensorsReader.Read(output).Metadata["training_steps"]);
        Assert.Contains("| steps | 6 |", File.ReadAllText(stem + ".md"));
        Assert.Equal(7, File.ReadAllLines(stem + ".log.csv").Length);

        Assert.Equal(0, CliApp.Run(Args(images, output, 9, 3, resume: true), stdout, new StringWriter()));
        Assert.Contains("Resuming at step 6", stdout.ToString());
        Assert.Equal("9", SafetensorsReader.Read(stem + ".ckpt.safetensors").Metadata["step"]);
        Assert.Equal(10, File.ReadAllLines(stem + ".log.csv").Length);
    }

    [Fact]
    public void Train_RefusesBadOptions()
    {
        string images = MakeImages();
        var err = new StringWriter();
        Assert.Equal(2, CliApp.Run(Args(images, Path.Combine(_dir, "x.safetensors"), 0, 1, false), new StringWriter(), err));
        Assert.Equal(2, CliApp.Run(Args(images, Path.Combine(_dir, "y.safetensors"), 5, 1, true), new StringWriter(), err));
        Assert.Contains("no checkpoint", err.ToString());
        Assert.Equal(2, CliApp.Run(["train", "--data", "imagenet", "--steps", "5", "--out", Path.Combine(_dir, "z.safetensors")], new StringWriter(), err));
        Assert.Contains("is not one of", err.ToString());
    }

    /// <summary>
    /// Fault injection: a training process that checkpoints every step is killed (SIGKILL) right after one of
    /// its checkpoints, so the kill lands while the next one is being written; five times over, resuming each
    /// time. Every time, the checkpoint and the weights on disk must load and resume: the atomic writer
    /// (temporary file, then rename) never exposes a half-written file.
    /// </summary>
    [Fact]
    public void KillingTrainingMidCheckpoint_NeverLeavesACorruptCheckpoint()
    {
        string images = MakeImages();
        string output = Path.Combine(_dir, "kill", "w.safetensors");
        string checkpoint = Path.Combine(_dir, "kill", "w.ckpt.safetensors");
        string cli = Path.Combine(AppContext.BaseDirectory, "jointdiff.dll");
        for (int round = 0; round < 5; round++)
        {
            var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            info.ArgumentList.Add(cli);
            foreach (var a in Args(images, output, 100_000, 1, resume: round > 0))
            {
                info.ArgumentList.Add(a);
            }

            using var process = Process.Start(info)!;
            int checkpoints = 0;
            while (process.StandardOutput.ReadLine() is { } line)
            {
                if (line.Contains("[checkpoint]", StringComparison.Ordinal) && ++checkpoints == 3 + round)
                {
                    break;
                }
            }

            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.True(checkpoints == 3 + round, "the training process ended before it was killed: " + process.StandardError.ReadToEnd());

            using var backend = new SimdBackend();
            var data = ImageFolderDataset.Load(images, 8, 1);
            var trainer = DsmTrainer.Resume(backend, checkpoint, data, new TrainerOptions { Batch = 4, Seed = 1 });
            using (trainer.Network)
            using (trainer)
            {
                Assert.True(trainer.Step >= 3);
            }

            Assert.NotEmpty(SafetensorsReader.Read(output).Tensors);
        }
    }

    /// <summary>SIGTERM (a scheduler's stop, or kill) ends training after the current step with a saved checkpoint.</summary>
    [Fact]
    public void Sigterm_StopsTrainingWithASavedCheckpoint()
    {
        string images = MakeImages();
        string output = Path.Combine(_dir, "term", "w.safetensors");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "jointdiff.dll"));
        foreach (var a in Args(images, output, 100_000, 1000, resume: false))
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        Assert.StartsWith("Training", process.StandardOutput.ReadLine());
        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            kill.WaitForExit();
        }

        string rest = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(130, process.ExitCode);
        Assert.Contains("Interrupted at step", rest);
        var step = long.Parse(SafetensorsReader.Read(Path.Combine(_dir, "term", "w.ckpt.safetensors")).Metadata["step"], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(step < 1000, $"stopped at step {step}, not at the first checkpoint interval");
    }
}
