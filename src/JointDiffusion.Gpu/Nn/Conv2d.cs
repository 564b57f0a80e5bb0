using JointDiffusion.Gpu.Autodiff;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Nn;

/// <summary>A stride-1 "same" convolution with parameters <c>{prefix}.weight</c> [out, in, k, k] and optional <c>{prefix}.bias</c>.</summary>
public sealed class Conv2d
{
    /// <summary>Declares the parameters in <paramref name="store"/>.</summary>
    public Conv2d(ParameterStore store, string prefix, int inChannels, int outChannels, int kernel, bool bias, int dilation = 1)
    {
        int fanIn = inChannels * kernel * kernel;
        Weight = store.Declare(prefix + ".weight", new Shape(outChannels, inChannels, kernel, kernel), ParameterInit.ConvUniform, fanIn);
        Bias = bias ? store.Declare(prefix + ".bias", new Shape(outChannels), ParameterInit.ConvUniform, fanIn) : null;
        Spec = Conv2dSpec.Same(kernel, dilation);
    }

    /// <summary>Weight [out, in, k, k].</summary>
    public Tensor Weight { get; }

    /// <summary>Bias [out] or null.</summary>
    public Tensor? Bias { get; }

    /// <summary>Padding and dilation.</summary>
    public Conv2dSpec Spec { get; }

    /// <summary>Records the convolution of <paramref name="x"/>.</summary>
    public Variable Forward(Variable x, ParameterBinding p) =>
        p.Tape.Conv2d(x, p[Weight], Bias is null ? null : p[Bias], Spec);
}
