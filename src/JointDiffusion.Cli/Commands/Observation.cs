using System.Globalization;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Models;

namespace JointDiffusion.Cli.Commands;

/// <summary>The observations y of a denoise run, with the signal shape they imply.</summary>
internal sealed record Observation(float[] Values, int Count, int[] SignalShape, int[] MeasurementShape, string[] Names)
{
    /// <summary>Extensions <see cref="ImageFile"/> decodes (PNG, JPEG, BMP, GIF), lower case with the dot.</summary>
    public static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".gif"];

    /// <summary>Image extensions that are recognised as images but that <see cref="ImageFile"/> cannot decode.</summary>
    public static readonly string[] UnsupportedImageExtensions = [".tif", ".tiff", ".webp"];

    /// <summary>Whether <paramref name="path"/> names a file <see cref="ImageFile"/> can decode, by its extension.</summary>
    public static bool IsImagePath(string path) => ImageExtensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>Whether <paramref name="path"/> names an image format that is recognised but not supported.</summary>
    public static bool IsUnsupportedImagePath(string path) => UnsupportedImageExtensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>The channel count images are converted to for <paramref name="signal"/> (1 = luminance, 3 = RGB).</summary>
    public static int ImageChannels(IScoreModel signal)
    {
        int channels = ModelChannels(signal);
        return channels is 1 or 3 ? channels : 1;
    }

    /// <summary>Loads an image or a safetensors tensor <c>y</c>.</summary>
    public static Observation Load(string path, IScoreModel signal, OperatorSpec spec, int? imageSize)
    {
        string name = Path.GetFileName(path);
        string stem = Path.GetFileNameWithoutExtension(path);
        int channels = ModelChannels(signal);
        if (IsImagePath(path) || IsUnsupportedImagePath(path))
        {
            if (spec.IsCompressedSensing)
            {
                throw new InvalidDataException($"{name}: with --operator cs the observation is a vector; give it as a .safetensors tensor 'y'.");
            }

            var image = LoadImage(path, ImageChannels(signal));
            CheckPriorShape(signal, image.SignalShape, name);
            return image;
        }

        var file = SafetensorsReader.Read(path);
        var y = file.GetTensor("y");
        int bad = y.IndexOfNonFinite();
        if (bad >= 0)
        {
            throw new InvalidDataException(
                $"{name}: 'y' contains NaN or infinite values (the first, {y.Data[bad].ToString(CultureInfo.InvariantCulture)}, at flat index {bad} of {y.Data.Length}); the observation must be finite.");
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

    /// <summary>
    /// Loads one image file as a single observation of shape [<paramref name="channels"/>, H, W] named by its stem.
    /// </summary>
    /// <exception cref="ImageFileException">The file is not an image <see cref="ImageFile"/> accepts.</exception>
    /// <exception cref="InvalidDataException">The file is a TIFF or WebP image, which is not supported.</exception>
    public static Observation LoadImage(string path, int channels)
    {
        if (IsUnsupportedImagePath(path))
        {
            throw new InvalidDataException($"{Path.GetFileName(path)}: {Path.GetExtension(path)} images are not supported (PNG, JPEG, BMP and GIF are); convert it to PNG.");
        }

        var image = ImageFile.Load(path, channels);
        int[] shape = [image.Channels, image.Height, image.Width];
        return new Observation(image.Pixels, 1, shape, shape, [Path.GetFileNameWithoutExtension(path)]);
    }

    private static int ModelChannels(IScoreModel signal) => signal switch
    {
        Ncsnv2 net => net.Channels,
        GaussianPrior g when g.SampleShape.Count == 3 => g.SampleShape[0],
        _ => 1,
    };

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
