using System.Diagnostics;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Sampling.Operators;
using JointDiffusion.Gpu.Sde;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Sampling;

/// <summary>
/// Algorithm 1 of the paper: joint posterior sampling of (x, n) given y = A x + b n with two score models,
/// a VE-SDE reverse diffusion by Euler–Maruyama and a pluggable data-consistency rule. Without a noise model
/// it is the single-prior baseline (y = A x + ε, ε ~ N(0, σ_y² I)). B observations × K samples run as one batch.
/// </summary>
/// <remarks>
/// Per step, for x and n each: the score at the current state (one forward, kept for one VJP), the DC
/// update, then x ← x + g(t)² s Δt + g(t) √Δt z reusing that score (DESIGN.md). The output is the Tweedie
/// estimate at t = ε.
/// </remarks>
public sealed class JointSampler
{
    private readonly IScoreModel _signal;
    private readonly IScoreModel? _noise;
    private readonly IMeasurementOperator _operator;
    private readonly VeSde _sde;

    /// <summary>Creates a sampler; <paramref name="noise"/> null gives the single-prior baseline.</summary>
    public JointSampler(IScoreModel signal, IScoreModel? noise, IMeasurementOperator measurement, VeSde? sde = null)
    {
        _signal = signal;
        _noise = noise;
        _operator = measurement;
        _sde = sde ?? new VeSde();
        if (noise is not null && !ReferenceEquals(noise.Backend, signal.Backend))
        {
            throw new ArgumentException("The signal and noise models must run on the same backend.");
        }
    }

    private ComputeBackend Backend => _signal.Backend;

