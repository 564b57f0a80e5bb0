namespace JointDiffusion.Gpu.Data;

/// <summary>The float32 value v / 255 of every byte v: what torchvision's <c>ToTensor</c> gives, as a lookup table.</summary>
internal static class ByteLevels
{
    /// <summary>Entry v is v / 255 computed as a float32 division (exact for 0 and 255). Never written.</summary>
    internal static readonly float[] Values = [.. Enumerable.Range(0, 256).Select(v => v / 255f)];
}
