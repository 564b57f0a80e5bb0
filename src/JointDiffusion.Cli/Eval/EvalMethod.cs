using System.Diagnostics;
using System.Globalization;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Metrics;
using JointDiffusion.Gpu.Sampling;
using JointDiffusion.Gpu.Sampling.Rules;

namespace JointDiffusion.Cli.Eval;

/// <summary>One row of an evaluation: a sampler configuration or a classical baseline.</summary>
internal sealed record EvalMethod(string Key, string Label, string? Rule, bool Joint)
{
    /// <summary>Every method, in table order.</summary>
    public static readonly IReadOnlyList<EvalMethod> All =
    [
        new("joint-pigdm", "joint ΠGDM", "pigdm", true),
        new("joint-dps", "joint DPS", "dps", true),
        new("joint-projection", "joint projection", "projection", true),
        new("single-pigdm", "single-prior ΠGDM", "pigdm", false),
        new("single-dps", "single-prior DPS", "dps", false),
        new("classical", "classical", null, false),
    ];

    /// <summary>Parses a comma-separated list of method keys (or "all").</summary>
    public static IReadOnlyList<EvalMethod> Parse(string list)
    {
        if (list.Trim() == "all")
        {
            return All;
        }

        var keys = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var unknown = keys.Where(k => All.All(m => m.Key != k)).ToList();
        if (keys.Length == 0 || unknown.Count > 0)
        {
            throw new UsageException($"--methods: unknown method(s) {string.Join(", ", unknown)}; choose from all, {string.Join(", ", All.Select(m => m.Key))}.");
        }

        return [.. All.Where(m => keys.Contains(m.Key))];
    }

    /// <summary>The rule object of a sampler method.</summary>
    public IDataConsistencyRule CreateRule() => Rule switch
    {
        "pigdm" => new PigdmRule(),
        "dps" => new DpsRule(),
        "projection" => new ProjectionRule(),
        _ => throw new InvalidOperationException($"{Key} is not a sampler method."),
    };
}

/// <summary>The estimates and cost of one method on one experiment.</summary>
internal sealed record MethodResult(EvalMethod Method, string Settings, float[] X, float[]? N, double Seconds)
{
    /// <summary>Why the method has no estimates (e.g. "diverged by step 50 of 300"), or null when it has.</summary>
    public string? Failure { get; init; }

    /// <summary>Per-image PSNR (dB) of clip(x̂, 0, 1) against the truth.</summary>
    public double[] Psnr(Experiment e) => [.. Enumerable.Range(0, e.Count).Select(i => ImageMetrics.Psnr(Clipped(i, e.D), e.X.AsSpan(i * e.D, e.D)))];

    /// <summary>Per-image SSIM of clip(x̂, 0, 1) against the truth.</summary>
    public double[] Ssim(Experiment e) => [.. Enumerable.Range(0, e.Count).Select(i => ImageMetrics.Ssim(Clipped(i, e.D), e.X.AsSpan(i * e.D, e.D), 1, 32, 32))];

    /// <summary>Estimate i clipped to [0, 1].</summary>
    public float[] Clipped(int i, int d)
    {
        var r = new float[d];
        for (int p = 0; p < d; p++)
        {
            r[p] = Math.Clamp(X[i * d + p], 0f, 1f);
        }

        return r;
    }
}

/// <summary>
/// Runs the methods of an evaluation in chunks of observations, caches each finished method under
/// <c>OUT/cache/</c> (atomically, keyed by every setting that changes its result) so an interrupted eval resumes
/// where it stopped, and prints progress.
/// </summary>
internal sealed class EvalRunner(Experiment experiment, int steps, int chunk, ulong seed, TextWriter stdout)
{
    /// <summary>The folder of per-method caches, or null for no caching (the tuner).</summary>
    public string? CacheFolder { get; init; }

