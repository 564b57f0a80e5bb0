using JointDiffusion.Gpu.Autodiff;

namespace JointDiffusion.Gpu.Nn;

/// <summary>
/// NCSNv2's ResidualBlock: out = conv2(ELU(normalize2(conv1(ELU(normalize1(x)))))) + shortcut(x), in the four
/// variants of NCSNV2.md §1. Quirk kept from the reference: a 'down' block with dilation does not reduce
/// the resolution but still has a (dilated 3×3) conv shortcut.
/// </summary>
public sealed class ResidualBlock
{
    private readonly Conv2d _conv1;
    private readonly InstanceNorm2dPlus _normalize1, _normalize2;
    private readonly Func<Variable, ParameterBinding, Variable> _conv2;
    private readonly Func<Variable, ParameterBinding, Variable>? _shortcut;

    /// <summary>Declares the block's parameters in PyTorch's order (conv1, normalize2, conv2, shortcut, normalize1).</summary>
    public ResidualBlock(ParameterStore store, string prefix, int inChannels, int outChannels, bool down, int dilation = 1)
    {
        bool dilated = dilation > 1;
        int mid = down ? inChannels : outChannels;
        _conv1 = new Conv2d(store, prefix + ".conv1", inChannels, mid, 3, bias: true, dilation);
        _normalize2 = new InstanceNorm2dPlus(store, prefix + ".normalize2", mid);
        if (down && !dilated)
        {
            var conv2 = new ConvMeanPool(store, prefix + ".conv2", inChannels, outChannels, 3);
            var shortcut = new ConvMeanPool(store, prefix + ".shortcut", inChannels, outChannels, 1);
            _conv2 = conv2.Forward;
            _shortcut = shortcut.Forward;
        }
        else
        {
            var conv2 = new Conv2d(store, prefix + ".conv2", mid, outChannels, 3, bias: true, dilation);
            _conv2 = conv2.Forward;
            if (down || inChannels != outChannels)
            {
                var shortcut = dilated
                    ? new Conv2d(store, prefix + ".shortcut", inChannels, outChannels, 3, bias: true, dilation)
                    : new Conv2d(store, prefix + ".shortcut", inChannels, outChannels, 1, bias: true);
                _shortcut = shortcut.Forward;
            }
        }

        _normalize1 = new InstanceNorm2dPlus(store, prefix + ".normalize1", inChannels);
    }

    /// <summary>Records the block on <paramref name="x"/>.</summary>
    public Variable Forward(Variable x, ParameterBinding p)
    {
        var tape = p.Tape;
        var h = _normalize1.ForwardElu(x, p);
        h = _conv1.Forward(h, p);
        h = _normalize2.ForwardElu(h, p);
        h = _conv2(h, p);
        var shortcut = _shortcut is null ? x : _shortcut(x, p);
        return tape.Add(shortcut, h);
    }
}
