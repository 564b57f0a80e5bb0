namespace JointDiffusion.Gpu.Sampling;

/// <summary>
/// The result of a sampling run for B observations with K samples each, on the host. Sample arrays are
/// [B, K, sample shape] row-major; means and stds are [B, sample shape].
/// </summary>
public sealed class PosteriorSamples
{
    internal PosteriorSamples(int observations, int samples, int[] signalShape, int[]? noiseShape, float[] x, float[]? n)
    {
        Observations = observations;
        SamplesPerObservation = samples;
        SignalShape = signalShape;
        NoiseShape = noiseShape;
        XSamples = x;
        NSamples = n;
        (XMean, XStd) = Moments(x, observations, samples);
        if (n is not null)
        {
            (NMean, NStd) = Moments(n, observations, samples);
        }
    }

    /// <summary>The samples of observation <paramref name="index"/> alone, as a result with one observation.</summary>
    public PosteriorSamples Observation(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Observations);
        int xBlock = XSamples.Length / Observations;
        var x = XSamples.AsSpan(index * xBlock, xBlock).ToArray();
        float[]? n = null;
        if (NSamples is not null)
        {
            int nBlock = NSamples.Length / Observations;
            n = NSamples.AsSpan(index * nBlock, nBlock).ToArray();
        }

        return new PosteriorSamples(1, SamplesPerObservation, SignalShape, NoiseShape, x, n);
    }

    /// <summary>Number of observations B.</summary>
    public int Observations { get; }

    /// <summary>Samples per observation K.</summary>
    public int SamplesPerObservation { get; }

    /// <summary>Shape of one signal sample.</summary>
    public int[] SignalShape { get; }

    /// <summary>Shape of one noise sample (null in single-prior mode).</summary>
    public int[]? NoiseShape { get; }

    /// <summary>Signal samples [B, K, ...].</summary>
    public float[] XSamples { get; }

    /// <summary>Noise samples [B, K, ...] (null in single-prior mode).</summary>
    public float[]? NSamples { get; }

    /// <summary>Per-element mean of the signal samples of each observation [B, ...] (the sample itself when K = 1).</summary>
    public float[] XMean { get; }

    /// <summary>Per-element std of the signal samples [B, ...] (zeros when K = 1).</summary>
    public float[] XStd { get; }

    /// <summary>Per-element mean of the noise samples [B, ...] (null in single-prior mode).</summary>
    public float[]? NMean { get; }

    /// <summary>Per-element std of the noise samples [B, ...] (null in single-prior mode).</summary>
    public float[]? NStd { get; }

    /// <summary>Mean and (population) std over the K samples of each observation, accumulated in double.</summary>
    private static (float[] Mean, float[] Std) Moments(float[] samples, int b, int k)
    {
        int p = samples.Length / (b * k);
        var mean = new float[b * p];
        var std = new float[b * p];
        for (int o = 0; o < b; o++)
        {
            for (int i = 0; i < p; i++)
            {
                double s = 0, s2 = 0;
                for (int j = 0; j < k; j++)
                {
                    double v = samples[(o * k + j) * p + i];
                    s += v;
                    s2 += v * v;
                }

                double m = s / k;
                mean[o * p + i] = (float)m;
                std[o * p + i] = (float)Math.Sqrt(Math.Max(0, s2 / k - m * m));
            }
        }

        return (mean, std);
    }
}
