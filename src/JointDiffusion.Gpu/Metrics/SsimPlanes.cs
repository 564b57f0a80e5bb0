namespace JointDiffusion.Gpu.Metrics;

/// <summary>
/// Double-precision work planes of one SSIM evaluation, allocated once and reused for every channel: the two
/// images, their Gaussian-weighted local moments on the interior (scikit-image's ux, uy, uxx, uyy, uxy after
/// its crop), and scratch.
/// </summary>
internal sealed class SsimPlanes
{
    /// <summary>Allocates the planes for <c>[height, width]</c> channels and a window of radius <paramref name="radius"/>.</summary>
    /// <param name="height">H ≥ 2r + 1.</param>
    /// <param name="width">W ≥ 2r + 1.</param>
    /// <param name="radius">r: the moments exist on the <c>[H − 2r, W − 2r]</c> interior only.</param>
    public SsimPlanes(int height, int width, int radius)
    {
        int plane = height * width;
        int interior = (height - (2 * radius)) * (width - (2 * radius));
        X = new double[plane];
        Y = new double[plane];
        Product = new double[plane];
        MeanX = new double[interior];
        MeanY = new double[interior];
        MeanXX = new double[interior];
        MeanYY = new double[interior];
        MeanXY = new double[interior];
        Scratch = new double[(height - (2 * radius)) * width];
    }

    /// <summary>The first image's channel (the truth).</summary>
    public double[] X { get; }

    /// <summary>The second image's channel (the estimate).</summary>
    public double[] Y { get; }

    /// <summary>Local mean of x at the interior pixels.</summary>
    public double[] MeanX { get; }

    /// <summary>Local mean of y at the interior pixels.</summary>
    public double[] MeanY { get; }

    /// <summary>Local mean of x² at the interior pixels.</summary>
    public double[] MeanXX { get; }

    /// <summary>Local mean of y² at the interior pixels.</summary>
    public double[] MeanYY { get; }

    /// <summary>Local mean of x · y at the interior pixels.</summary>
    public double[] MeanXY { get; }

    /// <summary>A pixelwise product before filtering.</summary>
    public double[] Product { get; }

    /// <summary>The filter's intermediate (filtered along rows only).</summary>
    public double[] Scratch { get; }
}
