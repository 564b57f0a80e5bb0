using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Filters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using Perfolizer.Horology;

namespace JointDiffusion.Benchmarks;

/// <summary>
/// Jobs, columns and filter shared by the kernel benchmarks, joined into one summary so that every row can
/// be compared with the FMA peak of the same run.
/// </summary>
/// <remarks>
/// Jobs: <see cref="AllCoresJob"/> (short run of 10 iterations of 200 ms, every core), <see cref="OneCoreJob"/> (the same pinned to CPU 0
/// with <c>DOTNET_PROCESSOR_COUNT=1</c>, so the parallel loops plan for one core; per-core efficiency), and
/// <see cref="IlgpuJob"/> (a cold start and two iterations, for the ILGPU CPU accelerator, which runs a conv
/// at under 1 GFLOP/s). The filter gives each device its jobs and drops devices this machine lacks.
/// </remarks>
public sealed class KernelBenchmarkConfig : ManualConfig
{
    /// <summary>Short run on all cores.</summary>
    public const string AllCoresJob = "all-cores";

    /// <summary>Short run pinned to one core.</summary>
    public const string OneCoreJob = "1-core";

    /// <summary>A few cold iterations, for the very slow ILGPU CPU accelerator.</summary>
    public const string IlgpuJob = "ilgpu";

    /// <summary>Adds the jobs, the GFLOP/s (median and fastest) and %-of-peak columns and the filter.</summary>
    public KernelBenchmarkConfig()
    {
        // Short, but with enough iterations for a median that shrugs off a few preempted ones.
        var shortRun = Job.ShortRun.WithIterationCount(10).WithIterationTime(TimeInterval.FromMilliseconds(200));
        AddJob(shortRun.WithId(AllCoresJob));
        AddJob(shortRun.WithAffinity(new IntPtr(1)).WithEnvironmentVariable("DOTNET_PROCESSOR_COUNT", "1").WithId(OneCoreJob));
        AddJob(Job.Dry.WithWarmupCount(1).WithIterationCount(2).WithId(IlgpuJob));
        AddColumn(new GflopsColumn(fastest: false), new PeakFractionColumn(), new GflopsColumn(fastest: true));
        AddFilter(new SimpleFilter(Runs));
        WithOptions(ConfigOptions.JoinSummary);
    }

    private static bool Runs(BenchmarkCase benchmark)
    {
        string job = benchmark.Job.Id;
        if (benchmark.Descriptor.Type == typeof(FmaPeakBenchmark))
        {
            int threads = (int)benchmark.Parameters[nameof(FmaPeakBenchmark.Threads)];
            return job == AllCoresJob || (job == OneCoreJob && threads == 1);
        }

        if (benchmark.Parameters.Items.FirstOrDefault(p => p.Name == nameof(Conv2dBenchmark.Device))?.Value is string device)
        {
            return device == "ilgpu-cpu" ? job == IlgpuJob && BenchmarkBackends.IsAvailable(device) : job != IlgpuJob;
        }

        return job != IlgpuJob;
    }
}