    /// <summary>
    /// Draws <see cref="SamplerOptions.SamplesPerObservation"/> posterior samples for each of
    /// <paramref name="count"/> observations stored row-major in <paramref name="observations"/>
    /// (count × measurement length).
    /// </summary>
    /// <exception cref="ArgumentException">Invalid options or shapes, checked before any sampling.</exception>
    /// <exception cref="SamplerDivergedException">The state became NaN or infinite.</exception>
    public PosteriorSamples Sample(float[] observations, int count, SamplerOptions options,
        IProgress<SamplingProgress>? progress = null, CancellationToken cancellation = default)
    {
        bool joint = _noise is not null;
        options.Validate(joint);
        int[] signalShape = [.. _operator.SignalShape];
        int[] measurementShape = [.. _operator.MeasurementShape];
        int m = measurementShape.Aggregate(1, (a, b) => a * b);
        int d = signalShape.Aggregate(1, (a, b) => a * b);
        if (count < 1 || observations.Length != (long)count * m)
        {
            throw new ArgumentException($"Expected {count} observation(s) of {m} values ([{string.Join(", ", measurementShape)}] each); got {observations.Length} values.");
        }

        if (observations.Any(v => !float.IsFinite(v)))
        {
            throw new ArgumentException("The observation contains NaN or infinite values.");
        }

        if (options.ObservationSeeds is { } seeds && seeds.Count != count)
        {
            throw new ArgumentException($"ObservationSeeds has {seeds.Count} seed(s) for {count} observation(s).");
        }

        int k = options.SamplesPerObservation;
        int batch = count * k;
        var xShape = new Shape([batch, .. signalShape]);
        var nShape = new Shape([batch, .. measurementShape]);
        _signal.CheckInput(xShape);
        _noise?.CheckInput(nShape);

        var backend = Backend;
        var (times, dt) = VeSde.Grid(options.Steps, options.Epsilon);
        var replicated = new float[batch * m];
        for (int o = 0; o < count; o++)
        {
            for (int j = 0; j < k; j++)
            {
                Array.Copy(observations, o * m, replicated, (o * k + j) * m, m);
            }
        }

        using var y = backend.FromHost(replicated, nShape);
        using var x = backend.Allocate(xShape);
        using var zx = backend.Allocate(xShape);
        using var n = joint ? backend.Allocate(nShape) : null;
        using var zn = joint ? backend.Allocate(nShape) : null;
        using var step = new DataConsistencyStep(backend, _operator, y, xShape, nShape, joint)
        {
            NoiseGain = options.NoiseGain,
            SigmaY = options.SigmaY,
            Lambda = options.Lambda,
            Kappa = options.Kappa,
        };

        // x_1 ~ N(0, β_1² I), and n_1 likewise.
        using var random = new RandomStreams(backend, options, count);
        float beta1 = (float)_sde.MarginalStd(times[0]);
        random.Fill(x, 0, 0);
        backend.Scale(x, beta1, x);
        if (joint)
        {
            random.Fill(n!, 1, 0);
            backend.Scale(n!, beta1, n!);
        }

        // The divergence check reads one sum per state into these (ComputeBackend.Sum(Tensor) allocates a result).
        using var checkSum = backend.Allocate(new Shape(1));
        var checkHost = new float[1];
        bool Finite(Tensor t)
        {
            backend.Sum(t, checkSum);
            backend.Download(checkSum, checkHost);
            return float.IsFinite(checkHost[0]);
        }

        bool concurrent = joint && options.ConcurrentNetworks;
        var networks = new NetworkPair(backend, _signal, _noise, concurrent);
        step.Concurrent = concurrent;
        var clock = Stopwatch.StartNew();
        var sigma = new float[batch];
        for (int i = 0; i < options.Steps; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            double t = times[i];
            float beta = (float)_sde.MarginalStd(t);
            float g = (float)_sde.Diffusion(t);
            Array.Fill(sigma, beta);
            random.Fill(zx, 2, i);
            if (joint)
            {
                random.Fill(zn!, 3, i);
            }

            networks.Evaluate(x, n, sigma, options.Rule.NeedsJacobian);
            using var sx = networks.Signal!;
            using var sn = networks.Noise;
            step.Beta = beta;
            step.X = x;
            step.SignalScore = sx;
            step.ZX = zx;
            step.N = n;
            step.NoiseScore = sn;
            step.ZN = zn;
            options.Rule.Apply(step);

            // Euler–Maruyama for the reverse SDE with f = 0: x ← x + g² s Δt + g √Δt z (eq. 4).
            float drift = (float)(g * (double)g * dt), diffusion = (float)(g * Math.Sqrt(dt));
            backend.Axpy(drift, sx.Score, x);
            backend.Axpy(diffusion, zx, x);
            if (joint)
            {
                backend.Axpy(drift, sn!.Score, n!);
                backend.Axpy(diffusion, zn!, n!);
            }

            bool last = i == options.Steps - 1;
            if (last || (options.DivergenceCheckInterval > 0 && (i + 1) % options.DivergenceCheckInterval == 0))
            {
                if (!Finite(x) || (joint && !Finite(n!)))
                {
                    throw new SamplerDivergedException(i + 1, options.Steps, options.Rule.Name, options.Lambda, options.Kappa);
                }
            }

            progress?.Report(new SamplingProgress(i + 1, options.Steps, clock.Elapsed));
        }

        if (options.ReturnTweedieEstimate)
        {
            // The output: Tweedie at t = ε, x + β_ε² s(x, ε) (eq. 13).
            float betaEps = (float)_sde.MarginalStd(times[^1]);
            Array.Fill(sigma, betaEps);
            ApplyTweedie(_signal, x, sigma, betaEps);
            if (joint)
            {
                ApplyTweedie(_noise!, n!, sigma, betaEps);
            }
        }

        var xs = x.ToArray();
        var ns = joint ? n!.ToArray() : null;
        if (xs.Any(v => !float.IsFinite(v)) || (ns is not null && ns.Any(v => !float.IsFinite(v))))
        {
            throw new SamplerDivergedException(options.Steps, options.Steps, options.Rule.Name, options.Lambda, options.Kappa);
        }

        return new PosteriorSamples(count, k, signalShape, joint ? measurementShape : null, xs, ns);
    }

