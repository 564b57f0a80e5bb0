using JointDiffusion.Cli;

namespace JointDiffusion.Gpu.Tests.Cli;

/// <summary>
/// <c>jointdiff demo</c> from the files a fresh clone has: the shipped weights (copied beside the program) and
/// the shipped test pairs. Few steps: this checks the plumbing; the quality is measured by the demo itself.
/// </summary>
public sealed class DemoCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("jointdiff-demo-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Demo_RunsOnTheShippedWeightsAndWritesAGridAndATable()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(["demo", "--steps", "3", "--count", "1", "--out", _dir, "--device", "cpu",
            "--weights-dir", Path.Combine(AppContext.BaseDirectory, "weights")], stdout, stderr);
        Assert.True(code == 0, stdout.ToString() + stderr);
        Assert.True(File.Exists(Path.Combine(_dir, "grid.png")));
        string table = File.ReadAllText(Path.Combine(_dir, "metrics.md"));
        Assert.Contains("| joint ΠGDM (ours) |", table);
        Assert.Contains("| single-prior ΠGDM |", table);
    }

    [Fact]
    public void Demo_WithoutWeights_SaysWhereItLooked()
    {
        var stderr = new StringWriter();
        int code = CliApp.Run(["demo", "--weights-dir", _dir, "--out", Path.Combine(_dir, "out")], new StringWriter(), stderr);
        Assert.Equal(1, code);
        Assert.Contains("were not found in " + _dir, stderr.ToString());
        Assert.False(Directory.Exists(Path.Combine(_dir, "out")));
    }
}
