using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Autodiff;

/// <summary>
/// A tensor recorded on a <see cref="Tape"/>, with its gradient once the backward pass reaches it.
/// </summary>
public sealed class Variable
{
    internal Variable(Tensor value, bool requiresGrad, Tensor? externalGrad) => Reuse(value, requiresGrad, externalGrad);

    /// <summary>The forward value.</summary>
    public Tensor Value { get; private set; }

    /// <summary>Shape of <see cref="Value"/>.</summary>
    public Shape Shape => Value.Shape;

    /// <summary>Whether gradients flow to (or through) this variable.</summary>
    public bool RequiresGrad { get; private set; }

    /// <summary>
    /// The gradient of the backward seed with respect to this variable: for inputs, set once
    /// <see cref="Tape.Backward"/> has run (null if no gradient reached it); for parameters, the caller's
    /// gradient tensor, accumulated into.
    /// </summary>
    public Tensor? Grad { get; internal set; }

    /// <summary>Whether <see cref="Grad"/> holds a value that later contributions add to.</summary>
    internal bool GradWritten { get; set; }

    /// <summary>Makes this object a fresh variable (a <see cref="Tape"/> reuses its variables after <see cref="Tape.Reset"/>).</summary>
    [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(Value))]
    internal void Reuse(Tensor value, bool requiresGrad, Tensor? externalGrad)
    {
        Value = value;
        RequiresGrad = requiresGrad;
        Grad = externalGrad;
        GradWritten = externalGrad is not null;
    }
}