    /// <summary>
    /// The networks of one step: the signal's, and in joint mode the noise's, side by side when
    /// <paramref name="concurrent"/> (<see cref="ConcurrentPair"/>). The caller disposes both evaluations.
    /// </summary>
    private sealed class NetworkPair(ComputeBackend backend, IScoreModel signal, IScoreModel? noise, bool concurrent)
    {
        private readonly IScoreModel _signal = signal;
        private readonly IScoreModel? _noise = noise;
        private readonly ScoreEvaluation?[] _results = new ScoreEvaluation?[2];
        private Tensor? _x, _n;
        private float[]? _sigma;
        private bool _needVjp;

        /// <summary>The signal network's evaluation from the last <see cref="Evaluate"/>.</summary>
        public ScoreEvaluation? Signal => _results[0];

        /// <summary>The noise network's evaluation from the last <see cref="Evaluate"/> (null in single-prior mode).</summary>
        public ScoreEvaluation? Noise => _results[1];

        /// <summary>Evaluates the signal network at <paramref name="x"/> and the noise network, if any, at <paramref name="n"/>.</summary>
        public void Evaluate(Tensor x, Tensor? n, float[] sigma, bool needVjp)
        {
            (_x, _n, _sigma, _needVjp) = (x, n, sigma, needVjp);
            _results[0] = _results[1] = null;
            if (_noise is null)
            {
                _results[0] = _signal.Evaluate(x, sigma, needVjp);
                return;
            }

            try
            {
                ConcurrentPair.Run(backend, concurrent, new Work(this));
            }
            catch
            {
                _results[0]?.Dispose();
                _results[1]?.Dispose();
                throw;
            }
        }

        private readonly struct Work(NetworkPair pair) : IConcurrentWork
        {
            public void Run(int index) => pair._results[index] = index == 0
                ? pair._signal.Evaluate(pair._x!, pair._sigma!, pair._needVjp)
                : pair._noise!.Evaluate(pair._n!, pair._sigma!, pair._needVjp);
        }
    }

    private static void ApplyTweedie(IScoreModel model, Tensor state, float[] sigma, float beta)
    {
        using var e = model.Evaluate(state, sigma, needVjp: false);
        model.Backend.Axpy(beta * beta, e.Score, state);
    }

    /// <summary>
    /// The sampler's Gaussian streams: stream s of step i fills a tensor of length L with Philox values
    /// i·L … i·L + L − 1 of seed StreamSeed(Seed, s); with per-observation seeds each observation's block of length
    /// L / count gets the values a call with that observation alone would get, drawn on the device from the
    /// observations' stream seeds (<see cref="ComputeBackend.FillGaussianBlocks"/>, uploaded once per run).
    /// </summary>
    private sealed class RandomStreams : IDisposable
    {
        /// <summary>The streams: initial x, initial n, diffusion noise of x, of n.</summary>
        private const int Streams = 4;

        private readonly ComputeBackend _backend;
        private readonly SamplerOptions _options;
        private readonly int _count;
        private readonly Tensor[]? _blockSeeds;

        public RandomStreams(ComputeBackend backend, SamplerOptions options, int count)
        {
            (_backend, _options, _count) = (backend, options, count);
            if (options.ObservationSeeds is { } seeds)
            {
                _blockSeeds = new Tensor[Streams];
                for (int s = 0; s < Streams; s++)
                {
                    var perObservation = seeds.Select(seed => StreamSeed(seed, (ulong)s)).ToArray();
                    _blockSeeds[s] = backend.FromHost(ComputeBackend.SeedBits(perObservation), new Shape(2 * count));
                }
            }
        }

        public void Fill(Tensor t, ulong stream, int step)
        {
            long length = t.Shape.Length;
            if (_blockSeeds is null)
            {
                _backend.FillGaussian(t, StreamSeed(_options.Seed, stream), (ulong)step * (ulong)length);
                return;
            }

            _backend.FillGaussianBlocks(t, _blockSeeds[stream], (ulong)step * (ulong)(length / _count));
        }

        public void Dispose()
        {
            foreach (var t in _blockSeeds ?? [])
            {
                t.Dispose();
            }
        }
    }

    /// <summary>A seed per random stream (splitmix64 of seed and stream), so streams never overlap.</summary>
    private static ulong StreamSeed(ulong seed, ulong stream)
    {
        ulong z = seed + 0x9E3779B97F4A7C15UL * (stream + 1);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
