using JointDiffusion.Gpu.Autodiff;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Nn;

/// <summary>
/// How one forward pass puts parameters on its tape: as constants (sampling: only the input gradient, no
/// weight-gradient kernels) or as trainable parameters whose gradients accumulate into given tensors.
/// </summary>
public sealed class ParameterBinding
{
    private readonly IReadOnlyDictionary<Tensor, Tensor>? _gradients;

    private ParameterBinding(Tape tape, IReadOnlyDictionary<Tensor, Tensor>? gradients)
    {
        Tape = tape;
        _gradients = gradients;
    }

    /// <summary>Parameters enter the tape as constants.</summary>
    public static ParameterBinding Constants(Tape tape) => new(tape, null);

    /// <summary>Each parameter tensor with an entry in <paramref name="gradients"/> gets its gradient accumulated there.</summary>
    public static ParameterBinding Trainable(Tape tape, IReadOnlyDictionary<Tensor, Tensor> gradients) => new(tape, gradients);

    /// <summary>The tape of this pass.</summary>
    public Tape Tape { get; }

    /// <summary>The tape leaf for <paramref name="parameter"/>.</summary>
    public Variable this[Tensor parameter] =>
        _gradients is not null && _gradients.TryGetValue(parameter, out var grad)
            ? Tape.Parameter(parameter, grad)
            : Tape.Constant(parameter);
}
