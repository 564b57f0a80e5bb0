namespace JointDiffusion.Gpu.Tests.Perf;

/// <summary>
/// Tests that count managed allocations. They run alone (no other test class in parallel), so that
/// <see cref="GC.GetTotalAllocatedBytes(bool)"/> sees only their own work.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PerfCollection
{
    /// <summary>The collection name for <c>[Collection]</c>.</summary>
    public const string Name = "Perf (alone)";
}
