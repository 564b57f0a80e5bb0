namespace JointDiffusion.Gpu.Tensors;

/// <summary>A named tensor's dimensions and float32 data in host memory (what a weights file holds).</summary>
/// <param name="Shape">Dimensions (any rank ≥ 0, as in the file).</param>
/// <param name="Data">Row-major values; length = product of <paramref name="Shape"/>.</param>
public sealed record HostTensor(int[] Shape, float[] Data)
{
    /// <summary>The dimensions formatted as [d0, d1, ...].</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
