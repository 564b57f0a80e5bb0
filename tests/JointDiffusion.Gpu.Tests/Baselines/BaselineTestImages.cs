using JointDiffusion.Kernels;

namespace JointDiffusion.Gpu.Tests.Baselines;

/// <summary>Seeded test images and noise for the baseline tests.</summary>
internal static class BaselineTestImages
{
    /// <summary>White Gaussian values of std <paramref name="sigma"/> from the Philox stream of <paramref name="seed"/>.</summary>
    public static float[] Noise(int length, double sigma, ulong seed)
    {
        var noise = new float[length];
        for (int i = 0; i < length; i++)
        {
            noise[i] = (float)(sigma * Philox.Gaussian(seed, (ulong)i));
        }

        return noise;
    }

    /// <summary>Uniform values in (0, 1) from the Philox stream of <paramref name="seed"/>.</summary>
    public static float[] Uniform(int length, ulong seed)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = Philox.Uniform(seed, (ulong)i);
        }

        return values;
    }

    /// <summary>
    /// A piecewise-constant scene per channel: background 0.2, a rectangle at 0.8 and a disc at 0.5 (a curved
    /// edge), shifted a little per channel.
    /// </summary>
    public static float[] Piecewise(int channels, int height, int width)
    {
        var image = new float[channels * height * width];
        for (int c = 0; c < channels; c++)
        {
            for (int y = 0; y < height; y++)
            {
                for (int x = 0; x < width; x++)
                {
                    float value = 0.2f;
                    if (y >= height / 4 && y < height / 2 && x >= (width / 8) + c && x < (3 * width / 4) + c)
                    {
                        value = 0.8f;
                    }

                    double ry = y - (0.7 * height), rx = x - (0.4 * width);
                    if ((ry * ry) + (rx * rx) < 0.04 * height * width)
                    {
                        value = 0.5f;
                    }

                    image[(((c * height) + y) * width) + x] = value;
                }
            }
        }

        return image;
    }

    /// <summary>A smooth ramp 0.3 + 0.4 (x + y) / (H + W) per plane: almost no finest-scale detail.</summary>
    public static float[] Ramp(int channels, int height, int width)
    {
        var image = new float[channels * height * width];
        for (int p = 0; p < image.Length; p++)
        {
            int y = p / width % height, x = p % width;
            image[p] = (float)(0.3 + (0.4 * (x + y) / (height + width)));
        }

        return image;
    }

    public static float[] Add(float[] a, float[] b) => [.. a.Select((v, i) => v + b[i])];

    public static double Mse(float[] a, float[] b) => a.Select((v, i) => ((double)v - b[i]) * ((double)v - b[i])).Average();

    public static double Norm(float[] values) => Math.Sqrt(values.Sum(v => (double)v * v));
}
