using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Sampling;

namespace JointDiffusion.Cli.Commands;

/// <summary>Writes a denoise run's results: <c>posterior.safetensors</c> and, for image-shaped data, PNGs.</summary>
internal static class DenoiseOutputs
{
    /// <summary>Writes everything into <paramref name="dir"/> (each file atomically); returns the file names.</summary>
    public static List<string> Write(string dir, PosteriorSamples result, string[] names)
    {
        int b = result.Observations, k = result.SamplesPerObservation;
        var tensors = new List<SafetensorsTensor>
        {
            new("x_samples", [b, k, .. result.SignalShape], result.XSamples),
            new("x_mean", [b, .. result.SignalShape], result.XMean),
            new("x_std", [b, .. result.SignalShape], result.XStd),
        };
        if (result.NSamples is not null)
        {
            tensors.Add(new("n_samples", [b, k, .. result.NoiseShape!], result.NSamples));
            tensors.Add(new("n_mean", [b, .. result.NoiseShape!], result.NMean!));
            tensors.Add(new("n_std", [b, .. result.NoiseShape!], result.NStd!));
        }

        var written = new List<string>();
        SafetensorsWriter.Write(Path.Combine(dir, "posterior.safetensors"), tensors, new Dictionary<string, string>
        {
            ["samples_per_observation"] = k.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        written.Add("posterior.safetensors");

        WriteImages(dir, "x", result.XMean, result.SignalShape, names, written);
        if (k > 1)
        {
            WriteImages(dir, "x_std", Normalised(result.XStd), result.SignalShape, names, written);
        }

        if (result.NMean is not null)
        {
            WriteImages(dir, "n", result.NMean, result.NoiseShape!, names, written);
        }

        return written;
    }

    /// <summary>PNG per observation when the shape is an image [1 or 3, H, W]; values are clamped to [0, 1].</summary>
    private static void WriteImages(string dir, string prefix, float[] values, int[] shape, string[] names, List<string> written)
    {
        if (shape.Length != 3 || shape[0] is not (1 or 3))
        {
            return;
        }

        int per = shape[0] * shape[1] * shape[2];
        for (int i = 0; i < names.Length; i++)
        {
            var image = new PlanarImage(values.AsSpan(i * per, per).ToArray(), shape[0], shape[1], shape[2]);
            string file = $"{prefix}_{names[i]}.png";
            ImageFile.SavePng(Path.Combine(dir, file), image);
            written.Add(file);
        }
    }

    /// <summary>A std map scaled so its largest value is white (the scale is in posterior.safetensors as x_std).</summary>
    private static float[] Normalised(float[] std)
    {
        float max = std.Max();
        return max > 0 ? [.. std.Select(s => s / max)] : std;
    }
}
