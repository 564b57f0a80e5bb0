namespace JointDiffusion.Gpu.Models;

/// <summary>The map NCSNv2 applies to its input before the first conv (<c>__metadata__.input_transform</c>).</summary>
public enum InputTransform
{
    /// <summary>h = 2x − 1: data in [0, 1] mapped to [−1, 1] (the NCSNv2 default, also when the key is absent).</summary>
    TwoXMinusOne,

    /// <summary>h = x.</summary>
    None,
}
