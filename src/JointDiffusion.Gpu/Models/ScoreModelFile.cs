using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.IO;

namespace JointDiffusion.Gpu.Models;

/// <summary>Opens a score-model file by its <c>__metadata__.arch</c>: <c>ncsnv2</c> (the default) or <c>gaussian</c>.</summary>
public static class ScoreModelFile
{
    /// <summary>Loads the model in <paramref name="path"/> onto <paramref name="backend"/>.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="SafetensorsFormatException">The file is not valid safetensors.</exception>
    /// <exception cref="InvalidDataException">The tensors do not form the model the metadata names.</exception>
    public static IScoreModel Load(ComputeBackend backend, string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Score model file {path} does not exist.", path);
        }

        var file = SafetensorsReader.Read(path).RequireFinite();
        string arch = file.Metadata.TryGetValue("arch", out var a) ? a : "ncsnv2";
        return arch switch
        {
            "ncsnv2" => Ncsnv2.FromTensors(backend, file.Tensors.ToDictionary(t => t.Name), file.Metadata, Path.GetFileName(path)),
            "gaussian" => GaussianPrior.Load(backend, path),
            _ => throw new InvalidDataException($"{Path.GetFileName(path)}: unknown arch '{arch}' (expected 'ncsnv2' or 'gaussian')."),
        };
    }
}
