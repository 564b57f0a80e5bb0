using System.CommandLine;
using JointDiffusion.Cli;
using JointDiffusion.Cli.Commands;
using JointDiffusion.Gpu.IO;

namespace JointDiffusion.Gpu.Tests.Cli;

/// <summary>
/// <c>jointdiff denoise --input FOLDER</c>: one result set per image, shards, resumable skip, failures and
/// interruption, with Gaussian prior files of 8x8 grey images (exact scores, fast) and 10 steps.
/// </summary>
public sealed class DenoiseFolderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("jointdiff-denoise-folder-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Path_(string name) => Path.Combine(_dir, name);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Writes the priors and returns the common arguments of a joint run on <paramref name="input"/> into <paramref name="outDir"/>.</summary>
    private string[] Args(string input, string outDir, params string[] extra)
    {
        if (!File.Exists(Path_("signal.safetensors")))
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
        }

        return ["denoise", "--signal-prior", Path_("signal.safetensors"), "--noise-prior", Path_("noise.safetensors"),
            "--input", input, "--operator", "scale:0.5", "--noise-gain", "0.5", "--steps", "10", "--seed", "5", "--out", outDir, .. extra];
    }

    /// <summary>A folder of 8x8 grey PNGs named <paramref name="names"/>, each with its own pattern.</summary>
    private string ImageFolder(string folder, params string[] names)
    {
        string path = Path_(folder);
        Directory.CreateDirectory(path);
        foreach (var name in names)
        {
            int salt = name.Sum(c => c);
            ImageFile.SavePng(Path.Combine(path, name), new PlanarImage([.. Enumerable.Range(0, 64).Select(i => (i * 7 + salt) % 64 / 64f)], 1, 8, 8));
        }

        return path;
    }

    private static string[] ResultFiles(string outDir) =>
        [.. Directory.GetFiles(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    private static float[] XSamples(string outDir, string stem) =>
        SafetensorsReader.Read(Path.Combine(outDir, $"posterior_{stem}.safetensors")).GetTensor("x_samples").Data;

    [Fact]
    public void Folder_WritesOneResultSetPerImage_AndIgnoresOtherFiles()
    {
        string input = ImageFolder("in", "a.png", "b.png", "c.png");
        File.WriteAllText(Path.Combine(input, "notes.txt"), "not an image");
        Directory.CreateDirectory(Path.Combine(input, "sub"));
        ImageFolder(Path.Combine("in", "sub"), "nested.png");
        string outDir = Path_("out");

        var (code, output, err) = Run(Args(input, outDir, "--samples", "2", "--device", "cpu"));

        Assert.True(code == 0, output + err);
        string[] expected = [.. new[] { "a", "b", "c" }.SelectMany(s => DenoiseOutputs.ImageFileNames(s, 2, joint: true)).Order(StringComparer.Ordinal)];
        Assert.Equal(expected, ResultFiles(outDir));
        Assert.Contains("x_std_a.png", expected);
        Assert.Contains("n_a.png", expected);
        var posterior = SafetensorsReader.Read(Path.Combine(outDir, "posterior_b.safetensors"));
        Assert.Equal(new[] { 1, 2, 1, 8, 8 }, posterior.GetTensor("x_samples").Shape);
        Assert.Equal(new[] { 1, 2, 1, 8, 8 }, posterior.GetTensor("n_samples").Shape);
        Assert.Equal("b.png", posterior.Metadata["source"]);
        Assert.Equal(DenoiseImageSeed.For(5, "b.png").ToString(System.Globalization.CultureInfo.InvariantCulture), posterior.Metadata["seed"]);
        Assert.Contains("batch 1/1: images 1–3 of 3 (shard 0/1)", output);
        Assert.Contains("Done: 3 image(s) denoised, 0 skipped as finished, 0 failed", output);
    }

    [Fact]
    public void Shards_CoverEveryFileOnce_AndMatchTheUnshardedRun()
    {
        string[] names = ["a.png", "b.png", "c.png", "d.png", "e.png"];
        string input = ImageFolder("in", names);
        string whole = Path_("whole"), sharded = Path_("sharded");

        var (code, output, err) = Run(Args(input, whole, "--batch", "2"));
        Assert.True(code == 0, output + err);
        Assert.Contains("batch 3/3: images 5–5 of 5 (shard 0/1)", output);

        // Shard 0/2 takes sorted positions 0, 2, 4; shard 1/2 takes 1 and 3.
        (code, output, err) = Run(Args(input, sharded, "--shard", "0/2", "--batch", "3"));
        Assert.True(code == 0, output + err);
        Assert.Contains("batch 1/1: images 1–3 of 3 (shard 0/2)", output);
        Assert.Equal(["posterior_a.safetensors", "posterior_c.safetensors", "posterior_e.safetensors"], ResultFiles(sharded).Where(f => f.StartsWith("posterior_", StringComparison.Ordinal)));
        (code, output, err) = Run(Args(input, sharded, "--shard", "1/2", "--batch", "3"));
        Assert.True(code == 0, output + err);
        Assert.DoesNotContain("skipping", output);
        Assert.Contains("images 1–2 of 2 (shard 1/2)", output);

        Assert.Equal(ResultFiles(whole), ResultFiles(sharded));
        foreach (var file in ResultFiles(whole))
        {
            if (file.EndsWith(".png", StringComparison.Ordinal))
            {
                Assert.True(File.ReadAllBytes(Path.Combine(whole, file)).SequenceEqual(File.ReadAllBytes(Path.Combine(sharded, file))), file);
            }
        }

        foreach (var stem in names.Select(Path.GetFileNameWithoutExtension))
        {
            Assert.Equal(XSamples(whole, stem!), XSamples(sharded, stem!));
        }
    }

    [Fact]
    public void ImageResult_DependsOnItsFileNameAndTheSeed_NotOnTheOtherFilesOrTheBatch()
    {
        string crowded = ImageFolder("crowded", "a.png", "b.png", "c.png");
        string alone = ImageFolder("alone", "c.png");

        // Same pixels under another name: a different seed, so a different sample.
        File.Copy(Path.Combine(crowded, "c.png"), Path.Combine(crowded, "c2.png"));
        Assert.Equal(0, Run(Args(crowded, Path_("o1"), "--batch", "4")).Code);
        Assert.Equal(0, Run(Args(alone, Path_("o2"), "--batch", "1")).Code);
        Assert.Equal(XSamples(Path_("o1"), "c"), XSamples(Path_("o2"), "c"));
        Assert.NotEqual(XSamples(Path_("o1"), "c"), XSamples(Path_("o1"), "c2"));

        string[] otherSeed = [.. Args(alone, Path_("o3")).Select(a => a == "5" ? "6" : a)];
        Assert.Equal(0, Run(otherSeed).Code);
        Assert.NotEqual(XSamples(Path_("o2"), "c"), XSamples(Path_("o3"), "c"));
    }

    [Fact]
    public void Rerun_SkipsFinishedImages_AndOverwriteRecomputesThem()
    {
        string input = ImageFolder("in", "a.png", "b.png", "c.png");
        string outDir = Path_("out");
        Assert.Equal(0, Run(Args(input, outDir)).Code);

        // Mark every result file with an old time; a file rewritten later gets a new one. Removing one result file
        // of b makes b unfinished, as a run killed between b's files would leave it.
        var old = new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        foreach (var file in Directory.GetFiles(outDir))
        {
            File.SetLastWriteTimeUtc(file, old);
        }

        File.Delete(Path.Combine(outDir, "n_b.png"));
        File.WriteAllText(Path.Combine(outDir, ".x_b.png.0123.tmp"), "left by a killed writer");

        var (code, output, err) = Run(Args(input, outDir));
        Assert.True(code == 0, output + err);
        Assert.Contains("skipping 2 finished", output);
        Assert.Contains("images 1–1 of 1", output);
        Assert.Equal(old, File.GetLastWriteTimeUtc(Path.Combine(outDir, "posterior_a.safetensors")));
        Assert.Equal(old, File.GetLastWriteTimeUtc(Path.Combine(outDir, "x_c.png")));
        Assert.NotEqual(old, File.GetLastWriteTimeUtc(Path.Combine(outDir, "posterior_b.safetensors")));
        Assert.True(File.Exists(Path.Combine(outDir, "n_b.png")));
        Assert.False(File.Exists(Path.Combine(outDir, ".x_b.png.0123.tmp")));

        (code, output, err) = Run(Args(input, outDir));
        Assert.True(code == 0, output + err);
        Assert.Contains("skipping 3 finished", output);
        Assert.Contains("Nothing to do", output);

        (code, output, err) = Run(Args(input, outDir, "--overwrite"));
        Assert.True(code == 0, output + err);
        Assert.DoesNotContain("skipping", output);
        Assert.Contains("Done: 3 image(s) denoised", output);
        Assert.All(Directory.GetFiles(outDir), f => Assert.NotEqual(old, File.GetLastWriteTimeUtc(f)));
    }

    [Theory]
    [InlineData("1", "must be INDEX/COUNT")]
    [InlineData("a/b", "must be INDEX/COUNT")]
    [InlineData("-1/2", "must be INDEX/COUNT")]
    [InlineData("1/ 2", "must be INDEX/COUNT")]
    [InlineData("0/2/1", "must be INDEX/COUNT")]
    [InlineData("0/0", "COUNT must be ≥ 1")]
    [InlineData("2/2", "INDEX must be in 0 … 1")]
    public void MalformedShard_IsAUsageError(string shard, string message)
    {
        string input = ImageFolder("in", "a.png");
        var (code, _, err) = Run(Args(input, Path_("out"), "--shard", shard));
        Assert.Equal(2, code);
        Assert.Contains(message, err);
        Assert.False(Directory.Exists(Path_("out")));
    }

    [Fact]
    public void FolderOptions_AreUsageErrors_WhereTheyDoNotApply()
    {
        string input = ImageFolder("in", "a.png");
        var (code, _, err) = Run(Args(Path.Combine(input, "a.png"), Path_("out"), "--shard", "0/1"));
        Assert.Equal(2, code);
        Assert.Contains("apply to a folder --input", err);
        (code, _, err) = Run(Args(input, Path_("out"), "--batch", "0"));
        Assert.Equal(2, code);
        Assert.Contains("--batch must be ≥ 1", err);
        (code, _, err) = Run(Args(input, input));
        Assert.Equal(2, code);
        Assert.Contains("--out must not be the --input folder", err);
    }

    [Fact]
    public void UnreadableAndWrongSizeImages_AreNamedOnStderr_AndTheOthersAreDone()
    {
        string input = ImageFolder("in", "a.png", "c.png");
        File.WriteAllBytes(Path.Combine(input, "broken.png"), [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]);
        File.WriteAllBytes(Path.Combine(input, "scan.tif"), [0x49, 0x49, 0x2A, 0]);
        ImageFile.SavePng(Path.Combine(input, "big.png"), new PlanarImage(new float[256], 1, 16, 16));
        string outDir = Path_("out");

        var (code, output, err) = Run(Args(input, outDir, "--batch", "2"));

        Assert.Equal(1, code);
        Assert.Contains("failed: broken.png: ", err);
        Assert.Contains("failed: scan.tif: .tif images are not supported", err);
        Assert.Contains("failed: big.png: the image is [1, 16, 16] but the signal prior expects [1, 8, 8] (8x8 pixels)", err);
        Assert.Contains("3 image(s) failed", err);
        Assert.DoesNotContain(_dir, err.Split('\n').First(l => l.Contains("broken.png", StringComparison.Ordinal)));
        Assert.Contains("Done: 2 image(s) denoised, 0 skipped as finished, 3 failed", output);
        Assert.Equal([.. new[] { "a", "c" }.SelectMany(s => DenoiseOutputs.ImageFileNames(s, 1, joint: true)).Order(StringComparer.Ordinal)], ResultFiles(outDir));
    }

    [Fact]
    public void ClashingResultNames_AreRefusedBeforeAnythingRuns()
    {
        string input = ImageFolder("in", "a.png");
        File.Copy(Path.Combine(input, "a.png"), Path.Combine(input, "a.bmp"));
        var (code, _, err) = Run(Args(input, Path_("out")));
        Assert.Equal(1, code);
        Assert.Contains("a.bmp and a.png both write x_a.png", err);
        Assert.False(Directory.Exists(Path_("out")));
    }

    [Fact]
    public void Interrupt_KeepsFinishedImagesOnly_AndTheRerunFinishesTheRest()
    {
        string input = ImageFolder("in", "a.png", "b.png", "c.png");
        string outDir = Path_("out");
        using var interrupt = new CancellationTokenSource();

        // Cancels (as SIGINT/SIGTERM would) as soon as the first batch is reported.
        var stdout = new CancellingWriter("batch 1/", interrupt);
        var stderr = new StringWriter();
        var root = new RootCommand { DenoiseCommand.Create(stdout, interrupt.Token) };
        int code = root.Parse(Args(input, outDir, "--batch", "1")).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });

        Assert.True(code == 130, stdout.ToString() + stderr);
        Assert.Contains("Interrupted: 1 image(s) finished in this run, 0 before it; 2 of shard 0/1's 3 not done", stdout.ToString());
        Assert.Contains("Run the same command again", stdout.ToString());
        Assert.Equal([.. DenoiseOutputs.ImageFileNames("a", 1, joint: true).Order(StringComparer.Ordinal)], ResultFiles(outDir));

        var (rerun, output, err) = Run(Args(input, outDir, "--batch", "1"));
        Assert.True(rerun == 0, output + err);
        Assert.Contains("skipping 1 finished", output);
        Assert.Contains("batch 2/2: images 2–2 of 2", output);
        Assert.Equal(9, ResultFiles(outDir).Length);
    }

    /// <summary>A stdout that cancels a token when a line containing a marker is written.</summary>
    private sealed class CancellingWriter(string marker, CancellationTokenSource source) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value is not null && value.Contains(marker, StringComparison.Ordinal))
            {
                source.Cancel();
            }
        }
    }
}
