using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace JointDiffusion.Benchmarks;

/// <summary>
/// GFLOP/s as a percentage of the FMA peak measured in the same run (<see cref="FmaPeakBenchmark"/>): the
/// one-thread peak for the one-core job, the most-threads peak of the all-cores job otherwise. Both from their
/// fastest iterations: the peak and the kernel run minutes apart, and on a shared machine the load then differs,
/// so medians would compare two different machines; the fastest iterations both approach the idle machine.
/// </summary>
public sealed class PeakFractionColumn : IColumn
{
    /// <inheritdoc/>
    public string Id => nameof(PeakFractionColumn);

    /// <inheritdoc/>
    public string ColumnName => "% of FMA peak (fastest)";

    /// <inheritdoc/>
    public bool AlwaysShow => true;

    /// <inheritdoc/>
    public ColumnCategory Category => ColumnCategory.Custom;

    /// <inheritdoc/>
    public int PriorityInCategory => 3;

    /// <inheritdoc/>
    public bool IsNumeric => true;

    /// <inheritdoc/>
    public UnitType UnitType => UnitType.Dimensionless;

    /// <inheritdoc/>
    public string Legend => "Fastest-iteration GFLOP/s over the fastest-iteration FmaPeakBenchmark GFLOP/s of the same run and core count";

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        string job = benchmarkCase.Job.Id == KernelBenchmarkConfig.OneCoreJob ? KernelBenchmarkConfig.OneCoreJob : KernelBenchmarkConfig.AllCoresJob;
        var peakCase = summary.BenchmarksCases
            .Where(b => b.Descriptor.Type == typeof(FmaPeakBenchmark) && b.Job.Id == job)
            .OrderByDescending(b => (int)b.Parameters[nameof(FmaPeakBenchmark.Threads)])
            .FirstOrDefault();
        double? peak = peakCase is null ? null : GflopsColumn.Gflops(summary, peakCase, fastest: true);
        double? gflops = GflopsColumn.Gflops(summary, benchmarkCase, fastest: true);
        return peak is null || gflops is null ? "-" : (100 * gflops.Value / peak.Value).ToString("F0", System.Globalization.CultureInfo.InvariantCulture) + "%";
    }

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    /// <inheritdoc/>
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    /// <inheritdoc/>
    public bool IsAvailable(Summary summary) => true;
}
