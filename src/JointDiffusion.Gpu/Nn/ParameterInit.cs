namespace JointDiffusion.Gpu.Nn;

/// <summary>How a freshly created parameter is initialised (PyTorch defaults of the NCSNv2 reference code).</summary>
public enum ParameterInit
{
    /// <summary>U(−1/√fan_in, 1/√fan_in): nn.Conv2d's default for weights (kaiming_uniform, a = √5) and biases.</summary>
    ConvUniform,

    /// <summary>N(1, 0.02²): InstanceNorm++ α and γ.</summary>
    NormalAroundOne,

    /// <summary>0: InstanceNorm++ β.</summary>
    Zero,
}
