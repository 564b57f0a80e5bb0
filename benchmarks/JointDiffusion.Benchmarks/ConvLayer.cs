namespace JointDiffusion.Benchmarks;

/// <summary>A square 3x3, padding-1 conv layer of NCSNv2: <paramref name="Channels"/> → same, on Size×Size.</summary>
/// <param name="Channels">Input and output channels.</param>
/// <param name="Size">Height and width.</param>
public readonly record struct ConvLayer(int Channels, int Size)
{
    /// <summary>Kernel size.</summary>
    public const int Kernel = 3;

    /// <summary>2·N·Cout·Cin·K²·Ho·Wo: the multiply-adds of one pass (forward, backward-data or backward-weight), ×2.</summary>
    public double Flops(int batch) => 2.0 * batch * Channels * Channels * Kernel * Kernel * Size * Size;

    /// <inheritdoc/>
    public override string ToString() => $"{Channels}->{Channels} {Size}x{Size}";
}
