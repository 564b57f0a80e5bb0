using System.Globalization;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Sampling.Operators;

namespace JointDiffusion.Cli.Commands;

/// <summary>The <c>--operator</c> value: identity | scale:A | cs:RATIO:SEED | mask:FILE.png.</summary>
internal sealed record OperatorSpec(string Kind, float Gain, int Ratio, ulong Seed, string? MaskPath)
{
    /// <summary>The accepted forms, for messages.</summary>
    public const string Forms = "identity | scale:A | cs:RATIO:SEED | mask:FILE.png";

    /// <summary>Whether the measurement is a vector of m = d/RATIO values rather than an image.</summary>
    public bool IsCompressedSensing => Kind == "cs";

    /// <summary>Parses the option value; a malformed one is a usage error.</summary>
    public static OperatorSpec Parse(string text)
    {
        var parts = text.Split(':');
        try
        {
            return parts[0] switch
            {
                "identity" when parts.Length == 1 => new("identity", 1f, 1, 0, null),
                "scale" when parts.Length == 2 => new("scale", float.Parse(parts[1], CultureInfo.InvariantCulture), 1, 0, null),
                "cs" when parts.Length == 3 => new("cs", 1f, int.Parse(parts[1], CultureInfo.InvariantCulture), ulong.Parse(parts[2], CultureInfo.InvariantCulture), null),
                "mask" when parts.Length >= 2 => new("mask", 1f, 1, 0, text["mask:".Length..]),
                _ => throw new FormatException(),
            };
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new UsageException($"--operator '{text}' is not one of {Forms}.");
        }
    }

    /// <summary>Creates the operator for signals of <paramref name="signalShape"/>.</summary>
    public IMeasurementOperator Create(ComputeBackend backend, int[] signalShape) => Kind switch
    {
        "identity" => DiagonalOperator.Scalar(backend, signalShape, 1f),
        "scale" => DiagonalOperator.Scalar(backend, signalShape, Gain),
        "cs" => DenseOperator.CompressedSensing(backend, signalShape, Ratio, Seed),
        _ => DiagonalOperator.Mask(backend, signalShape, LoadMask(signalShape)),
    };

    /// <summary>A mask image: pixels above ½ are kept (1), the rest dropped (0); grey masks apply to every channel.</summary>
    private float[] LoadMask(int[] signalShape)
    {
        var image = ImageFile.Load(MaskPath!, 1);
        int c = signalShape[0], h = signalShape[^2], w = signalShape[^1];
        if (signalShape.Length != 3 || image.Height != h || image.Width != w)
        {
            throw new InvalidDataException($"The mask {MaskPath} is {image.Width}x{image.Height} but the image is {w}x{h}.");
        }

        var mask = new float[c * h * w];
        for (int ch = 0; ch < c; ch++)
        {
            for (int i = 0; i < h * w; i++)
            {
                mask[ch * h * w + i] = image.Pixels[i] > 0.5f ? 1f : 0f;
            }
        }

        return mask;
    }
}
