using System.Text.Json;
using JointDiffusion.Cli;
using JointDiffusion.Cli.Commands;
using JointDiffusion.Gpu.Tests.Data;

namespace JointDiffusion.Gpu.Tests.Cli;

/// <summary>
/// <c>jointdiff eval</c> and <c>jointdiff tune</c> on a tiny synthetic data folder (MNIST-format files written
/// here) and the shipped ngf-16 priors, with a few steps: the plumbing, the tables, the cache and the errors.
/// The quality is what the eval itself measures (README).
/// </summary>
public sealed class EvalCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("jointdiff-eval-").FullName;
    private readonly string _weights = Path.Combine(AppContext.BaseDirectory, "weights");

    public EvalCommandTests()
    {
        foreach (var (folder, seed) in new[] { ("mnist", 3), ("fashion-mnist", 5) })
        {
            var pixels = new byte[40 * 28 * 28];
            new Random(seed).NextBytes(pixels);
            Directory.CreateDirectory(Path.Combine(_dir, "data", folder));
            File.WriteAllBytes(Path.Combine(_dir, "data", folder, "t10k-images-idx3-ubyte"), IdxDatasetTests.Idx(40, 28, 28, pixels));
        }
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private string[] Eval(string outDir, string methods, params string[] extra) =>
        ["eval", "--experiment", "mnist-on-fashion", "--n", "3", "--steps", "2", "--batch", "2", "--methods", methods,
         "--weights-dir", _weights, "--data-dir", Path.Combine(_dir, "data"), "--out", outDir, "--device", "cpu", "--grid-rows", "2", .. extra];

    [Fact]
    public void Eval_WritesTablesAndGridForEveryMethod_AndReusesFinishedMethods()
    {
        string outDir = Path.Combine(_dir, "out");
        var (code, stdout, stderr) = Run(Eval(outDir, "joint-pigdm,single-pigdm,classical"));
        Assert.True(code == 0, stdout + stderr);
        string table = File.ReadAllText(Path.Combine(outDir, "results.md"));
        foreach (var row in new[] { "| observation clip(y/a) |", "| joint ΠGDM |", "| single-prior ΠGDM |", "| classical |" })
        {
            Assert.Contains(row, table);
        }

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")));
        var methods = json.RootElement.GetProperty("methods").EnumerateArray().Select(m => m.GetProperty("method").GetString()!).ToArray();
        Assert.Equal(new[] { "observation", "joint-pigdm", "single-pigdm", "classical" }, methods);
        foreach (var m in json.RootElement.GetProperty("methods").EnumerateArray())
        {
            double psnr = m.GetProperty("psnr_mean").GetDouble();
            Assert.True(double.IsFinite(psnr) && psnr > 0, $"{m}");
        }

        Assert.True(File.Exists(Path.Combine(outDir, "grid.png")));
        Assert.True(File.Exists(Path.Combine(outDir, "cache", "joint-pigdm.safetensors")));

        // A second run with one more method loads the finished ones from the cache and gives the same numbers.
        var again = Run(Eval(outDir, "joint-pigdm,single-pigdm,classical,joint-projection"));
        Assert.True(again.Code == 0, again.Out + again.Err);
        Assert.Contains("joint ΠGDM: finished earlier", again.Out);
        Assert.DoesNotContain("joint projection: finished earlier", again.Out);
        string first = table.Split('\n').Single(l => l.StartsWith("| joint ΠGDM |", StringComparison.Ordinal));
        Assert.Contains(first, File.ReadAllText(Path.Combine(outDir, "results.md")));

        // Another step count is another result: not taken from the cache.
        var other = Run(Eval(outDir, "joint-pigdm", "--seed", "9"));
        Assert.True(other.Code == 0, other.Out + other.Err);
        Assert.DoesNotContain("finished earlier", other.Out);
    }

    [Fact]
    public void Eval_MissingData_SaysWhatIsMissingAndHowToFetchIt()
    {
        var (code, _, stderr) = Run(["eval", "--experiment", "mnist-on-fashion", "--n", "2", "--steps", "1", "--weights-dir", _weights,
            "--data-dir", Path.Combine(_dir, "nothing"), "--out", Path.Combine(_dir, "o"), "--device", "cpu"]);
        Assert.Equal(1, code);
        Assert.Contains("Fashion-MNIST", stderr);
        Assert.Contains("data fetch", stderr);
        Assert.False(Directory.Exists(Path.Combine(_dir, "o")));
    }

    [Fact]
    public void Eval_MissingPrior_NamesTheFile()
    {
        var (code, _, stderr) = Run(["eval", "--experiment", "rain", "--n", "2", "--steps", "1", "--weights-dir", _dir,
            "--data-dir", Path.Combine(_dir, "data"), "--out", Path.Combine(_dir, "o"), "--device", "cpu"]);
        Assert.Equal(1, code);
        Assert.Contains("fmnist32_ngf16.safetensors", stderr);
        Assert.Contains("is missing", stderr);
    }

    [Theory]
    [InlineData("--experiment", "nope")]
    [InlineData("--methods", "joint-pigdm,bogus")]
    [InlineData("--n", "0")]
    public void Eval_BadOptions_AreUsageErrors(string option, string value)
    {
        var args = new List<string> { "eval", "--experiment", "mnist-on-fashion", "--out", Path.Combine(_dir, "o"), "--data-dir", Path.Combine(_dir, "data") };
        int at = args.IndexOf(option);
        if (at >= 0)
        {
            args[at + 1] = value;
        }
        else
        {
            args.AddRange([option, value]);
        }

        var (code, _, stderr) = Run([.. args]);
        Assert.Equal(2, code);
        Assert.StartsWith("error:", stderr);
    }

    [Fact]
    public void Tune_SearchesTheGridAndWritesTheBest()
    {
        string file = Path.Combine(_dir, "tune.json");
        var (code, stdout, stderr) = Run(["tune", "--experiment", "sine-2d", "--rule", "projection", "--n", "2", "--steps", "2",
            "--weights-dir", _weights, "--data-dir", Path.Combine(_dir, "data"), "--out", file, "--device", "cpu"]);
        Assert.True(code == 0, stdout + stderr);
        using var json = JsonDocument.Parse(File.ReadAllText(file));
        var trials = json.RootElement.GetProperty("trials").EnumerateArray().ToList();
        Assert.True(trials.Count >= TuneCommand.CoarseGrid("projection").Length, stdout);
        double best = json.RootElement.GetProperty("best").GetProperty("psnr").GetDouble();
        Assert.Equal(trials.Max(t => t.GetProperty("psnr").GetDouble()), best, 9);
        Assert.Contains("Best: --lambda", stdout);
    }

    [Theory]
    [InlineData(1.9, 1.9, 0.5f, 0.5f, true)]
    [InlineData(2.0, 2.0, 0.5f, 0.5f, false)]
    [InlineData(3.0, 0.5, 0.5f, 0.5f, true)] // (3·0.25 + 0.5·0.25) / 0.5 = 1.75
    [InlineData(3.0, 1.5, 1f, 1f, false)] // (3 + 1.5) / 2 = 2.25
    [InlineData(0.5, 3.0, 0.9f, 0.3f, true)] // (0.405 + 0.27) / 0.9 = 0.75
    public void PigdmBound_IsTheStabilityLimit(double lambda, double kappa, float a, float b, bool inside)
    {
        Assert.Equal(inside, TuneCommand.InsideBound("pigdm", lambda, kappa, a, b));
        Assert.True(TuneCommand.InsideBound("dps", lambda * 10, kappa * 10, a, b));
    }
}
