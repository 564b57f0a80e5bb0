using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace JointDiffusion.Benchmarks;

/// <summary>
/// GFLOP/s = floating-point operations of one invocation / median time. The median, not the mean: on a
/// shared machine a few preempted iterations would drag the mean far below what the kernel does.
/// </summary>
public sealed class GflopsColumn : IColumn
{
    /// <inheritdoc/>
    public string Id => nameof(GflopsColumn);

    /// <inheritdoc/>
    public string ColumnName => "GFLOP/s";

    /// <inheritdoc/>
    public bool AlwaysShow => true;

    /// <inheritdoc/>
    public ColumnCategory Category => ColumnCategory.Custom;

    /// <inheritdoc/>
    public int PriorityInCategory => 0;

    /// <inheritdoc/>
    public bool IsNumeric => true;

    /// <inheritdoc/>
    public UnitType UnitType => UnitType.Dimensionless;

    /// <inheritdoc/>
    public string Legend => "Floating-point operations per second (2 per multiply-add) over the median time, in 1e9/s";

    /// <summary>The GFLOP/s of a benchmark case in a summary, or null when unknown or not run.</summary>
    public static double? Gflops(Summary summary, BenchmarkCase benchmark)
    {
        double? flops = Flops(benchmark);
        double? medianNs = summary[benchmark]?.ResultStatistics?.Median;
        return flops is null || medianNs is null or <= 0 ? null : flops / medianNs;
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
        Gflops(summary, benchmarkCase) is double g ? g.ToString("F1", System.Globalization.CultureInfo.InvariantCulture) : "-";

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    /// <inheritdoc/>
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    /// <inheritdoc/>
    public bool IsAvailable(Summary summary) => true;
}
