namespace JointDiffusion.Gpu.Tests.Backends;

/// <summary>
/// The collection of <see cref="IlgpuBackendLifecycleTests"/>: it runs alone, so that the process thread
/// count it watches is not moved by other tests' accelerators.
/// </summary>
[CollectionDefinition(nameof(IlgpuLifecycleCollection), DisableParallelization = true)]
public sealed class IlgpuLifecycleCollection;
