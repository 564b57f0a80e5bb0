using JointDiffusion.Gpu.Autodiff;

namespace JointDiffusion.Gpu.Nn;

/// <summary>
/// Multi-resolution fusion: Σ_i bilinear_resize(conv3x3_i(x_i), output size, align_corners = true), the convs
/// with bias named <c>{prefix}.convs.{i}</c>. A resize to the same size is the identity and is skipped.
/// </summary>
public sealed class MsfBlock
{
    private readonly Conv2d[] _convs;

    /// <summary>Declares one conv per input, from <paramref name="inChannels"/>[i] to <paramref name="features"/>.</summary>
    public MsfBlock(ParameterStore store, string prefix, IReadOnlyList<int> inChannels, int features)
    {
        _convs = new Conv2d[inChannels.Count];
        for (int i = 0; i < _convs.Length; i++)
        {
            _convs[i] = new Conv2d(store, $"{prefix}.convs.{i}", inChannels[i], features, 3, bias: true);
        }
    }

    /// <summary>Records the fusion of <paramref name="xs"/> at <paramref name="height"/>×<paramref name="width"/>.</summary>
    public Variable Forward(ReadOnlySpan<Variable> xs, int height, int width, ParameterBinding p)
    {
        Variable? sum = null;
        for (int i = 0; i < _convs.Length; i++)
        {
            var h = _convs[i].Forward(xs[i], p);
            if (h.Shape.H != height || h.Shape.W != width)
            {
                h = p.Tape.BilinearResize(h, height, width);
            }

            sum = sum is null ? h : p.Tape.Add(sum, h);
        }

        return sum!;
    }
}
