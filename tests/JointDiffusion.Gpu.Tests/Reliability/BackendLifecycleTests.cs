using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Backends.Ilgpu;
using JointDiffusion.Gpu.Backends.Simd;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Tests.Reliability;

/// <summary>
/// Create/use/dispose cycles of each CPU backend leave nothing behind: 1000 of the SIMD backend, 1000 of the ILGPU
/// context + CPU accelerator + buffers that an ILGPU backend owns, and 50 of the whole ILGPU backend (whose
/// creation compiles every kernel, a third of a second each on ILGPU's CPU accelerator; JOINTDIFF_LIFECYCLE_CYCLES
/// sets the count, e.g. 1000). Each cycle writes a buffer large enough that one leaked buffer per cycle grows memory
/// by 400-500 MiB, a leaked accelerator the thread count by hundreds, a leaked context or driver handle the
/// descriptors by hundreds; the allowances are a fraction of that. <see cref="LeakedBuffers_AreSeenByTheProbe"/>
/// shows that the probe does see such a leak.
/// </summary>
[Collection(nameof(LifecycleCollection))]
public sealed class BackendLifecycleTests
{
    private const int Cycles = 1000;

    // Whole ILGPU backends: 50 by default, or JOINTDIFF_LIFECYCLE_CYCLES.
    private static readonly int BackendCycles = int.TryParse(Environment.GetEnvironmentVariable("JOINTDIFF_LIFECYCLE_CYCLES"), out int n) && n > 0 ? n : 50;

    // 2 Mi floats = 8 MiB per whole-backend cycle: 50 leaked buffers would be 400 MiB.
    private static readonly Shape Huge = new(8, 512, 512);

    // 128 Ki floats = 512 KiB per cycle: 1000 leaked buffers would be 500 MiB.
    private static readonly Shape Big = new(2, 256, 256);

    // Allowances: far below what 1000 leaked buffers, accelerators or handles would add, far above the noise of a
    // GC heap, the JIT and the thread pool. Threads: the pool grows by a few under load.
    private const long ManagedAllowance = 32L << 20;
    private const long ResidentAllowance = 160L << 20;
    private const int ThreadAllowance = 16;
    private const int DescriptorAllowance = 32;

    [Fact]
    public void SimdBackend_1000CreateUseDisposeCycles_LeaveNothingBehind()
    {
        SimdCycle(0);
        var before = LeakProbe.Measure();
        for (int cycle = 1; cycle <= Cycles; cycle++)
        {
            SimdCycle(cycle);
        }

        LeakProbe.Measure().AssertGrowthWithin(before, ManagedAllowance, ResidentAllowance, ThreadAllowance, DescriptorAllowance,
            $"{Cycles} SIMD backend lifetimes");
    }

    /// <summary>
    /// What an ILGPU backend owns, without compiling kernels: a context configured as the backend's, the CPU
    /// accelerator with its worker threads, and a device buffer written and read back.
    /// </summary>
    [Fact]
    public void IlgpuContextAcceleratorAndBuffer_1000Cycles_LeaveNothingBehind()
    {
        var host = new float[Big.Length];
        IlgpuRawCycle(host, 0);
        var before = LeakProbe.Measure();
        for (int cycle = 1; cycle <= Cycles; cycle++)
        {
            IlgpuRawCycle(host, cycle);
        }

        LeakProbe.Measure().AssertGrowthWithin(before, ManagedAllowance, ResidentAllowance, ThreadAllowance, DescriptorAllowance,
            $"{Cycles} ILGPU context, CPU accelerator and buffer lifetimes");
    }

    /// <summary>
    /// The whole ILGPU backend on its CPU accelerator: context, accelerator, every kernel loaded, pool and
    /// buffers; odd cycles dispose the backend before their tensors.
    /// </summary>
    [Fact]
    public void IlgpuCpuBackend_CreateUseDisposeCycles_LeaveNothingBehind()
    {
        IlgpuCycle(0);
        var before = LeakProbe.Measure();
        for (int cycle = 1; cycle <= BackendCycles; cycle++)
        {
            IlgpuCycle(cycle);
        }

        LeakProbe.Measure().AssertGrowthWithin(before, ManagedAllowance, ResidentAllowance, ThreadAllowance, DescriptorAllowance,
            $"{BackendCycles} ILGPU CPU backend lifetimes");
    }

