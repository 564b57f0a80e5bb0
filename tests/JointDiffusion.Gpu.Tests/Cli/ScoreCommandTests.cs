using JointDiffusion.Cli;
using JointDiffusion.Gpu.IO;

namespace JointDiffusion.Gpu.Tests.Cli;

/// <summary>
/// <c>jointdiff score</c> end to end: a PyTorch fixture split into a weights file and an input file gives back
/// PyTorch's score and VJP; bad inputs give a message and the exit-code contract (1 runtime, 2 usage).
/// </summary>
public sealed class ScoreCommandTests : IDisposable
{
    private static readonly string[] NonWeights = ["x", "sigma", "v", "x0", "z", "score", "vjp", "dsm_loss"];
    private readonly string _dir = Directory.CreateTempSubdirectory("jointdiff-score-").FullName;
    private readonly SafetensorsFile _fixture = SafetensorsReader.Read(Path.Combine(AppContext.BaseDirectory, "Fixtures", "ncsnv2_ngf8_32x32x1.safetensors"));

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteWeights()
    {
        string path = Path.Combine(_dir, "w.safetensors");
        SafetensorsWriter.Write(path, _fixture.Tensors.Where(t => !NonWeights.Contains(t.Name) && !t.Name.StartsWith("grad.", StringComparison.Ordinal) && !t.Name.StartsWith("act.", StringComparison.Ordinal)), _fixture.Metadata);
        return path;
    }

    private string WriteInput(params SafetensorsTensor[] tensors)
    {
        string path = Path.Combine(_dir, $"in{Guid.NewGuid():N}.safetensors");
        SafetensorsWriter.Write(path, tensors);
        return path;
    }

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Score_WithV_ReproducesPyTorchScoreAndVjp()
    {
        string weights = WriteWeights();
        string input = WriteInput(_fixture.GetTensor("x"), _fixture.GetTensor("sigma"), _fixture.GetTensor("v"));
        string output = Path.Combine(_dir, "out.safetensors");
        var (code, _, err) = Run("score", "--weights", weights, "--input", input, "--out", output, "--device", "cpu");
        Assert.True(code == 0, err);
        var result = SafetensorsReader.Read(output);
        foreach (var name in new[] { "score", "vjp" })
        {
            var actual = result.GetTensor(name).Data;
            var expected = _fixture.GetTensor(name).Data;
            double scale = expected.Max(Math.Abs);
            double diff = actual.Zip(expected, (a, e) => Math.Abs((double)a - e)).Max();
            Assert.True(diff / scale < 1e-3, $"{name}: relative error {diff / scale:E2}"); // as Ncsnv2ParityTests
        }
    }

    [Fact]
    public void Score_RefusesBadInputsWithAClearMessage()
    {
        string weights = WriteWeights();
        string output = Path.Combine(_dir, "out.safetensors");
        var x = _fixture.GetTensor("x");
        string wrongSigma = WriteInput(x, new SafetensorsTensor("sigma", [3], [1f, 1f, 1f]));
        var (code, _, err) = Run("score", "--weights", weights, "--input", wrongSigma, "--out", output);
        Assert.Equal(1, code);
        Assert.Contains("'sigma' must be [2]", err);

        var nanX = (float[])x.Data.Clone();
        nanX[5] = float.NaN;
        string nanInput = WriteInput(new SafetensorsTensor("x", x.Shape, nanX), _fixture.GetTensor("sigma"));
        (code, _, err) = Run("score", "--weights", weights, "--input", nanInput, "--out", output);
        Assert.Equal(1, code);
        Assert.Contains("'x' contains NaN", err);

        (code, _, err) = Run("score", "--weights", Path.Combine(_dir, "missing.safetensors"), "--input", nanInput, "--out", output);
        Assert.Equal(1, code);
        Assert.Contains("does not exist", err);
        Assert.DoesNotContain("   at ", err); // no stack trace without --verbose

        (code, _, err) = Run("score", "--weights", weights);
        Assert.Equal(2, code);
        Assert.Contains("--input", err);
        Assert.False(File.Exists(output)); // nothing written by any failed run
    }
}
