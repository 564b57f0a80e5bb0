using System.Diagnostics;
using System.Globalization;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Data;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Sde;
using JointDiffusion.Gpu.Tensors;
using JointDiffusion.Kernels;

namespace JointDiffusion.Gpu.Training;

/// <summary>
/// Denoising score matching for the VE-SDE (NCSNV2.md §4): per step a batch x0, times t ~ U(t_min, 1),
/// σ = β_t and z ~ N(0, I); loss mean_b ½ Σ (s(x0 + σz, σ)·σ + z)²; Adam with global-norm gradient clipping;
/// an exponential moving average of the weights. Everything random is a function of (seed, step), so a
/// resumed run reproduces the uninterrupted one exactly on the same backend. Checkpoints (weights, EMA,
/// Adam moments, step) are written atomically.
/// </summary>
public sealed class DsmTrainer : IDisposable
{
    private const string EmaPrefix = "ema.", MomentPrefix = "adam.m.", SecondMomentPrefix = "adam.v.";
    private readonly Ncsnv2 _net;
    private readonly IImageDataset _data;
    private readonly TrainerOptions _options;
    private readonly VeSde _sde = new();
    private readonly ComputeBackend _backend;
    private readonly Dictionary<Tensor, Tensor> _grads = [];
    private readonly Dictionary<Tensor, (Tensor M, Tensor V, Tensor Ema)> _state = [];
    private readonly Tensor _x0, _z;

    /// <summary>One parameter's squared gradient norm, and their running sum, on the device (for clipping).</summary>
    private readonly Tensor _squaredNorm, _squaredNormSum;
    private readonly float[] _squaredNormHost = new float[1];
    private readonly float[] _batchHost;
    private readonly float[] _sigma;
    private int[]? _permutation;
    private long _permutationEpoch = -1;

    /// <summary>Starts training <paramref name="net"/> (fresh Adam state; the EMA starts at the weights).</summary>
    public DsmTrainer(Ncsnv2 net, IImageDataset data, TrainerOptions options)
    {
        options.Validate();
        if (data.Channels != net.Channels)
        {
            throw new ArgumentException($"The data has {data.Channels} channel(s) but the network expects {net.Channels}.");
        }

        _net = net;
        _data = data;
        _options = options;
        _backend = net.Backend;
        var shape = Shape.Nchw(options.Batch, data.Channels, data.Height, data.Width);
        net.CheckInput(shape);
        _x0 = _backend.Allocate(shape);
        _z = _backend.Allocate(shape);
        _squaredNorm = _backend.Allocate(new Shape(1));
        _squaredNormSum = _backend.Allocate(new Shape(1));
        _batchHost = new float[shape.Length];
        _sigma = new float[options.Batch];
        foreach (var (_, p) in net.Parameters.Parameters)
        {
            var ema = _backend.Allocate(p.Shape);
            _backend.Copy(p, ema);
            _grads[p] = _backend.Zeros(p.Shape);
            _state[p] = (_backend.Zeros(p.Shape), _backend.Zeros(p.Shape), ema);
        }
    }

    /// <summary>Steps done so far.</summary>
    public long Step { get; private set; }

    /// <summary>Wall time spent training, summed over resumed sessions.</summary>
    public TimeSpan Elapsed { get; private set; }

    /// <summary>The network being trained (raw weights; the EMA is separate).</summary>
    public Ncsnv2 Network => _net;

