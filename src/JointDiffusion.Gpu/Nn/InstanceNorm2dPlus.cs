using JointDiffusion.Gpu.Autodiff;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Nn;

/// <summary>NCSNv2's InstanceNorm++ with parameters <c>{prefix}.alpha</c>, <c>.gamma</c>, <c>.beta</c> [C].</summary>
public sealed class InstanceNorm2dPlus
{
    private readonly Tensor _alpha, _gamma, _beta;

    /// <summary>Declares the parameters in <paramref name="store"/> (PyTorch order: alpha, gamma, beta).</summary>
    public InstanceNorm2dPlus(ParameterStore store, string prefix, int channels)
    {
        _alpha = store.Declare(prefix + ".alpha", new Shape(channels), ParameterInit.NormalAroundOne);
        _gamma = store.Declare(prefix + ".gamma", new Shape(channels), ParameterInit.NormalAroundOne);
        _beta = store.Declare(prefix + ".beta", new Shape(channels), ParameterInit.Zero);
    }

    /// <summary>Records the normalisation of <paramref name="x"/>.</summary>
    public Variable Forward(Variable x, ParameterBinding p) => p.Tape.InstanceNorm2dPlus(x, p[_alpha], p[_gamma], p[_beta]);

    /// <summary>Records ELU of the normalisation of <paramref name="x"/>, fused into one op (<see cref="Tape.InstanceNorm2dPlusElu"/>).</summary>
    public Variable ForwardElu(Variable x, ParameterBinding p) => p.Tape.InstanceNorm2dPlusElu(x, p[_alpha], p[_gamma], p[_beta]);
}
