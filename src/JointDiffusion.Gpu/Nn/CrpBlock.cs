using JointDiffusion.Gpu.Autodiff;

namespace JointDiffusion.Gpu.Nn;

/// <summary>
/// Chained residual pooling: x = ELU(x); path = x; per stage, path = conv(maxpool5x5(path)); x = path + x.
/// Max pool 5×5, stride 1, padding 2; convs 3×3 without bias, named <c>{prefix}.convs.{i}</c>.
/// </summary>
public sealed class CrpBlock
{
    private const int PoolKernel = 5;
    private readonly Conv2d[] _convs;

    /// <summary>Declares <paramref name="stages"/> convs of <paramref name="channels"/>.</summary>
    public CrpBlock(ParameterStore store, string prefix, int channels, int stages)
    {
        _convs = new Conv2d[stages];
        for (int i = 0; i < stages; i++)
        {
            _convs[i] = new Conv2d(store, $"{prefix}.convs.{i}", channels, channels, 3, bias: false);
        }
    }

    /// <summary>Records the block on <paramref name="x"/>.</summary>
    public Variable Forward(Variable x, ParameterBinding p)
    {
        var tape = p.Tape;
        x = tape.Elu(x);
        var path = x;
        foreach (var conv in _convs)
        {
            path = conv.Forward(tape.MaxPool2d(path, PoolKernel), p);
            x = tape.Add(path, x);
        }

        return x;
    }
}