    /// <summary>
    /// Restores a checkpoint written by <see cref="SaveCheckpoint"/>: weights, EMA, Adam moments and step.
    /// The batch size and seed must be those of the checkpoint, or the data order would change.
    /// </summary>
    public static DsmTrainer Resume(ComputeBackend backend, string checkpointPath, IImageDataset data, TrainerOptions options)
    {
        var file = SafetensorsReader.Read(checkpointPath);
        string name = Path.GetFileName(checkpointPath);
        if (!file.Metadata.TryGetValue("kind", out var kind) || kind != "training-checkpoint")
        {
            throw new InvalidDataException($"{name} is not a training checkpoint (written by jointdiff train).");
        }

        foreach (var (key, value) in new[] { ("batch", options.Batch.ToString(CultureInfo.InvariantCulture)), ("seed", options.Seed.ToString(CultureInfo.InvariantCulture)) })
        {
            if (file.Metadata.GetValueOrDefault(key) != value)
            {
                throw new InvalidDataException($"{name} was trained with {key} {file.Metadata.GetValueOrDefault(key)}, not {value}; resume with the same {key}.");
            }
        }

        var tensors = file.Tensors.ToDictionary(t => t.Name);
        var weights = tensors.Where(kv => !kv.Key.StartsWith(EmaPrefix, StringComparison.Ordinal) && !kv.Key.StartsWith("adam.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        var net = Ncsnv2.FromTensors(backend, weights, file.Metadata, name);
        var trainer = new DsmTrainer(net, data, options);
        foreach (var (pname, p) in net.Parameters.Parameters)
        {
            var (m, v, ema) = trainer._state[p];
            backend.Upload(Required(tensors, EmaPrefix + pname, name).Data, ema);
            backend.Upload(Required(tensors, MomentPrefix + pname, name).Data, m);
            backend.Upload(Required(tensors, SecondMomentPrefix + pname, name).Data, v);
        }

        trainer.Step = long.Parse(file.Metadata["step"], CultureInfo.InvariantCulture);
        trainer.Elapsed = TimeSpan.FromSeconds(double.Parse(file.Metadata.GetValueOrDefault("elapsed_s", "0"), CultureInfo.InvariantCulture));
        return trainer;
    }

    /// <summary>Runs one step; returns its loss.</summary>
    public float TrainStep()
    {
        int b = _options.Batch, per = _data.Channels * _data.Height * _data.Width;
        long s = Step;
        for (int j = 0; j < b; j++)
        {
            _data.CopyTo(DataIndex(s, j), _batchHost.AsSpan(j * per, per));
            double u = Philox.Uniform(StreamSeed(1), (ulong)(s * b + j));
            _sigma[j] = (float)_sde.MarginalStd(_options.TMin + (1 - _options.TMin) * u);
        }

        _backend.Upload(_batchHost, _x0);
        _backend.FillGaussian(_z, StreamSeed(2), (ulong)s * (ulong)_batchHost.Length);
        foreach (var g in _grads.Values)
        {
            _backend.Fill(g, 0f);
        }

        float loss = DenoisingScoreMatching.LossAndGradients(_net, _x0, _z, _sigma, _grads);
        if (!float.IsFinite(loss))
        {
            throw new InvalidOperationException($"The training loss became {loss} at step {s + 1}; lower the learning rate or check the data.");
        }

        LastGradientNorm = ClipGradients();
        var adam = AdamStep.At(s + 1, _options.LearningRate, _options.Beta1, _options.Beta2, _options.AdamEpsilon);
        foreach (var (_, p) in _net.Parameters.Parameters)
        {
            var (m, v, ema) = _state[p];
            _backend.AdamUpdate(p, _grads[p], m, v, adam);
            _backend.Scale(ema, _options.EmaDecay, ema);
            _backend.Axpy(1f - _options.EmaDecay, p, ema);
        }

        Step = s + 1;
        return loss;
    }

    /// <summary>The global gradient norm of the last step, before clipping.</summary>
    public float LastGradientNorm { get; private set; }

    /// <summary>The gradient tensors of the last step (after clipping), by parameter, for tests.</summary>
    internal IReadOnlyDictionary<Tensor, Tensor> Gradients => _grads;

    /// <summary>
    /// Trains until <paramref name="targetSteps"/>, writing a checkpoint and the EMA weights every
    /// <paramref name="checkpointEvery"/> steps, at the end, and when cancelled (then rethrowing), and appending
    /// step, loss and gradient norm to <paramref name="logPath"/> (CSV).
    /// </summary>
    public void Run(long targetSteps, string checkpointPath, string weightsPath, string logPath, int checkpointEvery,
        IReadOnlyDictionary<string, string> modelCard, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        TruncateLog(logPath, Step);
        var clock = Stopwatch.StartNew();
        var window = new Queue<float>();
        long startStep = Step;
        TimeSpan elapsedBefore = Elapsed;
        using var log = new StreamWriter(logPath, append: true);
        if (new FileInfo(logPath).Length == 0)
        {
            log.WriteLine("step,loss,grad_norm,elapsed_s");
        }

        while (Step < targetSteps)
        {
            if (cancellation.IsCancellationRequested)
            {
                Elapsed = elapsedBefore + clock.Elapsed;
                Save(checkpointPath, weightsPath, modelCard);
                log.Flush();
                cancellation.ThrowIfCancellationRequested();
            }

            float loss = TrainStep();
            Elapsed = elapsedBefore + clock.Elapsed;
            window.Enqueue(loss);
            if (window.Count > 100)
            {
                window.Dequeue();
            }

            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Step},{loss:G6},{LastGradientNorm:G6},{Elapsed.TotalSeconds:F1}"));
            bool checkpoint = Step == targetSteps || (checkpointEvery > 0 && Step % checkpointEvery == 0);
            if (checkpoint)
            {
                Save(checkpointPath, weightsPath, modelCard);
                log.Flush();
            }

            progress?.Report(new TrainingProgress(Step, targetSteps, loss, window.Average(), (Step - startStep) / clock.Elapsed.TotalSeconds, checkpoint));
        }
    }

    /// <summary>Writes the checkpoint and the EMA weights (both atomically).</summary>
    public void Save(string checkpointPath, string weightsPath, IReadOnlyDictionary<string, string> modelCard)
    {
        SaveCheckpoint(checkpointPath);
        SaveEmaWeights(weightsPath, modelCard);
    }

    /// <summary>Writes weights, EMA, Adam moments, the step and the settings that must not change on resume.</summary>
    public void SaveCheckpoint(string path)
    {
        var tensors = new List<SafetensorsTensor>();
        foreach (var (name, p) in _net.Parameters.Parameters)
        {
            var (m, v, ema) = _state[p];
            int[] shape = p.Shape.ToArray();
            tensors.Add(new SafetensorsTensor(name, shape, p.ToArray()));
            tensors.Add(new SafetensorsTensor(EmaPrefix + name, shape, ema.ToArray()));
            tensors.Add(new SafetensorsTensor(MomentPrefix + name, shape, m.ToArray()));
            tensors.Add(new SafetensorsTensor(SecondMomentPrefix + name, shape, v.ToArray()));
        }

        var metadata = _net.Metadata();
        metadata["kind"] = "training-checkpoint";
        metadata["step"] = Step.ToString(CultureInfo.InvariantCulture);
        metadata["batch"] = _options.Batch.ToString(CultureInfo.InvariantCulture);
        metadata["seed"] = _options.Seed.ToString(CultureInfo.InvariantCulture);
        metadata["elapsed_s"] = Elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture);
        SafetensorsWriter.Write(path, tensors, metadata);
    }

