using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Models;

namespace JointDiffusion.Cli.Commands;

/// <summary>The observations y of a denoise run, with the signal shape they imply.</summary>
internal sealed record Observation(float[] Values, int Count, int[] SignalShape, int[] MeasurementShape, string[] Names)
{
    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".gif"];

    /// <summary>Loads an image or a safetensors tensor <c>y</c>.</summary>
    public static Observation Load(string path, IScoreModel signal, OperatorSpec spec, int? imageSize)
    {
        string name = Path.GetFileName(path);
        string stem = Path.GetFileNameWithoutExtension(path);
        int channels = signal switch
        {
            Ncsnv2 net => net.Channels,
            GaussianPrior g when g.SampleShape.Count == 3 => g.SampleShape[0],
            _ => 1,
        };
        if (ImageExtensions.Contains(Path.GetExtension(path).ToLowerInvariant()))
        {
            if (spec.IsCompressedSensing)
            {
                throw new InvalidDataException($"{name}: with --operator cs the observation is a vector; give it as a .safetensors tensor 'y'.");
            }

            var image = ImageFile.Load(path, channels is 1 or 3 ? channels : 1);
            int[] shape = [image.Channels, image.Height, image.Width];
            CheckPriorShape(signal, shape, name);
            return new Observation(image.Pixels, 1, shape, shape, [stem]);
        }

        var file = SafetensorsReader.Read(path);
        var y = file.GetTensor("y");
        if (y.Data.Any(v => !float.IsFinite(v)))
        {
            throw new InvalidDataException($"{name}: 'y' contains NaN or infinite values.");
        }

        if (spec.IsCompressedSensing)
        {
            if (y.Shape.Length is not (1 or 2))
            {
                throw new InvalidDataException($"{name}: with --operator cs, 'y' must be [m] or [B, m]; got {y.ShapeText}.");
            }

            int count = y.Shape.Length == 2 ? y.Shape[0] : 1;
            int[] signalShape = signal is GaussianPrior gp
                ? [.. gp.SampleShape]
                : imageSize is int s ? [channels, s, s] : throw new UsageException("--operator cs with an NCSNv2 prior needs --image-size (the signal's height and width).");
            return new Observation(y.Data, count, signalShape, [y.Shape[^1]], SampleNames(stem, count));
        }

        if (y.Shape.Length is not (3 or 4))
        {
            throw new InvalidDataException($"{name}: 'y' must be [C, H, W] or [B, C, H, W]; got {y.ShapeText}.");
        }

        int n = y.Shape.Length == 4 ? y.Shape[0] : 1;
        int[] perSample = y.Shape[^3..];
        CheckPriorShape(signal, perSample, name);
        return new Observation(y.Data, n, perSample, perSample, SampleNames(stem, n));
    }

    private static string[] SampleNames(string stem, int count) =>
        count == 1 ? [stem] : [.. Enumerable.Range(0, count).Select(i => $"{stem}_{i:D3}")];

    private static void CheckPriorShape(IScoreModel signal, int[] shape, string name)
    {
        if (signal is GaussianPrior g && !g.SampleShape.SequenceEqual(shape))
        {
            throw new InvalidDataException($"{name}: the observation is [{string.Join(", ", shape)}] but the Gaussian signal prior models [{string.Join(", ", g.SampleShape)}].");
        }
    }
}
