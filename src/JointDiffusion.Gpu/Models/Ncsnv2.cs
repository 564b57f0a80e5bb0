using System.Globalization;
using JointDiffusion.Gpu.Autodiff;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Nn;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Models;

/// <summary>
/// NCSNv2 (Song &amp; Ermon 2020; ermongroup/ncsnv2 <c>models/ncsnv2.py</c>, class NCSNv2, image size &lt; 96) with
/// PyTorch state_dict parameter names. The score is s(x, σ) = net(x)/σ with a per-sample σ; ngf and the
/// channel count come from <c>begin_conv.weight</c> [ngf, C, 3, 3]. Any even image size works.
/// </summary>
public sealed class Ncsnv2 : IScoreModel
{
    /// <summary>Names a state_dict may hold that are not parameters of the continuous-time model.</summary>
    public static readonly IReadOnlyList<string> IgnoredNames = ["sigmas"];

    private readonly Conv2d _begin, _end;
    private readonly ResidualBlock[] _res1, _res2, _res3, _res4;
    private readonly RefineBlock _refine1, _refine2, _refine3, _refine4;
    private readonly InstanceNorm2dPlus _normalizer;
    private NetworkEvaluation? _spare;

    private Ncsnv2(ParameterStore store, int ngf, int channels, InputTransform transform, string sourceName)
    {
        Parameters = store;
        Ngf = ngf;
        Channels = channels;
        Transform = transform;
        int n = ngf, n2 = 2 * ngf;
        try
        {
            // Declaration order = PyTorch's state_dict order (own modules in attribute-assignment order).
            _begin = new Conv2d(store, "begin_conv", channels, n, 3, bias: true);
            _normalizer = new InstanceNorm2dPlus(store, "normalizer", n);
            _end = new Conv2d(store, "end_conv", n, channels, 3, bias: true);
            _res1 = [new(store, "res1.0", n, n, down: false), new(store, "res1.1", n, n, down: false)];
            _res2 = [new(store, "res2.0", n, n2, down: true), new(store, "res2.1", n2, n2, down: false)];
            _res3 = [new(store, "res3.0", n2, n2, down: true, dilation: 2), new(store, "res3.1", n2, n2, down: false, dilation: 2)];
            _res4 = [new(store, "res4.0", n2, n2, down: true, dilation: 4), new(store, "res4.1", n2, n2, down: false, dilation: 4)];
            _refine1 = new RefineBlock(store, "refine1", [n2], n2, end: false);
            _refine2 = new RefineBlock(store, "refine2", [n2, n2], n2, end: false);
            _refine3 = new RefineBlock(store, "refine3", [n2, n2], n, end: false);
            _refine4 = new RefineBlock(store, "refine4", [n, n], n, end: true);
            store.Complete(sourceName);
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>Loads from named host tensors (a state_dict) and the file's metadata.</summary>
    /// <exception cref="InvalidDataException">Missing, misshaped or unexpected tensors (all listed), or bad metadata.</exception>
    public static Ncsnv2 FromTensors(ComputeBackend backend, IReadOnlyDictionary<string, SafetensorsTensor> tensors,
        IReadOnlyDictionary<string, string>? metadata, string sourceName)
    {
        if (!tensors.TryGetValue("begin_conv.weight", out var begin))
        {
            throw new InvalidDataException($"{sourceName}: no 'begin_conv.weight' tensor; this is not an NCSNv2 state_dict.");
        }

        if (begin.Shape.Length != 4 || begin.Shape[2] != 3 || begin.Shape[3] != 3 || begin.Shape[0] < 1 || begin.Shape[1] < 1)
        {
            throw new InvalidDataException($"{sourceName}: 'begin_conv.weight' has shape {begin.ShapeText}; expected [ngf, channels, 3, 3].");
        }

        var transform = InputTransform.TwoXMinusOne;
        if (metadata is not null && metadata.TryGetValue("input_transform", out var t))
        {
            transform = t switch
            {
                "2x-1" => InputTransform.TwoXMinusOne,
                "none" => InputTransform.None,
                _ => throw new InvalidDataException($"{sourceName}: unknown input_transform '{t}' (expected '2x-1' or 'none')."),
            };
        }

        if (metadata is not null && metadata.TryGetValue("arch", out var arch) && arch != "ncsnv2")
        {
            throw new InvalidDataException($"{sourceName}: arch is '{arch}', not 'ncsnv2'.");
        }

        var store = ParameterStore.FromTensors(backend, tensors, IgnoredNames);
        return new Ncsnv2(store, begin.Shape[0], begin.Shape[1], transform, sourceName);
    }

    /// <summary>Loads a safetensors file of PyTorch NCSNv2 state_dict names (e.g. a converted checkpoint or one of ours).</summary>
    /// <exception cref="SafetensorsFormatException">The file is not valid safetensors.</exception>
    /// <exception cref="InvalidDataException">The tensors are not a complete NCSNv2 (every problem is listed).</exception>
    public static Ncsnv2 Load(ComputeBackend backend, string path)
    {
        var file = SafetensorsReader.Read(path);
        var tensors = file.Tensors.ToDictionary(t => t.Name);
        return FromTensors(backend, tensors, file.Metadata, Path.GetFileName(path));
    }

    /// <summary>Writes the parameters (state_dict names) and <see cref="Metadata"/> atomically to <paramref name="path"/>.</summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? extraMetadata = null)
    {
        var metadata = Metadata();
        foreach (var (k, v) in extraMetadata ?? new Dictionary<string, string>())
        {
            metadata[k] = v;
        }

        SafetensorsWriter.Write(path, Parameters.ToHost().Values, metadata);
    }

    /// <summary>A freshly initialised network (PyTorch default init) for training.</summary>
    public static Ncsnv2 CreateRandom(ComputeBackend backend, int ngf, int channels, ulong seed, InputTransform transform = InputTransform.TwoXMinusOne)
    {
        if (ngf < 1 || channels < 1)
        {
            throw new ArgumentException($"ngf and channels must be positive; got ngf {ngf}, channels {channels}.");
        }

        return new Ncsnv2(ParameterStore.Initialize(backend, seed), ngf, channels, transform, "random init");
    }

    /// <summary>Base feature count.</summary>
    public int Ngf { get; }

    /// <summary>Image channels.</summary>
    public int Channels { get; }

    /// <summary>The input map.</summary>
    public InputTransform Transform { get; }

    /// <summary>The parameters, in state_dict order.</summary>
    public ParameterStore Parameters { get; }

    /// <summary>The backend the network runs on.</summary>
    public ComputeBackend Backend => Parameters.Backend;

    /// <summary>Metadata to store beside the weights so that the file loads back as this network.</summary>
    public Dictionary<string, string> Metadata() => new()
    {
        ["arch"] = "ncsnv2",
        ["input_transform"] = Transform == InputTransform.TwoXMinusOne ? "2x-1" : "none",
        ["ngf"] = Ngf.ToString(CultureInfo.InvariantCulture),
        ["channels"] = Channels.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>Checks that <paramref name="shape"/> is an image batch this network accepts.</summary>
    /// <exception cref="ArgumentException">Wrong rank or channels, or an odd or too small size.</exception>
    public void CheckInput(Shape shape)
    {
        if (shape.Rank != 4 || shape.C != Channels)
        {
            throw new ArgumentException($"NCSNv2 with {Channels} channel(s) needs input [B, {Channels}, H, W]; got {shape}.");
        }

        if (shape.H % 2 != 0 || shape.W % 2 != 0 || shape.H < 2 || shape.W < 2)
        {
            throw new ArgumentException($"NCSNv2 needs an even image height and width (it down-samples by 2 once); got {shape.H}x{shape.W}.");
        }
    }

    /// <summary>
    /// Records s(x, σ) = net(x)·(1/σ) on the binding's tape. <paramref name="inverseSigma"/> [B] holds 1/σ per sample.
    /// </summary>
    public Variable Forward(Variable x, Tensor inverseSigma, ParameterBinding p)
    {
        CheckInput(x.Shape);
        var tape = p.Tape;
        var h = Transform == InputTransform.TwoXMinusOne ? tape.Affine(x, 2f, -1f) : x;
        h = _begin.Forward(h, p);
        var layer1 = Chain(_res1, h, p);
        var layer2 = Chain(_res2, layer1, p);
        var layer3 = Chain(_res3, layer2, p);
        var layer4 = Chain(_res4, layer3, p);
        var ref1 = _refine1.Forward([layer4], p);
        var ref2 = _refine2.Forward([layer3, ref1], p);
        var ref3 = _refine3.Forward([layer2, ref2], p);
        var ref4 = _refine4.Forward([layer1, ref3], p);
        var out_ = _end.Forward(_normalizer.ForwardElu(ref4, p), p);
        return tape.ScalePerSample(out_, inverseSigma);
    }

    /// <summary>score = s(x, σ) for a batch; <paramref name="sigma"/> holds one σ per sample.</summary>
    public void Score(Tensor x, ReadOnlySpan<float> sigma, Tensor score)
    {
        using var e = Evaluate(x, sigma, needVjp: false);
        Backend.Copy(e.Score, score);
    }

    /// <summary>
    /// score = s(x, σ) and vjp = ∂(Σ v·score)/∂x = Jᵀv, the input gradient only (no weight-gradient kernels).
    /// </summary>
    public void ScoreAndVjp(Tensor x, ReadOnlySpan<float> sigma, Tensor v, Tensor score, Tensor vjp)
    {
        using var e = Evaluate(x, sigma, needVjp: true);
        Backend.Copy(e.Score, score);
        e.Vjp(v, vjp);
    }

    /// <inheritdoc/>
    /// <remarks>
    /// The evaluation keeps its tape and buffers when disposed, and the next <see cref="Evaluate"/> reuses them, so
    /// a sampler that evaluates the network every step allocates no managed memory after its first step (an
    /// evaluation started while another is alive gets its own). Its <see cref="ScoreEvaluation.Score"/> is invalid
    /// once it is disposed.
    /// </remarks>
    public ScoreEvaluation Evaluate(Tensor x, ReadOnlySpan<float> sigma, bool needVjp)
    {
        CheckInput(x.Shape);
        if (sigma.Length != x.Shape.N)
        {
            throw new ArgumentException($"Need one σ per sample: {x.Shape.N} sample(s) but {sigma.Length} σ value(s).");
        }

        for (int i = 0; i < sigma.Length; i++)
        {
            if (!(sigma[i] > 0f) || float.IsInfinity(sigma[i]))
            {
                throw new ArgumentException($"σ must be positive and finite; sample {i} has σ = {sigma[i]}.");
            }
        }

        var evaluation = Interlocked.Exchange(ref _spare, null) ?? new NetworkEvaluation(this);
        try
        {
            evaluation.Start(x, sigma, needVjp);
            return evaluation;
        }
        catch
        {
            evaluation.Dispose();
            throw;
        }
    }

    /// <summary>Frees the parameters.</summary>
    public void Dispose()
    {
        Interlocked.Exchange(ref _spare, null)?.Free();
        Parameters.Dispose();
    }

    /// <summary>
    /// An evaluation that keeps its tape for one input VJP. Disposing it resets the tape (its tensors go back to the
    /// pool) and offers the object, with its tape, 1/σ buffers and parameter binding, to the network's next evaluation.
    /// </summary>
    private sealed class NetworkEvaluation : ScoreEvaluation
    {
        private readonly Ncsnv2 _network;
        private readonly Tape _tape;
        private readonly ParameterBinding _constants;
        private float[] _inverseHost = [];
        private Tensor? _inverseSigma;
        private Variable? _input;
        private Variable? _score;
        private bool _live;

        public NetworkEvaluation(Ncsnv2 network)
        {
            _network = network;
            _tape = new Tape(network.Backend);
            _constants = ParameterBinding.Constants(_tape);
        }

        public override Tensor Score => _live ? _score!.Value : throw new ObjectDisposedException(nameof(ScoreEvaluation), "This evaluation was disposed.");

        /// <summary>Records s(x, σ) = net(x)·(1/σ) on the (empty) tape.</summary>
        public void Start(Tensor x, ReadOnlySpan<float> sigma, bool needVjp)
        {
            _live = true;
            var backend = _network.Backend;
            if (_inverseHost.Length != sigma.Length)
            {
                _inverseHost = new float[sigma.Length];
                _inverseSigma?.Dispose();
                _inverseSigma = backend.Allocate(new Shape(sigma.Length));
            }

            bool uniform = true;
            for (int i = 0; i < sigma.Length; i++)
            {
                _inverseHost[i] = 1f / sigma[i];
                uniform &= sigma[i] == sigma[0];
            }

            // A sampler step has one σ for the whole batch: a fill kernel then sets 1/σ on the device, where an upload
            // would make a GPU backend wait for its queue (ILGPU's copies from host memory synchronise the stream).
            if (uniform)
            {
                backend.Fill(_inverseSigma!, _inverseHost[0]);
            }
            else
            {
                backend.Upload(_inverseHost, _inverseSigma!);
            }

            _input = _tape.Input(x, needVjp);
            _score = _network.Forward(_input, _inverseSigma!, _constants);
        }

        public override void Vjp(Tensor v, Tensor result)
        {
            ObjectDisposedException.ThrowIf(!_live, this);
            if (!_input!.RequiresGrad)
            {
                throw new InvalidOperationException("This evaluation was made without needVjp.");
            }

            _tape.Backward(_score!, v);
            _tape.Backend.Copy(_input.Grad!, result);
        }

        protected override void Dispose(bool disposing)
        {
            if (!_live)
            {
                return;
            }

            _live = false;
            _input = _score = null;
            _tape.Reset();
            if (Interlocked.CompareExchange(ref _network._spare, this, null) is not null)
            {
                Free(); // another evaluation is already kept for reuse
            }
        }

        /// <summary>Frees the tape and the 1/σ tensor for good.</summary>
        public void Free()
        {
            _tape.Dispose();
            _inverseSigma?.Dispose();
            _inverseSigma = null;
        }
    }

    private static Variable Chain(ResidualBlock[] blocks, Variable x, ParameterBinding p)
    {
        foreach (var b in blocks)
        {
            x = b.Forward(x, p);
        }

        return x;
    }
}