    /// <summary>Writes the EMA weights under the state_dict names (the file users load), with the model card keys.</summary>
    public void SaveEmaWeights(string path, IReadOnlyDictionary<string, string> modelCard)
    {
        var tensors = _net.Parameters.Parameters.Select(p => new SafetensorsTensor(p.Name, p.Value.Shape.ToArray(), _state[p.Value].Ema.ToArray()));
        var metadata = _net.Metadata();
        foreach (var (k, v) in modelCard)
        {
            metadata[k] = v;
        }

        metadata["sigma"] = _sde.Sigma.ToString(CultureInfo.InvariantCulture);
        metadata["image_size"] = _data.Height.ToString(CultureInfo.InvariantCulture);
        metadata["dataset"] = _data.Description;
        metadata["training_steps"] = Step.ToString(CultureInfo.InvariantCulture);
        metadata["batch"] = _options.Batch.ToString(CultureInfo.InvariantCulture);
        metadata["learning_rate"] = _options.LearningRate.ToString(CultureInfo.InvariantCulture);
        metadata["ema_decay"] = _options.EmaDecay.ToString(CultureInfo.InvariantCulture);
        metadata["seed"] = _options.Seed.ToString(CultureInfo.InvariantCulture);
        metadata["training_wall_time_s"] = Elapsed.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture);
        SafetensorsWriter.Write(path, tensors, metadata);
    }

    /// <summary>Frees the trainer's tensors (not the network).</summary>
    public void Dispose()
    {
        _x0.Dispose();
        _z.Dispose();
        _squaredNorm.Dispose();
        _squaredNormSum.Dispose();
        foreach (var g in _grads.Values)
        {
            g.Dispose();
        }

        foreach (var (m, v, ema) in _state.Values)
        {
            m.Dispose();
            v.Dispose();
            ema.Dispose();
        }
    }

    /// <summary>
    /// Scales the gradients down to a global norm of <see cref="TrainerOptions.GradientClip"/> when above it; returns
    /// the norm before. The squared norms are summed on the device and read once (not once per parameter tensor,
    /// which on a GPU would wait for the device 150-odd times a step).
    /// </summary>
    private float ClipGradients()
    {
        _backend.Fill(_squaredNormSum, 0f);
        foreach (var g in _grads.Values)
        {
            _backend.Dot(g, g, _squaredNorm);
            _backend.Axpy(1f, _squaredNorm, _squaredNormSum);
        }

        _backend.Download(_squaredNormSum, _squaredNormHost);
        float norm = MathF.Sqrt(_squaredNormHost[0]);
        if (_options.GradientClip > 0 && norm > _options.GradientClip)
        {
            float scale = _options.GradientClip / norm;
            foreach (var g in _grads.Values)
            {
                _backend.Scale(g, scale, g);
            }
        }

        return norm;
    }

    /// <summary>
    /// The data index of batch item <paramref name="j"/> at step <paramref name="step"/>: epochs of
    /// ⌊Count/Batch⌋ steps over a seeded permutation (the last partial batch dropped); generators with a
    /// virtual size above 2^24 are read in order instead (their items are already random).
    /// </summary>
    private int DataIndex(long step, int j)
    {
        long count = _data.Count;
        int b = _options.Batch;
        if (count > 1 << 24 || count < b)
        {
            return (int)((step * b + j) % count);
        }

        long stepsPerEpoch = count / b;
        long epoch = step / stepsPerEpoch;
        if (epoch != _permutationEpoch)
        {
            _permutation = Permutation((int)count, epoch);
            _permutationEpoch = epoch;
        }

        return _permutation![(int)(step % stepsPerEpoch) * b + j];
    }

    /// <summary>Fisher–Yates with Philox uniforms keyed by (seed, epoch).</summary>
    private int[] Permutation(int count, long epoch)
    {
        var perm = new int[count];
        for (int i = 0; i < count; i++)
        {
            perm[i] = i;
        }

        ulong seed = StreamSeed(3) ^ (ulong)epoch * 0x9E3779B97F4A7C15UL;
        for (int i = count - 1; i > 0; i--)
        {
            int k = (int)(Philox.Uniform(seed, (ulong)i) * (i + 1));
            k = Math.Min(k, i);
            (perm[i], perm[k]) = (perm[k], perm[i]);
        }

        return perm;
    }

    private ulong StreamSeed(ulong stream)
    {
        ulong z = _options.Seed + 0x9E3779B97F4A7C15UL * (stream + 11);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static SafetensorsTensor Required(Dictionary<string, SafetensorsTensor> tensors, string name, string file) =>
        tensors.TryGetValue(name, out var t) ? t : throw new InvalidDataException($"{file}: checkpoint tensor '{name}' is missing.");

    /// <summary>Drops log lines after <paramref name="step"/> (steps a resumed run will redo).</summary>
    private static void TruncateLog(string path, long step)
    {
        if (!File.Exists(path))
        {
            return;
        }

        var kept = File.ReadAllLines(path).Where(l =>
            !long.TryParse(l.Split(',')[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out long s) || s <= step).ToArray();
        File.WriteAllLines(path, kept);
    }
}
