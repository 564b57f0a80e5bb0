using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using JointDiffusion.Gpu.Autodiff;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Data;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Nn;
using JointDiffusion.Gpu.Sampling;
using JointDiffusion.Gpu.Sampling.Operators;
using JointDiffusion.Gpu.Sampling.Rules;
using JointDiffusion.Gpu.Tensors;
using JointDiffusion.Gpu.Training;
using JointDiffusion.Kernels;

namespace JointDiffusion.Cli.Commands;

/// <summary>
/// <c>jointdiff bench</c>: times NCSNv2 forward, forward + input VJP, forward + parameter gradients, one DSM training
/// step (as <see cref="DsmTrainer"/> runs it) and one joint ΠGDM sampling step (as <see cref="JointSampler"/> runs it,
/// two networks) on a device after warm-up, and prints medians, steps/s, images/s, GFLOP/s, managed bytes allocated
/// per sampling step and peak pooled memory.
/// </summary>
internal static class BenchCommand
{
    /// <summary>Warm-up runs before every timed series (at least; see <see cref="WarmUpTime"/>).</summary>
    private const int WarmUp = 2;

    /// <summary>
    /// Least warm-up time before the forward, VJP and gradient series: the JIT compiles the methods called once per pass
    /// (the tape, the network's glue) at tier 0 first and recompiles them after about 30 calls, in the background, so
    /// two warm-up passes timed partly unoptimised code (fwd + VJP at ngf 64, 64x64x3, batch 1: 68–93 ms after two, 53–56
    /// ms with tiering off; benchmarks/RESULTS.md §9).
    /// </summary>
    private static readonly TimeSpan WarmUpTime = TimeSpan.FromSeconds(1);

