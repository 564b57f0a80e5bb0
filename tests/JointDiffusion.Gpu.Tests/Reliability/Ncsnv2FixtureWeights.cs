using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Models;

namespace JointDiffusion.Gpu.Tests.Reliability;

/// <summary>The weights of the committed ngf-8, 32×32 grey NCSNv2 fixture (its inputs, activations and gradients left out).</summary>
internal static class Ncsnv2FixtureWeights
{
    private static readonly string[] InputNames = ["x", "sigma", "v", "x0", "z", "score", "vjp", "dsm_loss"];

    /// <summary>The fixture's name.</summary>
    public const string FileName = "ncsnv2_ngf8_32x32x1.safetensors";

    /// <summary>The weight tensors by state_dict name, freshly read (callers may change them).</summary>
    public static Dictionary<string, SafetensorsTensor> Read(out IReadOnlyDictionary<string, string> metadata)
    {
        var file = SafetensorsReader.Read(Path.Combine(AppContext.BaseDirectory, "Fixtures", FileName));
        metadata = file.Metadata;
        return file.Tensors
            .Where(t => !InputNames.Contains(t.Name) && !t.Name.StartsWith("grad.", StringComparison.Ordinal) && !t.Name.StartsWith("act.", StringComparison.Ordinal))
            .ToDictionary(t => t.Name);
    }

    /// <summary>The network on <paramref name="backend"/>.</summary>
    public static Ncsnv2 Load(ComputeBackend backend) => Ncsnv2.FromTensors(backend, Read(out var metadata), metadata, FileName);

    /// <summary>Writes the weights to <paramref name="path"/> as a weights file <c>jointdiff</c> loads, after <paramref name="change"/>.</summary>
    public static void Write(string path, Action<Dictionary<string, SafetensorsTensor>>? change = null)
    {
        var weights = Read(out var metadata);
        change?.Invoke(weights);
        SafetensorsWriter.Write(path, weights.Values, metadata);
    }
}