    /// <summary>
    /// The control: the probe does see leaks of the size the tests above allow for. 400 ILGPU buffers of 512 KiB
    /// kept (rented, never disposed) grow native resident memory by 200 MiB (less what the C allocator had cached
    /// from earlier frees), 200 SIMD ones live managed memory by 100 MiB; each is reported against the allowances.
    /// </summary>
    [Fact]
    public void LeakedBuffers_AreSeenByTheProbe()
    {
        using var ilgpu = DeviceSelector.Create(DeviceKind.IlgpuCpu);
        using var simd = new SimdBackend();
        var kept = new List<Tensor>();
        try
        {
            var before = LeakProbe.Measure();
            for (int i = 0; i < 400; i++)
            {
                kept.Add(ilgpu.FromHost(new float[Big.Length], Big));
            }

            var afterNative = LeakProbe.Measure();
            var native = Assert.Throws<Xunit.Sdk.TrueException>(() =>
                afterNative.AssertGrowthWithin(before, ManagedAllowance, ResidentAllowance / 2, ThreadAllowance, DescriptorAllowance, "native control"));
            Assert.Contains("native resident memory grew", native.Message);

            for (int i = 0; i < 200; i++)
            {
                kept.Add(simd.FromHost(new float[Big.Length], Big));
            }

            var managed = Assert.Throws<Xunit.Sdk.TrueException>(() =>
                LeakProbe.Measure().AssertGrowthWithin(afterNative, ManagedAllowance, long.MaxValue, ThreadAllowance, DescriptorAllowance, "managed control"));
            Assert.Contains("live managed memory grew", managed.Message);
        }
        finally
        {
            kept.ForEach(t => t.Dispose());
        }
    }

    private static void SimdCycle(int cycle)
    {
        using var backend = new SimdBackend();
        Use(backend, cycle, disposeBackendFirst: false, Big);
    }

    private static void IlgpuRawCycle(float[] host, int cycle)
    {
        using var context = Context.Create(builder => IlgpuBackend.ConfigureKernelCompilation(builder.DefaultCPU()));
        using var accelerator = context.GetCPUDevice(0).CreateAccelerator(context);
        using var buffer = accelerator.Allocate1D<float>(host.Length);
        host[^1] = cycle;
        buffer.View.CopyFromCPU(host);
        var back = new float[1];
        buffer.View.SubView(host.Length - 1, 1).CopyToCPU(back);
        Assert.Equal(cycle, back[0]);
    }

    private static void IlgpuCycle(int cycle)
    {
        var backend = DeviceSelector.Create(DeviceKind.IlgpuCpu);
        try
        {
            Use(backend, cycle, disposeBackendFirst: cycle % 2 == 1, Huge);
        }
        finally
        {
            backend.Dispose();
        }
    }

    /// <summary>
    /// One lifetime's work: a 512 KiB tensor written and read back (copies, which make its pages resident), and
    /// on a small tensor a fill, an elementwise op and a reduction (kernels, and pooled scratch). The big tensor is
    /// not given to kernels: ILGPU's CPU accelerator simulates every GPU thread, too slowly for 1000 × 128 Ki elements.
    /// </summary>
    private static void Use(ComputeBackend backend, int cycle, bool disposeBackendFirst, Shape shape)
    {
        var host = new float[shape.Length];
        host.AsSpan().Fill(cycle);
        var big = backend.FromHost(host, shape);
        Assert.Equal(cycle, big.ToArray()[shape.Length - 1]);
        var small = backend.Allocate(new Shape(2, 33));
        backend.Fill(small, 1f);
        backend.Affine(small, 2f, cycle, small);
        Assert.Equal(66 * (2f + cycle), backend.Sum(small));
        if (disposeBackendFirst)
        {
            backend.Dispose();
        }

        big.Dispose();
        small.Dispose();
    }
}

/// <summary>
/// The lifecycle tests run alone: the process-wide thread, memory and descriptor counts they watch must not be
/// moved by other tests' backends.
/// </summary>
[CollectionDefinition(nameof(LifecycleCollection), DisableParallelization = true)]
public sealed class LifecycleCollection;
