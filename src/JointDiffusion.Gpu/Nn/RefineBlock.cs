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
    public Variable Forward(IReadOnlyList<Variable> xs, ParameterBinding p)
    {
        var hs = new Variable[xs.Count];
        for (int i = 0; i < xs.Count; i++)
        {
            hs[i] = _adapt[i].Forward(xs[i], p);
        }

        var h = _msf is null ? hs[0] : _msf.Forward(hs, xs[0].Shape.H, xs[0].Shape.W, p);
        h = _crp.Forward(h, p);
        return _output.Forward(h, p);
    }
}