    /// <summary>Builds the command.</summary>
    public static Command Create(TextWriter stdout)
    {
        var ngf = new Option<int>("--ngf") { Description = "NCSNv2 base width (ignored with --weights).", DefaultValueFactory = _ => 32 };
        var size = new Option<int>("--size") { Description = "Image height and width (even).", DefaultValueFactory = _ => 32 };
        var channels = new Option<int>("--channels") { Description = "Image channels (ignored with --weights).", DefaultValueFactory = _ => 1 };
        var batch = new Option<int>("--batch") { Description = "Batch size (images per network pass, training step and sampling step).", DefaultValueFactory = _ => 8 };
        var iterations = new Option<int>("--iterations") { Description = "Timed repetitions per measurement (after 2 warm-up runs).", DefaultValueFactory = _ => 10 };
        var weights = new Option<FileInfo>("--weights") { Description = "Time this NCSNv2 checkpoint (.safetensors) instead of a randomly initialised network; ngf and channels come from it." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text." };
        var profile = new Option<bool>("--profile") { Description = "Also print the per-op time split of one forward + input VJP (waits for the device around every op)." };
        var device = DeviceOption.Create();
        var command = new Command("bench", "Time the score network, a training step and a joint sampling step on a device.")
        {
            ngf, size, channels, batch, iterations, weights, device, json, profile,
        };
        command.SetAction(parse =>
        {
            int s = parse.GetValue(size), b = parse.GetValue(batch), iters = parse.GetValue(iterations);
            var weightsFile = parse.GetValue(weights);
            if (parse.GetValue(ngf) < 1 || parse.GetValue(channels) < 1 || b < 1 || iters < 1 || s < 2 || s % 2 != 0)
            {
                throw new UsageException("--ngf, --channels, --batch and --iterations must be positive and --size even and at least 2.");
            }

            if (weightsFile is { Exists: false })
            {
                throw new FileNotFoundException($"{weightsFile.FullName} does not exist.");
            }

            var kind = DeviceOption.Parse(parse.GetValue(device)!);
            using var backend = DeviceSelector.Create(kind);
            var bench = new Bench(backend, weightsFile?.FullName, parse.GetValue(ngf), parse.GetValue(channels), s, b, iters);
            var result = bench.Run(parse.GetValue(profile) ? stdout : null);
            if (parse.GetValue(json))
            {
                stdout.WriteLine(JsonSerializer.Serialize(result.ToJson(backend, weightsFile?.Name)));
            }
            else
            {
                result.WriteText(stdout, backend, weightsFile?.Name);
            }

            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Median wall time in milliseconds of <paramref name="iterations"/> runs after the warm-up runs, waiting for the device each time.</summary>
    private static double Median(int iterations, ComputeBackend backend, Action body)
    {
        long warmUpStart = Stopwatch.GetTimestamp();
        for (int i = 0; i < WarmUp || Stopwatch.GetElapsedTime(warmUpStart) < WarmUpTime; i++)
        {
            body();
            backend.Synchronize();
        }

        var times = new double[iterations];
        for (int i = 0; i < iterations; i++)
        {
            long start = Stopwatch.GetTimestamp();
            body();
            backend.Synchronize();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        return Median(times);
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    }

    /// <summary>One benchmark: the measurements in order, each network created for it (training changes its weights).</summary>
    private sealed class Bench(ComputeBackend backend, string? weightsPath, int ngf, int channels, int size, int batch, int iterations)
    {
        /// <summary>The network under test: the checkpoint, or a random one of the given width (a new seed per copy).</summary>
        private Ncsnv2 Network(ulong seed) =>
            weightsPath is not null ? Ncsnv2.Load(backend, weightsPath) : Ncsnv2.CreateRandom(backend, ngf, channels, seed);

        public BenchResult Run(TextWriter? profile)
        {
            using var net = Network(1);
            int c = net.Channels;
            var shape = Shape.Nchw(batch, c, size, size);
            net.CheckInput(shape);
            var sigma = Enumerable.Repeat(1f, batch).ToArray();
            using var x = backend.Allocate(shape);
            using var v = backend.Allocate(shape);
            using var score = backend.Allocate(shape);
            using var vjp = backend.Allocate(shape);
            backend.FillGaussian(x, 1, 0);
            backend.FillGaussian(v, 2, 0);

            long flops;
            using (var tape = new Tape(backend))
            {
                using var inv = backend.FromHost(sigma, new Shape(batch));
                net.Forward(tape.Input(x, false), inv, ParameterBinding.Constants(tape));
                flops = tape.ConvolutionFlops;
            }

            double fwd = Median(iterations, backend, () => net.Score(x, sigma, score));
            double fwdVjp = Median(iterations, backend, () => net.ScoreAndVjp(x, sigma, v, score, vjp));
            double fwdGrad = ParameterGradients(net, x, v, sigma);
            if (profile is not null)
            {
                Profile(net, x, v, sigma, score, vjp, profile);
            }

            var (jointStep, jointBytes) = JointStep(net, c);
            double trainStep = TrainStep(c, profile);
            return new BenchResult(net.Ngf, c, size, batch, net.Parameters.Count, flops, fwd, fwdVjp, fwdGrad, trainStep, jointStep, jointBytes,
                backend.Pool.PeakBytesInUse);
        }

        /// <summary>Forward and every parameter gradient (no optimiser), as the training step's core.</summary>
        private double ParameterGradients(Ncsnv2 net, Tensor x, Tensor v, float[] sigma)
        {
            var grads = net.Parameters.Parameters.ToDictionary(p => p.Value, p => backend.Zeros(p.Value.Shape));
            try
            {
                return Median(iterations, backend, () =>
                {
                    using var tape = new Tape(backend);
                    using var inv = backend.FromHost(sigma, new Shape(batch));
                    var y = net.Forward(tape.Input(x, false), inv, ParameterBinding.Trainable(tape, grads));
                    tape.Backward(y, v);
                });
            }
            finally
            {
                foreach (var g in grads.Values)
                {
                    g.Dispose();
                }
            }
        }

        private void Profile(Ncsnv2 net, Tensor x, Tensor v, float[] sigma, Tensor score, Tensor vjp, TextWriter stdout)
        {
            backend.Profiler = new OpProfiler();
            net.ScoreAndVjp(x, sigma, v, score, vjp);
            Print("forward + input VJP", backend.Profiler, stdout);

            var grads = net.Parameters.Parameters.ToDictionary(p => p.Value, p => backend.Zeros(p.Value.Shape));
            try
            {
                backend.Profiler = new OpProfiler();
                using var tape = new Tape(backend);
                using var inv = backend.FromHost(sigma, new Shape(batch));
                tape.Backward(net.Forward(tape.Input(x, false), inv, ParameterBinding.Trainable(tape, grads)), v);
                Print("forward + parameter gradients", backend.Profiler, stdout);
            }
            finally
            {
                backend.Profiler = null;
                foreach (var g in grads.Values)
                {
                    g.Dispose();
                }
            }
        }

        private static void Print(string pass, OpProfiler profiler, TextWriter stdout)
        {
            var ops = profiler.Snapshot();
            double total = ops.Sum(o => o.Time.TotalMilliseconds);
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  per-op split of one {pass} ({total:F1} ms with a device wait around every op):"));
            foreach (var (op, calls, time) in ops)
            {
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"    {op,-24} {calls,5} calls {time.TotalMilliseconds,9:F2} ms {100 * time.TotalMilliseconds / total,6:F1}%"));
            }

            stdout.WriteLine("  its convolutions by layer shape (input channels→output channels, input size, kernel, dilation, batch):");
            foreach (var (layer, calls, time) in profiler.DetailSnapshot())
            {
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"    {layer,-52} {calls,5} calls {time.TotalMilliseconds,9:F2} ms {100 * time.TotalMilliseconds / total,6:F1}%"));
            }
        }

        /// <summary>
        /// One joint ΠGDM step of <see cref="JointSampler"/> with two networks of this configuration, y = 0.5x + 0.5n,
        /// the batch as samples of one observation: the median over steps of the wall time between two steps'
        /// progress reports (the device waited for at each), and the median of the managed bytes allocated in between
        /// (all threads). The first <see cref="WarmUp"/> steps and the last (which also checks for divergence) are left out.
        /// </summary>
        private (double Milliseconds, long Bytes) JointStep(Ncsnv2 signal, int c)
        {
            using var noise = Network(2);
            int[] image = [c, size, size];
            using var op = DiagonalOperator.Scalar(backend, image, 0.5f);
            var observation = Enumerable.Range(0, c * size * size).Select(i => Philox.Uniform(3, (ulong)i)).ToArray();
            int steps = WarmUp + iterations + 1;
            var options = new SamplerOptions
            {
                Steps = steps,
                Rule = new PigdmRule(),
                Lambda = 0.5f,
                Kappa = 0.5f,
                NoiseGain = 0.5f,
                SamplesPerObservation = batch,
                DivergenceCheckInterval = 0,
                ReturnTweedieEstimate = false,
            };
            var clock = new StepClock(backend, steps);
            try
            {
                new JointSampler(signal, noise, op).Sample(observation, 1, options, clock);
            }
            catch (SamplerDivergedException)
            {
                // Random weights may drive the state to infinity; the steps were timed all the same.
            }

            var times = new double[iterations];
            var bytes = new double[iterations];
            for (int i = 0; i < iterations; i++)
            {
                int step = WarmUp + 1 + i;
                times[i] = Stopwatch.GetElapsedTime(clock.Timestamps[step - 1], clock.Timestamps[step]).TotalMilliseconds;
                bytes[i] = clock.AllocatedBytes[step] - clock.AllocatedBytes[step - 1];
            }

            return (Median(times), (long)Median(bytes));
        }

        /// <summary>One <see cref="DsmTrainer.TrainStep"/> (batch, forward, parameter gradients, clipping, Adam, EMA) on a fixed in-memory batch.</summary>
        private double TrainStep(int c, TextWriter? profile)
        {
            using var net = Network(3);
            var data = new FixedImages(batch, c, size);
            using var trainer = new DsmTrainer(net, data, new TrainerOptions { Batch = batch });
            double median = Median(iterations, backend, () => trainer.TrainStep());
            if (profile is not null)
            {
                backend.Profiler = new OpProfiler();
                try
                {
                    trainer.TrainStep();
                    Print("DSM training step", backend.Profiler, profile);
                }
                finally
                {
                    backend.Profiler = null;
                }
            }

            return median;
        }
    }

    /// <summary>Reads the clock and the allocation counter after every sampling step (allocates nothing itself).</summary>
    private sealed class StepClock(ComputeBackend backend, int steps) : IProgress<SamplingProgress>
    {
        public long[] Timestamps { get; } = new long[steps + 1];

        public long[] AllocatedBytes { get; } = new long[steps + 1];

        public void Report(SamplingProgress value)
        {
            backend.Synchronize();
            Timestamps[value.Step] = Stopwatch.GetTimestamp();
            AllocatedBytes[value.Step] = GC.GetTotalAllocatedBytes(precise: true);
        }
    }

    /// <summary>A data set of <paramref name="count"/> fixed uniform-noise images in [0, 1]: what a training step reads, without files.</summary>
    private sealed class FixedImages(int count, int channels, int size) : IImageDataset
    {
        public int Count => count;

        public int Channels => channels;

        public int Height => size;

        public int Width => size;

        public string Description => "bench: fixed uniform noise";

        public void CopyTo(int index, Span<float> destination)
        {
            for (int i = 0; i < destination.Length; i++)
            {
                destination[i] = Philox.Uniform(4, (ulong)(index * destination.Length + i));
            }
        }
    }

    /// <summary>The measured numbers, in milliseconds unless named otherwise.</summary>
    private sealed record BenchResult(int Ngf, int Channels, int Size, int Batch, long Parameters, long ForwardFlops, double Forward,
        double ForwardVjp, double ForwardParamGrad, double TrainStep, double JointStep, long JointStepBytes, long PeakBytes)
    {
        // Convolutions dominate; the backward of a conv costs about its forward per gradient computed.
        private double GflopsForward => ForwardFlops / (Forward * 1e6);

        private double GflopsVjp => 2.0 * ForwardFlops / (ForwardVjp * 1e6);

        public Dictionary<string, object?> ToJson(ComputeBackend backend, string? weights) => new()
        {
            ["device"] = DeviceSelector.Name(backend.Kind),
            ["device_description"] = backend.Description,
            ["weights"] = weights,
            ["ngf"] = Ngf,
            ["size"] = Size,
            ["channels"] = Channels,
            ["batch"] = Batch,
            ["parameters"] = Parameters,
            ["fwd_ms"] = Math.Round(Forward, 3),
            ["fwd_vjp_ms"] = Math.Round(ForwardVjp, 3),
            ["fwd_param_grad_ms"] = Math.Round(ForwardParamGrad, 3),
            ["train_step_ms"] = Math.Round(TrainStep, 3),
            ["joint_step_ms"] = Math.Round(JointStep, 3),
            ["forward_gflop"] = Math.Round(ForwardFlops / 1e9, 4),
            ["gflops"] = Math.Round(GflopsVjp, 1),
            ["gflops_fwd"] = Math.Round(GflopsForward, 1),
            ["images_per_s_fwd_vjp"] = Math.Round(Batch / (ForwardVjp / 1000), 2),
            ["train_steps_per_s"] = Math.Round(1000 / TrainStep, 3),
            ["train_images_per_s"] = Math.Round(Batch * 1000 / TrainStep, 2),
            ["joint_steps_per_s"] = Math.Round(1000 / JointStep, 3),
            ["joint_image_steps_per_s"] = Math.Round(Batch * 1000 / JointStep, 2),
            ["joint_step_alloc_bytes"] = JointStepBytes,
            ["peak_device_bytes"] = PeakBytes,
        };

        public void WriteText(TextWriter stdout, ComputeBackend backend, string? weights)
        {
            string source = weights is null ? "random weights" : weights;
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"NCSNv2 ngf {Ngf}, {Size}x{Size}x{Channels}, batch {Batch}, {Parameters:N0} parameters ({source}), on {backend.Description}"));
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  forward                 {Forward,9:F2} ms  {GflopsForward,7:F1} GFLOP/s  {Batch / (Forward / 1000),8:F1} images/s"));
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  forward + input VJP     {ForwardVjp,9:F2} ms  {GflopsVjp,7:F1} GFLOP/s  {Batch / (ForwardVjp / 1000),8:F1} images/s"));
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  forward + param grads   {ForwardParamGrad,9:F2} ms"));
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  DSM training step       {TrainStep,9:F2} ms  {1000 / TrainStep,7:F2} steps/s   {Batch * 1000 / TrainStep,8:F1} images/s"));
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  joint PiGDM step        {JointStep,9:F2} ms  {1000 / JointStep,7:F2} steps/s   {Batch * 1000 / JointStep,8:F1} image-steps/s  (2 networks, {JointStepBytes} B allocated/step)"));
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  forward conv work {ForwardFlops / 1e9:F3} GFLOP; peak pooled device memory {PeakBytes / 1048576.0:F1} MiB"));
        }
    }
}
