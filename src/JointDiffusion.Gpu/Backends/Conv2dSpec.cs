namespace JointDiffusion.Gpu.Backends;

/// <summary>
/// Stride-1 2-D convolution geometry: zero padding on every side and dilation. The kernel size comes from
/// the weight tensor [Cout, Cin, K, K]. Output size is H + 2·Padding − Dilation·(K − 1).
/// </summary>
/// <param name="Padding">Zero padding on each side (≥ 0).</param>
/// <param name="Dilation">Dilation (≥ 1).</param>
public readonly record struct Conv2dSpec(int Padding, int Dilation)
{
    /// <summary>The "same" geometry for a K×K kernel with dilation d: padding d·(K−1)/2.</summary>
    public static Conv2dSpec Same(int kernel, int dilation = 1) => new(dilation * (kernel - 1) / 2, dilation);

    /// <summary>Output extent for an input extent and kernel size.</summary>
    public int OutputSize(int input, int kernel) => input + 2 * Padding - Dilation * (kernel - 1);
}