    /// <summary>Runs (or loads from the cache) one method.</summary>
    public MethodResult Run(EvalMethod method, float lambda, float kappa, CancellationToken cancellation)
    {
        var e = experiment;
        string settings = method.Rule is null
            ? ClassicalBaseline.Describe(e)
            : method.Joint
                ? string.Create(CultureInfo.InvariantCulture, $"λ {lambda:G4}, κ {kappa:G4}")
                : string.Create(CultureInfo.InvariantCulture, $"λ {lambda:G4}, σ_y {e.SingleSigmaY:G3}");
        string key = string.Create(CultureInfo.InvariantCulture,
            $"{e.Name}|n={e.Count}|T={steps}|chunk={chunk}|seed={seed}|{method.Key}|{settings}|v1");
        string? cachePath = CacheFolder is null ? null : Path.Combine(CacheFolder, method.Key + ".safetensors");
        if (cachePath is not null && File.Exists(cachePath))
        {
            try
            {
                var cached = SafetensorsReader.Read(cachePath);
                if (cached.Metadata.TryGetValue("key", out var k) && k == key)
                {
                    double seconds = double.Parse(cached.Metadata["seconds"], CultureInfo.InvariantCulture);
                    stdout.WriteLine($"{method.Label}: finished earlier (cached in {cachePath}).");
                    return new MethodResult(method, settings, cached.GetTensor("x").Data,
                        cached.TryGetTensor("n", out var nt) ? nt!.Data : null, seconds);
                }
            }
            catch (SafetensorsFormatException)
            {
                // An unreadable cache is recomputed.
            }
        }

        stdout.WriteLine($"{method.Label} ({settings}), {e.Count} images, T = {steps}:");
        var clock = Stopwatch.StartNew();
        float[] x;
        float[]? n = null;
        if (method.Rule is null)
        {
            x = ClassicalBaseline.Estimate(e, cancellation);
        }
        else
        {
            x = new float[e.Count * e.D];
            n = method.Joint ? new float[e.Count * e.M] : null;
            var sampler = new JointSampler(e.Signal, method.Joint ? e.Noise : null, e.Operator);
            try
            {
            for (int start = 0; start < e.Count; start += chunk)
            {
                int count = Math.Min(chunk, e.Count - start);
                var options = new SamplerOptions
                {
                    Steps = steps,
                    Rule = method.CreateRule(),
                    Lambda = lambda,
                    Kappa = kappa,
                    NoiseGain = e.NoiseGain,
                    SigmaY = method.Joint ? 0f : e.SingleSigmaY,
                    Seed = seed + (ulong)start,
                };
                var result = sampler.Sample(e.Y.AsSpan(start * e.M, count * e.M).ToArray(), count, options, cancellation: cancellation);
                result.XMean.CopyTo(x, start * e.D);
                result.NMean?.CopyTo(n!, start * e.M);
                double elapsed = clock.Elapsed.TotalSeconds;
                double eta = elapsed / (start + count) * (e.Count - start - count);
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  images {start + count}/{e.Count}, {elapsed:F0} s elapsed, ETA {eta:F0} s"));
            }
            }
            catch (SamplerDivergedException d)
            {
                // A diverging rule is a result (a row that says so), not the end of the evaluation; it is not cached.
                stdout.WriteLine($"  {d.Message}");
                return new MethodResult(method, settings, new float[e.Count * e.D], null, clock.Elapsed.TotalSeconds)
                {
                    Failure = $"diverged by step {d.Step} of {steps}",
                };
            }
        }

        double total = clock.Elapsed.TotalSeconds;
        if (cachePath is not null)
        {
            Directory.CreateDirectory(CacheFolder!);
            var tensors = new List<SafetensorsTensor> { new("x", [e.Count, e.D], x) };
            if (n is not null)
            {
                tensors.Add(new("n", [e.Count, e.M], n));
            }

            var metadata = new Dictionary<string, string> { ["key"] = key, ["seconds"] = total.ToString("R", CultureInfo.InvariantCulture) };
            SafetensorsWriter.Write(cachePath, tensors, metadata);
        }

        return new MethodResult(method, settings, x, n, total);
    }
}
