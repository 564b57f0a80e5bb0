using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Backends.Simd;

namespace JointDiffusion.Benchmarks;

/// <summary>Backends by their <c>--device</c> name, as the benchmarks' <c>Device</c> parameter spells them, plus <see cref="DirectCpu"/>.</summary>
public static class BenchmarkBackends
{
    /// <summary>The SIMD backend with its direct conv kernels only ("cpu" uses Winograd for wide 3x3 convs).</summary>
    public const string DirectCpu = "cpu-direct";

    private static readonly Lazy<bool> IlgpuCpuAvailable = new(() => TryCreate("ilgpu-cpu"));

    /// <summary>
    /// The backend for <paramref name="device"/> from <see cref="DeviceSelector"/>; while the selector is not
    /// written yet, the SIMD backend for "cpu" is built directly.
    /// </summary>
    public static ComputeBackend Create(string device)
    {
        if (device == DirectCpu)
        {
            return new SimdBackend(winograd: false);
        }

        var kind = DeviceSelector.Parse(device);
        try
        {
            return DeviceSelector.Create(kind);
        }
        catch (NotImplementedException) when (kind == DeviceKind.Cpu)
        {
            return new SimdBackend();
        }
    }

    /// <summary>Whether <paramref name="device"/> can be created on this machine (checked once per process).</summary>
    public static bool IsAvailable(string device) => device != "ilgpu-cpu" || IlgpuCpuAvailable.Value;

    private static bool TryCreate(string device)
    {
        try
        {
            using var backend = Create(device);
            return true;
        }
        catch (Exception e) when (e is NotImplementedException or DeviceNotFoundException or PlatformNotSupportedException)
        {
            return false;
        }
    }
}
