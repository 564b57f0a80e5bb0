using JointDiffusion.Gpu.Backends.Simd;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Tests.Models;

/// <summary>
/// The network declares exactly PyTorch's state_dict: the same names in the same order with the same shapes
/// (listings taken from ermongroup/ncsnv2 checkpoints, committed under Fixtures/), and the parameter count
/// of NCSNV2.md, P(n, C) = 1811n² + (123 + 18C)n + C.
/// </summary>
public sealed class Ncsnv2StructureTests : IDisposable
{
    private readonly SimdBackend _backend = new();

    public void Dispose() => _backend.Dispose();

    private static List<(string Name, string Shape)> Listing(string file) =>
        [.. File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Fixtures", file))
            .Select(l => l.Split('\t'))
            .Where(f => f.Length == 2 && f[0] != "TOTAL" && f[0] != "sigmas")
            .Select(f => (f[0], f[1]))];

    [Theory]
    [InlineData("state_dict_mnist28_ngf32.txt", 32, 1)]
    [InlineData("state_dict_celeba64_ngf128.txt", 128, 3)]
    public void DeclaredParameters_MatchPyTorchStateDict(string listing, int ngf, int channels)
    {
        using var net = Ncsnv2.CreateRandom(_backend, ngf, channels, seed: 1);
        var expected = Listing(listing);
        var actual = net.Parameters.Parameters.Select(p => (p.Name, "[" + string.Join(",", p.Value.Shape.ToArray()) + "]")).ToList();
        Assert.Equal(153, actual.Count);
        Assert.Equal(expected, actual);
        long p = 1811L * ngf * ngf + (123 + 18 * channels) * ngf + channels;
        Assert.Equal(p, net.Parameters.Count);
    }

    [Fact]
    public void FromTensors_ListsEveryMissingMisshapedAndUnexpectedTensor()
    {
        Dictionary<string, SafetensorsTensor> tensors;
        using (var net = Ncsnv2.CreateRandom(_backend, 4, 1, seed: 2))
        {
            tensors = net.Parameters.ToHost();
        }

        tensors.Remove("res2.0.conv2.conv.weight");
        tensors.Remove("refine4.crp.convs.1.weight");
        tensors["end_conv.bias"] = new SafetensorsTensor("end_conv.bias", [2], [0f, 0f]);
        tensors["extra.weight"] = new SafetensorsTensor("extra.weight", [1], [0f]);
        tensors["sigmas"] = new SafetensorsTensor("sigmas", [3], [1f, 2f, 3f]); // the discrete ladder buffer: ignored
        var e = Assert.Throws<InvalidDataException>(() => Ncsnv2.FromTensors(_backend, tensors, null, "w.safetensors"));
        Assert.StartsWith("w.safetensors: 4 parameter problem(s)", e.Message);
        Assert.Contains("missing 'res2.0.conv2.conv.weight' (expected [8, 4, 3, 3])", e.Message);
        Assert.Contains("missing 'refine4.crp.convs.1.weight'", e.Message);
        Assert.Contains("'end_conv.bias' has shape [2], expected [1]", e.Message);
        Assert.Contains("unexpected 'extra.weight'", e.Message);
        Assert.DoesNotContain("sigmas", e.Message);
        Assert.Equal(0, _backend.Pool.BytesInUse); // nothing leaked by the failed load
    }

    [Fact]
    public void FromTensors_RefusesUnknownInputTransformAndOtherArchitectures()
    {
        Dictionary<string, SafetensorsTensor> tensors;
        using (var net = Ncsnv2.CreateRandom(_backend, 4, 1, seed: 2))
        {
            tensors = net.Parameters.ToHost();
        }

        var e = Assert.Throws<InvalidDataException>(() => Ncsnv2.FromTensors(_backend, tensors, new Dictionary<string, string> { ["input_transform"] = "x/255" }, "w"));
        Assert.Contains("unknown input_transform 'x/255'", e.Message);
        e = Assert.Throws<InvalidDataException>(() => Ncsnv2.FromTensors(_backend, tensors, new Dictionary<string, string> { ["arch"] = "gaussian" }, "w"));
        Assert.Contains("arch is 'gaussian'", e.Message);
        tensors.Remove("begin_conv.weight");
        e = Assert.Throws<InvalidDataException>(() => Ncsnv2.FromTensors(_backend, tensors, null, "w"));
        Assert.Contains("not an NCSNv2 state_dict", e.Message);
    }

    [Fact]
    public void Score_RefusesOddSizesWrongChannelsAndBadSigma()
    {
        using var net = Ncsnv2.CreateRandom(_backend, 4, 1, seed: 3);
        using var odd = _backend.Zeros(Shape.Nchw(1, 1, 7, 8));
        using var rgb = _backend.Zeros(Shape.Nchw(1, 3, 8, 8));
        using var ok = _backend.Zeros(Shape.Nchw(2, 1, 8, 8));
        using var outT = _backend.Zeros(ok.Shape);
        Assert.Contains("even image height and width", Assert.Throws<ArgumentException>(() => net.Score(odd, [1f], outT)).Message);
        Assert.Contains("needs input [B, 1, H, W]", Assert.Throws<ArgumentException>(() => net.Score(rgb, [1f], outT)).Message);
        Assert.Contains("one σ per sample", Assert.Throws<ArgumentException>(() => net.Score(ok, [1f], outT)).Message);
        Assert.Contains("positive and finite", Assert.Throws<ArgumentException>(() => net.Score(ok, [1f, 0f], outT)).Message);
    }
}
