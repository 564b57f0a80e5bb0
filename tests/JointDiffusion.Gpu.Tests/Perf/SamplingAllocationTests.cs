using JointDiffusion.Gpu.Backends.Simd;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Sampling;
using JointDiffusion.Gpu.Sampling.Operators;
using JointDiffusion.Gpu.Sampling.Rules;
using Xunit.Abstractions;

namespace JointDiffusion.Gpu.Tests.Perf;

/// <summary>
/// Managed allocations per reverse-diffusion step of <see cref="JointSampler"/> with two NCSNv2 networks (one for
/// the dense operator, whose measurements are not images) on the SIMD backend, after warm-up, counted on the
/// sampling thread and the backend's worker threads (per thread, so other threads' allocations cannot leak in);
/// the process-wide count (<see cref="GC.GetTotalAllocatedBytes(bool)"/>) is checked too, with the median over
/// steps so that a runtime thread's occasional allocation cannot fail the test.
/// </summary>
/// <remarks>
/// Every step must allocate nothing, with or without network VJPs, from the first measured step on: any per-step
/// allocation (sampler, model, tape, rules, operators, backend, worker threads) fails the test. (Until session 3,
/// <see cref="Backends.ComputeBackend.InstanceNorm2dPlusBackward"/> looped over a three-element array for its argument
/// checks, which unoptimised code allocated, 72 bytes per InstanceNorm++ layer; it now checks them one by one.)
/// </remarks>
[Collection(PerfCollection.Name)]
public sealed class SamplingAllocationTests(ITestOutputHelper output)
{
    private const int Steps = 24, WarmSteps = 8;

    private static readonly int[] Image = [1, 8, 8];

    public static TheoryData<string, string> Cases => new()
    {
        { "pigdm", "scale" },
        { "pigdm", "mask" },
        { "pigdm", "dense" },
        { "dps", "scale" },
        { "projection", "scale" },
        { "pigdm", "scale-wide" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void JointSamplingStep_AllocatesNothing_AfterWarmUp(string rule, string operatorKind)
    {
        using var backend = new SimdBackend();
        // "scale-wide": ngf 32 on 16x16, two samples, so the 32-channel layers (2 × 4 × 4 = 32 tiles) run through the
        // Winograd convolutions and their filter cache, where AVX-512 has them.
        bool wide = operatorKind == "scale-wide";
        int[] image = wide ? [1, 16, 16] : Image;
        Assert.True(!wide || !backend.UsesWinograd || SimdWinograd.Applies(3, 32, 32, 2, 16, 16, 1));
        using var signal = Ncsnv2.CreateRandom(backend, wide ? 32 : 4, 1, seed: 1);
        using var noise = Ncsnv2.CreateRandom(backend, wide ? 32 : 4, 1, seed: 2);
        using IMeasurementOperator op = operatorKind switch
        {
            "scale" or "scale-wide" => DiagonalOperator.Scalar(backend, image, 0.5f),
            "mask" => DiagonalOperator.Mask(backend, Image, [.. Enumerable.Range(0, 64).Select(i => i % 3 == 0 ? 0f : 1f)]),
            _ => DenseOperator.CompressedSensing(backend, Image, 2, seed: 5),
        };
        IDataConsistencyRule dc = rule switch
        {
            "pigdm" => new PigdmRule(),
            "dps" => new DpsRule(),
            _ => new ProjectionRule(),
        };
        int m = op.MeasurementShape.Aggregate(1, (a, b) => a * b);
        var observation = Enumerable.Range(0, m).Select(i => 0.3f + 0.01f * (i % 7)).ToArray();
        // Small weights keep 24 steps of random networks finite; the divergence check is off, as it reads back.
        var options = new SamplerOptions
        {
            Steps = Steps, Rule = dc, Lambda = 0.1f, Kappa = 0.1f, NoiseGain = 0.5f, SamplesPerObservation = 2,
            DivergenceCheckInterval = 0,
        };
        // A dense operator measures in another space than the image, so no image-shaped noise network fits: single prior.
        bool joint = operatorKind != "dense";
        if (!joint)
        {
            options = options with { SigmaY = 0.1f };
        }

        var sampler = new JointSampler(signal, joint ? noise : null, op);

        sampler.Sample(observation, 1, options, new AllocationRecorder(Steps));
        var recorder = new AllocationRecorder(Steps);
        sampler.Sample(observation, 1, options, recorder);

        var perThread = recorder.PerStep(recorder.ThreadBytes);
        var total = recorder.PerStep(recorder.TotalBytes);
        output.WriteLine($"{rule}/{operatorKind}: bytes per step on the sampling and worker threads [{string.Join(", ", perThread)}], " +
            $"of which workers [{string.Join(", ", recorder.PerStep(recorder.WorkerBytes))}]; process-wide [{string.Join(", ", total)}]");
        Assert.All(perThread, b => Assert.Equal(0, b));
        Assert.Equal(0, Median(total));
    }

    private static long Median(long[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    /// <summary>Reads the allocation counters after every step (synchronously, on the sampling thread; allocates nothing itself).</summary>
    private sealed class AllocationRecorder(int steps) : IProgress<SamplingProgress>
    {
        public long[] ThreadBytes { get; } = new long[steps + 1];

        public long[] TotalBytes { get; } = new long[steps + 1];

        public long[] WorkerBytes { get; } = new long[steps + 1];

        public void Report(SamplingProgress value)
        {
            ThreadBytes[value.Step] = GC.GetAllocatedBytesForCurrentThread() + SimdWorkers.Shared.WorkerAllocatedBytes;
            WorkerBytes[value.Step] = SimdWorkers.Shared.WorkerAllocatedBytes;
            TotalBytes[value.Step] = GC.GetTotalAllocatedBytes(precise: true);
        }

        /// <summary>
        /// Bytes allocated during each step after the warm-up steps, but the last: it also runs the sampler's final
        /// divergence check (a read-back through <see cref="Backends.ComputeBackend.Sum(Tensors.Tensor)"/>), once per run.
        /// </summary>
        public long[] PerStep(long[] counter) => [.. Enumerable.Range(WarmSteps + 1, Steps - WarmSteps - 1).Select(s => counter[s] - counter[s - 1])];
    }
}
