using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Sampling.Operators;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Sampling;

/// <summary>
/// Everything a data-consistency rule sees at one reverse-diffusion step: the state (x, and n in joint mode),
/// the scores at that state with their evaluations (for Jacobian products), the observation, the operator,
/// this step's diffusion noise, and scratch tensors. Rules update <see cref="X"/> and <see cref="N"/> in place.
/// </summary>
public sealed class DataConsistencyStep : IDisposable
{
    internal DataConsistencyStep(ComputeBackend backend, IMeasurementOperator op, Tensor y, Shape signal, Shape measurement, bool joint)
    {
        Backend = backend;
        Operator = op;
        Y = y;
        X0 = backend.Allocate(signal);
        SignalScratch = backend.Allocate(signal);
        SignalScratch2 = backend.Allocate(signal);
        Residual = backend.Allocate(measurement);
        MeasurementScratch = backend.Allocate(measurement);
        PerSample = backend.Allocate(new Shape(signal.N));
        if (joint)
        {
            N0 = backend.Allocate(measurement);
            NoiseScratch = backend.Allocate(measurement);
            NoiseScratch2 = backend.Allocate(measurement);
        }
    }

    /// <summary>The backend.</summary>
    public ComputeBackend Backend { get; }

    /// <summary>The measurement operator A.</summary>
    public IMeasurementOperator Operator { get; }

    /// <summary>The observation y, one copy per posterior sample: [N, measurement shape].</summary>
    public Tensor Y { get; }

    /// <summary>The noise gain b of y = A x + b n (unused in single-prior mode).</summary>
    public float NoiseGain { get; internal set; }

    /// <summary>Std of the white measurement noise σ_y.</summary>
    public float SigmaY { get; internal set; }

    /// <summary>Signal step weight λ.</summary>
    public float Lambda { get; internal set; }

    /// <summary>Noise step weight κ.</summary>
    public float Kappa { get; internal set; }

    /// <summary>β_t, the marginal std at this step.</summary>
    public float Beta { get; internal set; }

    /// <summary>β_t².</summary>
    public float Beta2 => Beta * Beta;

    /// <summary>Whether a noise model runs beside the signal model (else single-prior mode).</summary>
    public bool Joint => N is not null;

    /// <summary>The signal state x_t.</summary>
    public Tensor X { get; internal set; } = null!;

    /// <summary>The signal score at x_t and its evaluation.</summary>
    public ScoreEvaluation SignalScore { get; internal set; } = null!;

    /// <summary>This step's diffusion noise for x (shared with the projection rule).</summary>
    public Tensor ZX { get; internal set; } = null!;

    /// <summary>The noise state n_t (joint mode).</summary>
    public Tensor? N { get; internal set; }

    /// <summary>The noise score at n_t and its evaluation (joint mode).</summary>
    public ScoreEvaluation? NoiseScore { get; internal set; }

    /// <summary>This step's diffusion noise for n (joint mode).</summary>
    public Tensor? ZN { get; internal set; }

    /// <summary>Scratch: Tweedie estimate of x0.</summary>
    public Tensor X0 { get; }

    /// <summary>Scratch: Tweedie estimate of n0 (joint mode).</summary>
    public Tensor? N0 { get; }

    /// <summary>Scratch: measurement-shaped residual.</summary>
    public Tensor Residual { get; }

    /// <summary>Scratch, measurement-shaped.</summary>
    public Tensor MeasurementScratch { get; }

    /// <summary>Scratch, signal-shaped.</summary>
    public Tensor SignalScratch { get; }

    /// <summary>Scratch, signal-shaped.</summary>
    public Tensor SignalScratch2 { get; }

    /// <summary>Scratch, noise-shaped (joint mode).</summary>
    public Tensor? NoiseScratch { get; }

    /// <summary>Scratch, noise-shaped (joint mode).</summary>
    public Tensor? NoiseScratch2 { get; }

    /// <summary>Scratch: one value per batch item.</summary>
    public Tensor PerSample { get; }

    /// <summary>x0|t = x_t + β_t² s(x_t) and, in joint mode, n0|t likewise (eq. 13, Tweedie).</summary>
    public void ComputeTweedie()
    {
        Backend.Copy(X, X0);
        Backend.Axpy(Beta2, SignalScore.Score, X0);
        if (Joint)
        {
            Backend.Copy(N!, N0!);
            Backend.Axpy(Beta2, NoiseScore!.Score, N0!);
        }
    }

    /// <summary>Residual = y − A·<paramref name="x"/> − b·<paramref name="n"/> (no noise term in single-prior mode).</summary>
    public void ComputeResidual(Tensor x, Tensor? n)
    {
        Operator.Apply(x, Residual);
        Backend.Scale(Residual, -1f, Residual);
        Backend.Axpy(1f, Y, Residual);
        if (Joint)
        {
            Backend.Axpy(-NoiseGain, n!, Residual);
        }
    }

    /// <summary>
    /// result = J_{x0}ᵀ u for the Tweedie estimate x0 = x + β² s(x): u + β²·(∂s/∂x)ᵀ u, through the score
    /// model's true vector–Jacobian product.
    /// </summary>
    public void TweedieVjp(ScoreEvaluation evaluation, Tensor u, Tensor result)
    {
        evaluation.Vjp(u, result);
        Backend.Scale(result, Beta2, result);
        Backend.Axpy(1f, u, result);
    }

    /// <summary>
    /// Joint mode: <see cref="TweedieVjp"/> of the signal (<see cref="SignalScratch"/> into <see cref="SignalScratch2"/>)
    /// and of the noise (<see cref="NoiseScratch"/> into <see cref="NoiseScratch2"/>), the two at the same time when
    /// the sampler evaluates its networks concurrently (<see cref="SamplerOptions.ConcurrentNetworks"/>).
    /// </summary>
    public void TweedieVjpBoth()
    {
        if (!Joint)
        {
            throw new InvalidOperationException("TweedieVjpBoth needs a joint step (a noise model).");
        }

        ConcurrentPair.Run(Backend, Concurrent, new BothVjps(this));
    }

    /// <summary>Whether the two networks' passes run at the same time (set by the sampler).</summary>
    internal bool Concurrent { get; set; }

    private readonly struct BothVjps(DataConsistencyStep step) : IConcurrentWork
    {
        public void Run(int index)
        {
            if (index == 0)
            {
                step.TweedieVjp(step.SignalScore, step.SignalScratch, step.SignalScratch2);
            }
            else
            {
                step.TweedieVjp(step.NoiseScore!, step.NoiseScratch!, step.NoiseScratch2!);
            }
        }
    }

    /// <summary>Frees the scratch tensors.</summary>
    public void Dispose()
    {
        foreach (var t in new[] { X0, SignalScratch, SignalScratch2, Residual, MeasurementScratch, PerSample, N0, NoiseScratch, NoiseScratch2 })
        {
            t?.Dispose();
        }
    }
}
