using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Sde;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Sampling;

/// <summary>
/// Draws samples from a score model's own distribution: Euler–Maruyama on the reverse VE-SDE from
/// x_1 ~ N(0, β_1² I) to t = ε, then the Tweedie estimate at ε — the joint sampler's loop without data
/// consistency. How one checks what a trained prior has learned.
/// </summary>
public sealed class UnconditionalSampler(IScoreModel model, VeSde? sde = null)
{
    private readonly VeSde _sde = sde ?? new VeSde();

    /// <summary>Returns <paramref name="count"/> samples of <paramref name="sampleShape"/>, row-major.</summary>
    public float[] Sample(int count, int[] sampleShape, int steps, ulong seed, double epsilon = 1e-3,
        IProgress<SamplingProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (count < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, "Need at least one sample.");
        }

        var shape = new Shape([count, .. sampleShape]);
        model.CheckInput(shape);
        var (times, dt) = VeSde.Grid(steps, epsilon);
        var backend = model.Backend;
        using var x = backend.Allocate(shape);
        using var z = backend.Allocate(shape);
        backend.FillGaussian(x, seed, 0);
        backend.Scale(x, (float)_sde.MarginalStd(times[0]), x);
        var sigma = new float[count];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < steps; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            double t = times[i];
            Array.Fill(sigma, (float)_sde.MarginalStd(t));
            double g = _sde.Diffusion(t);
            backend.FillGaussian(z, seed ^ 0x5DEECE66DUL, (ulong)(i + 1) * (ulong)shape.Length);
            using (var s = model.Evaluate(x, sigma, needVjp: false))
            {
                backend.Axpy((float)(g * g * dt), s.Score, x);
            }

            backend.Axpy((float)(g * Math.Sqrt(dt)), z, x);
            progress?.Report(new SamplingProgress(i + 1, steps, clock.Elapsed));
        }

        float beta = (float)_sde.MarginalStd(times[^1]);
        Array.Fill(sigma, beta);
        using (var s = model.Evaluate(x, sigma, needVjp: false))
        {
            backend.Axpy(beta * beta, s.Score, x);
        }

        return x.ToArray();
    }
}
