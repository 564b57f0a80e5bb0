using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Backends.Simd;

namespace JointDiffusion.Gpu.Tests.Backends;

/// <summary>
/// One SIMD backend and one ILGPU backend shared by a test class, so that the ILGPU context is created and
/// its kernels compiled once per class rather than once per test. The ILGPU side runs on ILGPU's CPU
/// accelerator unless the environment variable <c>JOINTDIFF_TEST_ILGPU_DEVICE</c> names another
/// <c>--device</c> (<c>cuda</c> or <c>opencl</c>), which lets a GPU machine run the same comparisons.
/// </summary>
public sealed class BackendPairFixture : IDisposable
{
    /// <summary>The environment variable that moves the ILGPU side to another device.</summary>
    public const string DeviceVariable = "JOINTDIFF_TEST_ILGPU_DEVICE";

    /// <summary>Creates both backends.</summary>
    public BackendPairFixture()
    {
        Simd = new SimdBackend();
        string? device = Environment.GetEnvironmentVariable(DeviceVariable);
        Ilgpu = DeviceSelector.Create(string.IsNullOrWhiteSpace(device) ? DeviceKind.IlgpuCpu : DeviceSelector.Parse(device));
    }

    /// <summary>The hand-written SIMD CPU backend (the reference side of the comparisons).</summary>
    public ComputeBackend Simd { get; }

    /// <summary>The ILGPU backend (ILGPU's CPU accelerator by default).</summary>
    public ComputeBackend Ilgpu { get; }

    /// <summary>Disposes both backends.</summary>
    public void Dispose()
    {
        Ilgpu.Dispose();
        Simd.Dispose();
    }
}
