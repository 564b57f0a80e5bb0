using System.Globalization;
using ILGPU;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using JointDiffusion.Gpu.Backends.Ilgpu;
using JointDiffusion.Gpu.Backends.Simd;

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
    /// <remarks>Never throws: a missing CUDA or OpenCL driver simply contributes no devices.</remarks>
    public static IReadOnlyList<DeviceDescription> ListDevices()
    {
        var devices = new List<DeviceDescription> { DescribeSimd() };
        var failures = new List<(DeviceKind Kind, string Message)>();
        try
        {
            // Every CUDA and OpenCL device, not only those ILGPU can use, so that `jointdiff info` can say why not.
            using var context = Context.Create(b => RegisterAll(b, failures));
            foreach (var device in context.Devices)
            {
                var description = Describe(device);
                if (description is not null)
                {
                    devices.Add(description);
                }
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            failures.Add((DeviceKind.IlgpuCpu, $"ILGPU could not start: {e.Message}"));
        }

        if (!devices.Exists(d => d.Kind == DeviceKind.IlgpuCpu))
        {
            string why = string.Join("; ", failures.Select(f => f.Message));
            devices.Add(new DeviceDescription(DeviceKind.IlgpuCpu, "ILGPU CPU accelerator", "not available", false, why));
        }

        foreach (var (kind, message) in failures.Where(f => f.Kind is DeviceKind.Cuda or DeviceKind.OpenCL))
        {
            devices.Add(new DeviceDescription(kind, $"{Name(kind)} driver", "device enumeration failed", false, message));
        }

        return devices;
    }

    /// <summary>The kind <c>auto</c> resolves to on this machine and why.</summary>
    public static (DeviceKind Kind, string Reason) ResolveAuto() => ResolveAuto(ListDevices());

    /// <summary>The auto choice among <paramref name="devices"/>: CUDA, then a usable OpenCL GPU, then the SIMD CPU backend.</summary>
    internal static (DeviceKind Kind, string Reason) ResolveAuto(IReadOnlyList<DeviceDescription> devices)
    {
        var cuda = devices.FirstOrDefault(d => d.Kind == DeviceKind.Cuda && d.Usable);
        if (cuda is not null)
        {
            return (DeviceKind.Cuda, $"CUDA device '{cuda.Name}' found");
        }

        var openCl = devices.FirstOrDefault(d => d.Kind == DeviceKind.OpenCL && d.Usable && IsGpu(d));
        if (openCl is not null)
        {
            return (DeviceKind.OpenCL, $"no usable CUDA device; OpenCL GPU '{openCl.Name}' found");
        }

        return (DeviceKind.Cpu, $"{Absence(devices, DeviceKind.Cuda)}; {Absence(devices, DeviceKind.OpenCL, gpuOnly: true)}; using the SIMD CPU backend");
    }

    /// <summary>Creates the backend for a kind (resolving <c>auto</c>).</summary>
    /// <exception cref="DeviceNotFoundException">When a forced device is not present or not usable.</exception>
    public static ComputeBackend Create(DeviceKind kind) => kind switch
    {
        DeviceKind.Auto => Create(ResolveAuto().Kind),
        DeviceKind.Cpu => new SimdBackend(),
        DeviceKind.IlgpuCpu or DeviceKind.Cuda or DeviceKind.OpenCL => CreateIlgpu(kind),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, $"Unknown device kind. Choose one of {Choices}."),
    };

    private static IlgpuBackend CreateIlgpu(DeviceKind kind)
    {
        Context context;
        try
        {
            context = Context.Create(b => RegisterUsable(IlgpuBackend.ConfigureKernelCompilation(b), kind));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new DeviceNotFoundException($"ILGPU could not start for --device {Name(kind)}: {e.Message}. {Advice}", e);
        }

        var device = PickDevice(context, kind);
        if (device is null)
        {
            context.Dispose();
            throw new DeviceNotFoundException($"--device {Name(kind)} was requested, but {Absence(ListDevices(), kind)}. {Advice}");
        }

        try
        {
            // JOINTDIFF_ILGPU_TILED=0 keeps the direct conv kernels (to time the tiled ones against them on a GPU).
            bool tiled = Environment.GetEnvironmentVariable(IlgpuBackend.TiledVariable) != "0";
            return new IlgpuBackend(context, device, kind, tiled); // disposes the context if it throws
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new DeviceNotFoundException($"--device {Name(kind)}: '{device.Name}' was found but could not be opened: {e.Message}. {Advice}", e);
        }
    }

    private const string Advice = "Use --device cpu for the SIMD CPU backend; `jointdiff info` lists the devices found.";

    /// <summary>Registers ILGPU's CPU accelerator and every CUDA and OpenCL device, usable or not.</summary>
    private static void RegisterAll(Context.Builder builder, List<(DeviceKind Kind, string Message)> failures)
    {
        builder.DefaultCPU();
        TryRegister(() => builder.Cuda(_ => true), DeviceKind.Cuda, failures);
        TryRegister(() => builder.OpenCL(_ => true), DeviceKind.OpenCL, failures);
    }

    /// <summary>Registers only the devices of <paramref name="kind"/> that ILGPU can run on (its default filters).</summary>
    private static void RegisterUsable(Context.Builder builder, DeviceKind kind)
    {
        switch (kind)
        {
            case DeviceKind.IlgpuCpu:
                builder.DefaultCPU();
                break;
            case DeviceKind.Cuda:
                builder.Cuda();
                break;
            default:
                builder.OpenCL();
                break;
        }
    }

    private static void TryRegister(Action register, DeviceKind kind, List<(DeviceKind Kind, string Message)> failures)
    {
        try
        {
            register();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // ILGPU already ignores a missing driver; this catches platform errors (e.g. 32-bit, or a second
            // CUDA context on WSL, where ILGPU 1.5.3 registers its library resolver twice).
            failures.Add((kind, $"{Name(kind)} enumeration failed: {e.Message}"));
        }
    }

    private static Device? PickDevice(Context context, DeviceKind kind) => kind switch
    {
        DeviceKind.IlgpuCpu => context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.CPU),
        DeviceKind.Cuda => context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.Cuda),
        _ => context.Devices.OfType<CLDevice>().OrderBy(d => d.DeviceType.HasFlag(CLDeviceType.CL_DEVICE_TYPE_GPU) ? 0 : 1).FirstOrDefault(),
    };

    private static DeviceDescription DescribeSimd()
    {
        using var simd = new SimdBackend();
        return new DeviceDescription(DeviceKind.Cpu, "SIMD CPU backend", simd.Description, true, null);
    }

    private static DeviceDescription? Describe(Device device) => device switch
    {
        CPUDevice cpu => new DeviceDescription(DeviceKind.IlgpuCpu, "ILGPU CPU accelerator",
            Invariant($"simulates groups of {cpu.MaxNumThreadsPerGroup} threads on the CPU; very slow, for tests"), true, null),
        CudaDevice cuda => DescribeCuda(cuda),
        CLDevice cl => DescribeOpenCl(cl),
        _ => null,
    };

    private static DeviceDescription DescribeCuda(CudaDevice d)
    {
        string details = Invariant($"{Gib(d.MemorySize)} GiB, {d.NumMultiprocessors} SMs, compute capability {d.Architecture?.ToString() ?? "unknown"}, {d.ClockRate / 1000} MHz, driver {d.DriverVersion}");
        bool usable = d.Architecture.HasValue && d.InstructionSet.HasValue && PTXCodeGenerator.SupportedInstructionSets.Contains(d.InstructionSet.Value);
        string? whyNot = usable ? null
            : $"ILGPU 1.5.3 cannot generate PTX for compute capability {d.Architecture?.ToString() ?? "unknown"} with CUDA driver {d.DriverVersion}";
        return new DeviceDescription(DeviceKind.Cuda, d.Name, details, usable, whyNot);
    }

    private static DeviceDescription DescribeOpenCl(CLDevice d)
    {
        string type = d.DeviceType.HasFlag(CLDeviceType.CL_DEVICE_TYPE_GPU) ? "GPU" : d.DeviceType.HasFlag(CLDeviceType.CL_DEVICE_TYPE_CPU) ? "CPU" : "other";
        string details = Invariant($"{type}, platform '{d.PlatformName}', {Gib(d.MemorySize)} GiB, {d.NumMultiprocessors} compute units, {d.DeviceVersion}, OpenCL C {d.CLStdVersion}");
        var missing = new List<string>();
        if (d.CLStdVersion < CLBackend.MinimumVersion)
        {
            missing.Add($"OpenCL C {d.CLStdVersion} is older than the {CLBackend.MinimumVersion} ILGPU needs");
        }

        if (!d.Capabilities.GenericAddressSpace)
        {
            missing.Add("it lacks the generic address space ILGPU needs (as Debian's PoCL does)");
        }

        return new DeviceDescription(DeviceKind.OpenCL, d.Name, details, missing.Count == 0, missing.Count == 0 ? null : string.Join("; ", missing));
    }

    /// <summary>Whether an OpenCL device is a GPU: <see cref="DescribeOpenCl"/> starts its details with the device type.</summary>
    private static bool IsGpu(DeviceDescription d) => d.Details.StartsWith("GPU", StringComparison.Ordinal);

    /// <summary>Says why no usable device of <paramref name="kind"/> is there: none found, or which ones and why not.</summary>
    private static string Absence(IReadOnlyList<DeviceDescription> devices, DeviceKind kind, bool gpuOnly = false)
    {
        string what = kind switch
        {
            DeviceKind.Cuda => "CUDA device",
            DeviceKind.OpenCL => gpuOnly ? "OpenCL GPU" : "OpenCL device",
            _ => "ILGPU CPU accelerator",
        };
        var found = devices.Where(d => d.Kind == kind && (!gpuOnly || IsGpu(d))).ToList();
        if (found.Count == 0)
        {
            return kind == DeviceKind.Cuda
                ? "no CUDA device was found (no NVIDIA driver, or it reports no GPU)"
                : $"no {what} was found" + (kind == DeviceKind.OpenCL ? " (no OpenCL driver, or it reports no such device)" : string.Empty);
        }

        return $"no usable {what}: " + string.Join("; ", found.Select(d => d.Usable ? $"'{d.Name}' could not be opened" : $"'{d.Name}' is not usable: {d.WhyNot}"));
    }

    private static string Gib(long bytes) => (bytes / (1024.0 * 1024 * 1024)).ToString("F1", CultureInfo.InvariantCulture);

    private static string Invariant(FormattableString text) => FormattableString.Invariant(text);
}
