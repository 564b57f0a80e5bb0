using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using JointDiffusion.Gpu.Autodiff;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Nn;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Cli.Commands;

/// <summary>
/// <c>jointdiff bench</c>: times NCSNv2 forward, forward + input VJP, and forward + parameter gradients on a
/// device after warm-up, and prints medians, images/s, GFLOP/s and peak pooled memory.
/// </summary>
internal static class BenchCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(TextWriter stdout)
    {
        var ngf = new Option<int>("--ngf") { Description = "NCSNv2 base width (ignored with --weights).", DefaultValueFactory = _ => 32 };
        var size = new Option<int>("--size") { Description = "Image height and width (even).", DefaultValueFactory = _ => 32 };
        var channels = new Option<int>("--channels") { Description = "Image channels (ignored with --weights).", DefaultValueFactory = _ => 1 };
        var batch = new Option<int>("--batch") { Description = "Batch size.", DefaultValueFactory = _ => 8 };
        var iterations = new Option<int>("--iterations") { Description = "Timed repetitions per measurement (after 2 warm-up runs).", DefaultValueFactory = _ => 10 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text." };
        var profile = new Option<bool>("--profile") { Description = "Also print the per-op time split of one forward + input VJP (waits for the device around every op)." };
        var device = DeviceOption.Create();
        var command = new Command("bench", "Time the score network on a device.") { ngf, size, channels, batch, iterations, device, json, profile };
        command.SetAction(parse =>
        {
            int n = parse.GetValue(ngf), s = parse.GetValue(size), c = parse.GetValue(channels), b = parse.GetValue(batch), iters = parse.GetValue(iterations);
            if (n < 1 || c < 1 || b < 1 || iters < 1 || s < 2 || s % 2 != 0)
            {
                throw new UsageException("--ngf, --channels, --batch and --iterations must be positive and --size even and at least 2.");
            }

            var kind = DeviceOption.Parse(parse.GetValue(device)!);
            using var backend = DeviceSelector.Create(kind);
            using var net = Ncsnv2.CreateRandom(backend, n, c, seed: 1);
            var shape = Shape.Nchw(b, c, s, s);
            var sigma = Enumerable.Repeat(1f, b).ToArray();
            using var x = backend.Allocate(shape);
            using var v = backend.Allocate(shape);
            using var score = backend.Allocate(shape);
            using var vjp = backend.Allocate(shape);
            backend.FillGaussian(x, 1, 0);
            backend.FillGaussian(v, 2, 0);
            var grads = net.Parameters.Parameters.ToDictionary(p => p.Value, p => backend.Zeros(p.Value.Shape));
            long flops;
            using (var tape = new Tape(backend))
            {
                using var inv = backend.FromHost(sigma, new Shape(b));
                net.Forward(tape.Input(x, false), inv, ParameterBinding.Constants(tape));
                flops = tape.ConvolutionFlops;
            }

            if (!parse.GetValue(json))
            {
                stdout.WriteLine($"NCSNv2 ngf {n}, {s}x{s}x{c}, batch {b}, {net.Parameters.Count:N0} parameters, on {backend.Description}");
            }

            double fwd = Median(iters, backend, () => net.Score(x, sigma, score));
            double fwdVjp = Median(iters, backend, () => net.ScoreAndVjp(x, sigma, v, score, vjp));
            double fwdGrad = Median(iters, backend, () =>
            {
                using var tape = new Tape(backend);
                using var inv = backend.FromHost(sigma, new Shape(b));
                var y = net.Forward(tape.Input(x, false), inv, ParameterBinding.Trainable(tape, grads));
                tape.Backward(y, v);
            });
            foreach (var g in grads.Values)
            {
                g.Dispose();
            }

            if (parse.GetValue(profile))
            {
                backend.Profiler = new OpProfiler();
                net.ScoreAndVjp(x, sigma, v, score, vjp);
                var ops = backend.Profiler.Snapshot();
                backend.Profiler = null;
                double total = ops.Sum(o => o.Time.TotalMilliseconds);
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  per-op split of one forward + input VJP ({total:F1} ms with a device wait around every op):"));
                foreach (var (op, calls, time) in ops)
                {
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"    {op,-24} {calls,5} calls {time.TotalMilliseconds,9:F2} ms {100 * time.TotalMilliseconds / total,6:F1}%"));
                }
            }

            // Convolutions dominate; the backward of a conv costs about its forward per gradient computed.
            double gflopsFwd = flops / (fwd * 1e6);
            double gflopsVjp = 2.0 * flops / (fwdVjp * 1e6);
            long peak = backend.Pool.PeakBytesInUse;
            if (parse.GetValue(json))
            {
                var result = new Dictionary<string, object>
                {
                    ["device"] = DeviceSelector.Name(backend.Kind),
                    ["device_description"] = backend.Description,
                    ["ngf"] = n,
                    ["size"] = s,
                    ["channels"] = c,
                    ["batch"] = b,
                    ["parameters"] = net.Parameters.Count,
                    ["fwd_ms"] = Math.Round(fwd, 3),
                    ["fwd_vjp_ms"] = Math.Round(fwdVjp, 3),
                    ["fwd_param_grad_ms"] = Math.Round(fwdGrad, 3),
                    ["forward_gflop"] = Math.Round(flops / 1e9, 4),
                    ["gflops"] = Math.Round(gflopsVjp, 1),
                    ["gflops_fwd"] = Math.Round(gflopsFwd, 1),
                    ["images_per_s_fwd_vjp"] = Math.Round(b / (fwdVjp / 1000), 2),
                    ["peak_device_bytes"] = peak,
                };
                stdout.WriteLine(JsonSerializer.Serialize(result));
            }
            else
            {
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  forward                 {fwd,9:F2} ms  {gflopsFwd,7:F1} GFLOP/s  {b / (fwd / 1000),8:F1} images/s"));
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  forward + input VJP     {fwdVjp,9:F2} ms  {gflopsVjp,7:F1} GFLOP/s  {b / (fwdVjp / 1000),8:F1} images/s"));
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  forward + param grads   {fwdGrad,9:F2} ms"));
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  forward conv work {flops / 1e9:F3} GFLOP; peak pooled device memory {peak / 1048576.0:F1} MiB"));
            }

            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Median wall time in milliseconds of <paramref name="iterations"/> runs after two warm-ups, waiting for the device each time.</summary>
    private static double Median(int iterations, ComputeBackend backend, Action body)
    {
        for (int i = 0; i < 2; i++)
        {
            body();
        }

        backend.Synchronize();
        var times = new double[iterations];
        for (int i = 0; i < iterations; i++)
        {
            long start = Stopwatch.GetTimestamp();
            body();
            backend.Synchronize();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        Array.Sort(times);
        return iterations % 2 == 1 ? times[iterations / 2] : 0.5 * (times[iterations / 2 - 1] + times[iterations / 2]);
    }
}
