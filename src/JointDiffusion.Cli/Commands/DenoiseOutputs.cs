using System.Globalization;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Sampling;

namespace JointDiffusion.Cli.Commands;

/// <summary>
/// Writes a denoise run's results. A single input gives <c>posterior.safetensors</c> and, for image-shaped
/// data, <c>x_NAME.png</c>, <c>x_std_NAME.png</c> (K &gt; 1) and <c>n_NAME.png</c> (joint). A folder input gives
/// the same PNGs per image and <c>posterior_NAME.safetensors</c> instead of one shared posterior file.
/// </summary>
internal static class DenoiseOutputs
{
    /// <summary>Writes everything into <paramref name="dir"/> (each file atomically); returns the file names.</summary>
    public static List<string> Write(string dir, PosteriorSamples result, string[] names)
    {
        int k = result.SamplesPerObservation;
        var written = new List<string>();
        SafetensorsWriter.Write(Path.Combine(dir, "posterior.safetensors"), PosteriorTensors(result), new Dictionary<string, string>
        {
            ["samples_per_observation"] = k.ToString(CultureInfo.InvariantCulture),
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

    /// <summary>
    /// The files a folder run writes for the image whose file name has stem <paramref name="stem"/>, in the order
    /// they are written: the posterior tensors come last, so they mark a finished image.
    /// </summary>
    public static string[] ImageFileNames(string stem, int samplesPerObservation, bool joint)
    {
        var names = new List<string> { $"x_{stem}.png" };
        if (samplesPerObservation > 1)
        {
            names.Add($"x_std_{stem}.png");
        }

        if (joint)
        {
            names.Add($"n_{stem}.png");
        }

        names.Add($"posterior_{stem}.safetensors");
        return [.. names];
    }

    /// <summary>
    /// Writes the result of one image of a folder run (<paramref name="result"/> holds exactly one observation
    /// of image shape) as <see cref="ImageFileNames"/>, each file atomically; returns the file names.
    /// </summary>
    public static List<string> WriteImage(string dir, PosteriorSamples result, string stem, IReadOnlyDictionary<string, string> metadata)
    {
        if (result.Observations != 1)
        {
            throw new ArgumentException($"Expected the result of one image; got {result.Observations} observations.", nameof(result));
        }

        var written = new List<string>();
        string[] names = [stem];
        WriteImages(dir, "x", result.XMean, result.SignalShape, names, written);
        if (result.SamplesPerObservation > 1)
        {
            WriteImages(dir, "x_std", Normalised(result.XStd), result.SignalShape, names, written);
        }

        if (result.NMean is not null)
        {
            WriteImages(dir, "n", result.NMean, result.NoiseShape!, names, written);
        }

        var meta = new Dictionary<string, string>(metadata)
        {
            ["samples_per_observation"] = result.SamplesPerObservation.ToString(CultureInfo.InvariantCulture),
        };
        string posterior = $"posterior_{stem}.safetensors";
        SafetensorsWriter.Write(Path.Combine(dir, posterior), PosteriorTensors(result), meta);
        written.Add(posterior);
        return written;
    }

    /// <summary>x (and n) samples [B, K, ...], means and stds [B, ...].</summary>
    private static List<SafetensorsTensor> PosteriorTensors(PosteriorSamples result)
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

        return tensors;
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

    /// <summary>A std map scaled so its largest value is white (the scale is in the posterior file as x_std).</summary>
    private static float[] Normalised(float[] std)
    {
        float max = std.Max();
        return max > 0 ? [.. std.Select(s => s / max)] : std;
    }
}
