using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Backends.Simd;

namespace JointDiffusion.Gpu.Tests.Backends;

/// <summary>
/// One SIMD backend and one ILGPU CPU-accelerator backend shared by a test class, so that the ILGPU
/// context is created and its kernels compiled once per class rather than once per test.
/// </summary>
public sealed class BackendPairFixture : IDisposable
{
    /// <summary>Creates both backends.</summary>
    public BackendPairFixture()
    {
        Simd = new SimdBackend();
        Ilgpu = DeviceSelector.Create(DeviceKind.IlgpuCpu);
    }

    /// <summary>The hand-written SIMD CPU backend (the reference side of the comparisons).</summary>
    public ComputeBackend Simd { get; }

    /// <summary>The ILGPU backend on ILGPU's CPU accelerator.</summary>
    public ComputeBackend Ilgpu { get; }

    /// <summary>Disposes both backends.</summary>
    public void Dispose()
    {
        Ilgpu.Dispose();
        Simd.Dispose();
    }
}
