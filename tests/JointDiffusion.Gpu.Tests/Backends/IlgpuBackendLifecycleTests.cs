using System.Diagnostics;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Tests.Backends;

/// <summary>Creating and disposing ILGPU backends (each with its own context, accelerator and worker threads).</summary>
[Collection(nameof(IlgpuLifecycleCollection))]
public sealed class IlgpuBackendLifecycleTests
{
    private const int Cycles = 50;

    [Fact]
    public void CreatingAndDisposingTheIlgpuCpuBackendRepeatedly_NeitherLeaksThreadsNorCrashes()
    {
        Cycle(0); // warm up: the first context JIT-compiles ILGPU itself
        int threadsBefore = Process.GetCurrentProcess().Threads.Count;

        for (int cycle = 1; cycle <= Cycles; cycle++)
        {
            Cycle(cycle);
        }

        // Each CPU accelerator runs 16 simulated GPU threads plus its own; had any cycle kept its accelerator,
        // 50 cycles would leave hundreds of threads. The slack allows for thread-pool growth.
        int threadsAfter = Process.GetCurrentProcess().Threads.Count;
        Assert.True(threadsAfter <= threadsBefore + 16, $"Threads grew from {threadsBefore} to {threadsAfter} over {Cycles} backend lifetimes.");
    }

    /// <summary>One lifetime: allocate, run an op and a reduction, read back; odd cycles dispose the backend before the tensor.</summary>
    private static void Cycle(int cycle)
    {
        var backend = DeviceSelector.Create(DeviceKind.IlgpuCpu);
        var t = backend.Allocate(new Shape(2, 33));
        backend.Fill(t, cycle);
        backend.Affine(t, 2f, 1f, t);
        Assert.Equal(66 * (2f * cycle + 1f), backend.Sum(t));
        if (cycle % 2 == 1)
        {
            backend.Dispose();
            t.Dispose(); // a tensor outliving its backend frees its buffer without complaint
        }
        else
        {
            t.Dispose();
            backend.Dispose();
        }
    }
}
