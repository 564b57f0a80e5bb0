namespace JointDiffusion.Gpu.Backends;

/// <summary>
/// The one place that maps <c>--device auto|cpu|ilgpu-cpu|cuda|opencl</c> to a backend: parsing, listing
/// the devices present, the auto choice (CUDA, then OpenCL, then the SIMD CPU backend) and a clear error
/// when a forced device is absent.
/// </summary>
public static class DeviceSelector
{
    /// <summary>The accepted spellings of <c>--device</c>.</summary>
    public const string Choices = "auto|cpu|ilgpu-cpu|cuda|opencl";

    /// <summary>Parses a <c>--device</c> value.</summary>
    /// <exception cref="ArgumentException">For an unknown name; the message lists the choices.</exception>
    public static DeviceKind Parse(string text) => text?.Trim().ToLowerInvariant() switch
    {
        "auto" => DeviceKind.Auto,
        "cpu" or "simd" => DeviceKind.Cpu,
        "ilgpu-cpu" => DeviceKind.IlgpuCpu,
        "cuda" => DeviceKind.Cuda,
        "opencl" => DeviceKind.OpenCL,
        _ => throw new ArgumentException($"Unknown device '{text}'. Choose one of {Choices}."),
    };

    /// <summary>The <c>--device</c> spelling of a kind.</summary>
    public static string Name(DeviceKind kind) => kind switch
    {
        DeviceKind.Auto => "auto",
        DeviceKind.Cpu => "cpu",
        DeviceKind.IlgpuCpu => "ilgpu-cpu",
        DeviceKind.Cuda => "cuda",
        DeviceKind.OpenCL => "opencl",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Every device found on this machine, usable or not, with the reason when not.</summary>
    public static IReadOnlyList<DeviceDescription> ListDevices() => throw new NotImplementedException();

    /// <summary>The kind <c>auto</c> resolves to on this machine and why.</summary>
    public static (DeviceKind Kind, string Reason) ResolveAuto() => throw new NotImplementedException();

    /// <summary>Creates the backend for a kind (resolving <c>auto</c>).</summary>
    /// <exception cref="DeviceNotFoundException">When a forced device is not present or not usable.</exception>
    public static ComputeBackend Create(DeviceKind kind) => throw new NotImplementedException();
}
