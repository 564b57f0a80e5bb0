using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Tensors;
using JointDiffusion.Kernels;

namespace JointDiffusion.Gpu.Nn;

/// <summary>
/// The named parameters of a network, on one backend, in the order the network declares them (PyTorch
/// state_dict names). Either loaded from host tensors — collecting every missing, misshaped and unexpected
/// name so that one error lists them all — or initialised from a seed.
/// </summary>
public sealed class ParameterStore : IDisposable
{
    private readonly List<(string Name, Tensor Value)> _parameters = [];
    private readonly IReadOnlyDictionary<string, SafetensorsTensor>? _source;
    private readonly HashSet<string> _ignored;
    private readonly List<string> _problems = [];
    private readonly ulong _seed;
    private ulong _streamOffset;

    private ParameterStore(ComputeBackend backend, IReadOnlyDictionary<string, SafetensorsTensor>? source, ulong seed, IEnumerable<string>? ignored)
    {
        Backend = backend;
        _source = source;
        _seed = seed;
        _ignored = [.. ignored ?? []];
    }

    /// <summary>A store that takes every parameter from <paramref name="tensors"/>; names in <paramref name="ignored"/> may be present without being used.</summary>
    public static ParameterStore FromTensors(ComputeBackend backend, IReadOnlyDictionary<string, SafetensorsTensor> tensors, IEnumerable<string>? ignored = null) =>
        new(backend, tensors, 0, ignored);

    /// <summary>A store that initialises every parameter with PyTorch's defaults from <paramref name="seed"/>.</summary>
    public static ParameterStore Initialize(ComputeBackend backend, ulong seed) => new(backend, null, seed, null);

    /// <summary>The backend the parameters live on.</summary>
    public ComputeBackend Backend { get; }

    /// <summary>Every parameter in declaration order.</summary>
    public IReadOnlyList<(string Name, Tensor Value)> Parameters => _parameters;

    /// <summary>Total number of scalar parameters.</summary>
    public long Count => _parameters.Sum(p => (long)p.Value.Length);

    /// <summary>
    /// Declares parameter <paramref name="name"/> of <paramref name="shape"/> and returns its tensor. When
    /// loading, a missing or misshaped entry is recorded (see <see cref="Complete"/>) and a zero tensor is used.
    /// <paramref name="fanIn"/> sets the bound of <see cref="ParameterInit.ConvUniform"/> (Cin·K·K of the conv).
    /// </summary>
    public Tensor Declare(string name, Shape shape, ParameterInit init, int fanIn = 0)
    {
        if (_parameters.Any(p => p.Name == name))
        {
            throw new InvalidOperationException($"Parameter '{name}' is declared twice.");
        }

        Tensor t;
        if (_source is not null)
        {
            if (!_source.TryGetValue(name, out var host))
            {
                _problems.Add($"missing '{name}' (expected {shape})");
                t = Backend.Zeros(shape);
            }
            else if (!host.Shape.SequenceEqual(shape.ToArray()))
            {
                _problems.Add($"'{name}' has shape {host.ShapeText}, expected {shape}");
                t = Backend.Zeros(shape);
            }
            else
            {
                t = Backend.FromHost(host.Data, shape);
            }
        }
        else
        {
            t = Backend.FromHost(InitialValues(shape, init, fanIn), shape);
        }

        _parameters.Add((name, t));
        return t;
    }

    /// <summary>
    /// Ends declaration: when loading, throws one <see cref="InvalidDataException"/> that lists every missing,
    /// misshaped and unexpected tensor.
    /// </summary>
    public void Complete(string sourceName)
    {
        if (_source is not null)
        {
            var declared = _parameters.Select(p => p.Name).ToHashSet();
            foreach (var name in _source.Keys.Where(k => !declared.Contains(k) && !_ignored.Contains(k)).Order(StringComparer.Ordinal))
            {
                _problems.Add($"unexpected '{name}'");
            }
        }

        if (_problems.Count > 0)
        {
            throw new InvalidDataException($"{sourceName}: {_problems.Count} parameter problem(s): " + string.Join("; ", _problems.Take(40)) +
                (_problems.Count > 40 ? $"; and {_problems.Count - 40} more" : string.Empty));
        }
    }

    /// <summary>Copies every parameter to host tensors, keyed by name (for checkpoints).</summary>
    public Dictionary<string, SafetensorsTensor> ToHost() =>
        _parameters.ToDictionary(p => p.Name, p => new SafetensorsTensor(p.Name, p.Value.Shape.ToArray(), p.Value.ToArray()));

    /// <summary>Frees every parameter tensor.</summary>
    public void Dispose()
    {
        foreach (var (_, t) in _parameters)
        {
            t.Dispose();
        }

        _parameters.Clear();
    }

    private float[] InitialValues(Shape shape, ParameterInit init, int fanIn)
    {
        var data = new float[shape.Length];
        ulong offset = _streamOffset;
        _streamOffset += (ulong)data.Length;
        switch (init)
        {
            case ParameterInit.ConvUniform:
                if (fanIn < 1)
                {
                    throw new ArgumentException($"Conv initialisation of {shape} needs the conv's fan-in.", nameof(fanIn));
                }

                float bound = 1f / MathF.Sqrt(fanIn);
                for (int i = 0; i < data.Length; i++)
                {
                    data[i] = bound * (2f * Philox.Uniform(_seed, offset + (ulong)i) - 1f);
                }

                break;
            case ParameterInit.NormalAroundOne:
                for (int i = 0; i < data.Length; i++)
                {
                    data[i] = 1f + 0.02f * Philox.Gaussian(_seed, offset + (ulong)i);
                }

                break;
            case ParameterInit.Zero:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(init));
        }

        return data;
    }
}
