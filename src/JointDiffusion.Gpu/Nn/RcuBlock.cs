using JointDiffusion.Gpu.Autodiff;

namespace JointDiffusion.Gpu.Nn;

/// <summary>
/// Residual conv unit: for each of <c>blocks</c> blocks, x = x + conv_{b,stages}(ELU(… conv_{b,1}(ELU(x)))).
/// Convs are 3×3 without bias, named <c>{prefix}.{b}_{s}_conv</c> (1-based).
/// </summary>
public sealed class RcuBlock
{
    private readonly Conv2d[][] _convs;

    /// <summary>Declares <paramref name="blocks"/>×<paramref name="stages"/> convs of <paramref name="channels"/>.</summary>
    public RcuBlock(ParameterStore store, string prefix, int channels, int blocks, int stages)
    {
        _convs = new Conv2d[blocks][];
        for (int b = 0; b < blocks; b++)
        {
            _convs[b] = new Conv2d[stages];
            for (int s = 0; s < stages; s++)
            {
                _convs[b][s] = new Conv2d(store, $"{prefix}.{b + 1}_{s + 1}_conv", channels, channels, 3, bias: false);
            }
        }
    }

    /// <summary>Records the unit on <paramref name="x"/>.</summary>
    public Variable Forward(Variable x, ParameterBinding p)
    {
        foreach (var block in _convs)
        {
            var residual = x;
            foreach (var conv in block)
            {
                x = conv.Forward(p.Tape.Elu(x), p);
            }

            x = p.Tape.Add(x, residual);
        }

        return x;
    }
}
