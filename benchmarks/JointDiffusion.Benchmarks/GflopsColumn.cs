using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace JointDiffusion.Benchmarks;

/// <summary>
/// GFLOP/s = floating-point operations of one invocation / time per invocation, from the median iteration
/// or from the fastest one. The median, not the mean, is the headline: on a shared machine a few preempted
/// iterations drag the mean far below what the kernel does; the fastest iteration shows what it does when
/// nothing else runs (each iteration still averages many invocations over 200 ms).
/// </summary>
/// <param name="fastest">Use the fastest iteration instead of the median one.</param>
public sealed class GflopsColumn(bool fastest) : IColumn
{
    /// <inheritdoc/>
    public string Id => nameof(GflopsColumn) + (fastest ? ".Fastest" : ".Median");

    /// <inheritdoc/>
    public string ColumnName => fastest ? "GFLOP/s (fastest)" : "GFLOP/s";

    /// <inheritdoc/>
    public bool AlwaysShow => true;

    /// <inheritdoc/>
    public ColumnCategory Category => ColumnCategory.Custom;

    /// <inheritdoc/>
    public int PriorityInCategory => fastest ? 1 : 0;

    /// <inheritdoc/>
    public bool IsNumeric => true;

    /// <inheritdoc/>
    public UnitType UnitType => UnitType.Dimensionless;

    /// <inheritdoc/>
    public string Legend => "Floating-point operations per second (2 per multiply-add), in 1e9/s, over the " +
        (fastest ? "fastest iteration's time" : "median time");

    /// <summary>The GFLOP/s of a benchmark case at its median (or fastest) time, or null when unknown or not run.</summary>
    public static double? Gflops(Summary summary, BenchmarkCase benchmark, bool fastest = false)
    {
        double? flops = Flops(benchmark);
        var statistics = summary[benchmark]?.ResultStatistics;
        double? ns = fastest ? statistics?.Min : statistics?.Median;
        return flops is null || ns is null or <= 0 ? null : flops / ns;
    }

    /// <summary>Floating-point operations of one invocation of a kernel benchmark.</summary>
    public static double? Flops(BenchmarkCase benchmark)
    {
        var type = benchmark.Descriptor.Type;
        if (type == typeof(FmaPeakBenchmark))
        {
            return FmaPeakBenchmark.Flops((int)benchmark.Parameters[nameof(FmaPeakBenchmark.Threads)]);
        }

        if (type == typeof(Conv2dBenchmark))
        {
            var layer = (ConvLayer)benchmark.Parameters[nameof(Conv2dBenchmark.Layer)];
            return layer.Flops((int)benchmark.Parameters[nameof(Conv2dBenchmark.Batch)]);
        }

        return null;
    }

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
        Gflops(summary, benchmarkCase, fastest) is double g ? Format(g) : "-";

    /// <summary>One decimal, or three significant digits below 1 (the ILGPU CPU accelerator runs at 0.01–0.1 GFLOP/s).</summary>
    public static string Format(double gflops) =>
        gflops.ToString(gflops >= 1 ? "F1" : "G3", CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    /// <inheritdoc/>
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    /// <inheritdoc/>
    public bool IsAvailable(Summary summary) => true;
}
