using JointDiffusion.Gpu.Autodiff;

namespace JointDiffusion.Gpu.Nn;

/// <summary>ConvMeanPool: a k×k convolution with bias (<c>{prefix}.conv</c>), then a 2×2 mean pool.</summary>
public sealed class ConvMeanPool(ParameterStore store, string prefix, int inChannels, int outChannels, int kernel)
{
    private readonly Conv2d _conv = new(store, prefix + ".conv", inChannels, outChannels, kernel, bias: true);

    /// <summary>Records conv then pool.</summary>
    public Variable Forward(Variable x, ParameterBinding p) => p.Tape.MeanPool2x2(_conv.Forward(x, p));
}
