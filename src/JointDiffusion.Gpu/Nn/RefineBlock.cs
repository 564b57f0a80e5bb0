using System.Runtime.CompilerServices;
using JointDiffusion.Gpu.Autodiff;

namespace JointDiffusion.Gpu.Nn;

/// <summary>
/// RefineNet block: h_i = RCU(x_i) (<c>adapt_convs.{i}</c>, 2 blocks × 2 stages); h = MSF(h_0, h_1) at the
/// first input's size when there are two inputs; then CRP (2 stages) and an output RCU (<c>output_convs</c>,
/// 3 blocks for the end block, else 1, 2 stages). Parameter order follows PyTorch: adapt_convs,
/// output_convs, msf, crp.
/// </summary>
public sealed class RefineBlock
{
    private readonly RcuBlock[] _adapt;
    private readonly RcuBlock _output;
    private readonly MsfBlock? _msf;
    private readonly CrpBlock _crp;

    /// <summary>Declares the block for inputs with <paramref name="inChannels"/> channels.</summary>
    public RefineBlock(ParameterStore store, string prefix, IReadOnlyList<int> inChannels, int features, bool end)
    {
        _adapt = new RcuBlock[inChannels.Count];
        for (int i = 0; i < _adapt.Length; i++)
        {
            _adapt[i] = new RcuBlock(store, $"{prefix}.adapt_convs.{i}", inChannels[i], 2, 2);
        }

        _output = new RcuBlock(store, prefix + ".output_convs", features, end ? 3 : 1, 2);
        if (inChannels.Count > 1)
        {
            _msf = new MsfBlock(store, prefix + ".msf", inChannels, features);
        }

        _crp = new CrpBlock(store, prefix + ".crp", features, 2);
    }

    /// <summary>Records the block; the output has the spatial size of <paramref name="xs"/>[0].</summary>
    /// <exception cref="ArgumentException">Not one input per adapt unit.</exception>
    public Variable Forward(ReadOnlySpan<Variable> xs, ParameterBinding p)
    {
        if (xs.Length != _adapt.Length)
        {
            throw new ArgumentException($"This refine block takes {_adapt.Length} input(s); got {xs.Length}.", nameof(xs));
        }

        // The adapted inputs on the stack (NCSNv2 has at most 2), so a forward pass allocates nothing.
        var buffer = default(AdaptedInputs);
        Span<Variable> hs = xs.Length <= AdaptedInputs.Length ? ((Span<Variable>)buffer)[..xs.Length] : new Variable[xs.Length];
        for (int i = 0; i < xs.Length; i++)
        {
            hs[i] = _adapt[i].Forward(xs[i], p);
        }

        var h = _msf is null ? hs[0] : _msf.Forward(hs, xs[0].Shape.H, xs[0].Shape.W, p);
        h = _crp.Forward(h, p);
        return _output.Forward(h, p);
    }

    /// <summary>Room for the adapted inputs of a block with up to four inputs.</summary>
    [InlineArray(Length)]
    private struct AdaptedInputs
    {
        public const int Length = 4;
        private Variable _element;
    }
}
