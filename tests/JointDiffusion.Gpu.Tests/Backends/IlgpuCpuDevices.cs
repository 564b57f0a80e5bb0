using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Backends.Ilgpu;

namespace JointDiffusion.Gpu.Tests.Backends;

/// <summary>
/// ILGPU CPU accelerators shaped like different GPUs (warp size × warps per group), for kernels launched by
/// hand, and ILGPU backends on them; each is created on first use and disposed with the fixture.
/// </summary>
public sealed class IlgpuCpuDevices : IDisposable
{
    /// <summary>ILGPU's default CPU device (the one <c>ilgpu-cpu</c> uses): warp 4, 4 warps, 16 threads per group.</summary>
    public const string Warp4By4 = "warp4x4";

    /// <summary>Warp 4, 16 warps: 64 threads per group (32 × 32 convolution tiles).</summary>
    public const string Warp4By16 = "warp4x16";

    /// <summary>Warp 8, 4 warps: 32 threads per group.</summary>
    public const string Warp8By4 = "warp8x4";

    /// <summary>Warp 2, 8 warps: a 16-thread group has more warps than a warp has lanes (the tree path).</summary>
    public const string Warp2By8 = "warp2x8";

    private readonly Dictionary<string, Lazy<(Context Context, Accelerator Accelerator)>> _accelerators = new();
    private readonly Dictionary<(string, bool), Lazy<IlgpuBackend>> _backends = new();

    /// <summary>Registers every device shape.</summary>
    public IlgpuCpuDevices()
    {
        foreach (var name in new[] { Warp4By4, Warp4By16, Warp8By4, Warp2By8 })
        {
            _accelerators[name] = new(() =>
            {
                var context = Context.Create(b => IlgpuBackend.ConfigureKernelCompilation(b).CPU(Device(name)));
                return (context, context.CreateCPUAccelerator(0));
            });
            foreach (bool tiled in new[] { true, false })
            {
                _backends[(name, tiled)] = new(() =>
                {
                    var context = Context.Create(b => IlgpuBackend.ConfigureKernelCompilation(b).CPU(Device(name)));
                    return new IlgpuBackend(context, context.GetCPUDevice(0), DeviceKind.IlgpuCpu, tiled);
                });
            }
        }
    }

    /// <summary>Warp size and warps per group of a named device.</summary>
    public static CPUDevice Device(string name) => name switch
    {
        Warp4By4 => new CPUDevice(4, 4, 1),
        Warp4By16 => new CPUDevice(4, 16, 1),
        Warp8By4 => new CPUDevice(8, 4, 1),
        Warp2By8 => new CPUDevice(2, 8, 1),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "Unknown test device."),
    };

    /// <summary>A bare accelerator of the named shape, for kernels launched by hand.</summary>
    public Accelerator Accelerator(string name) => _accelerators[name].Value.Accelerator;

    /// <summary>An ILGPU backend on the named device, with the tiled convolution kernels or the direct ones.</summary>
    public IlgpuBackend Backend(string name, bool tiled) => _backends[(name, tiled)].Value;

    /// <summary>Disposes what was created.</summary>
    public void Dispose()
    {
        foreach (var backend in _backends.Values.Where(b => b.IsValueCreated))
        {
            backend.Value.Dispose();
        }

        foreach (var entry in _accelerators.Values.Where(a => a.IsValueCreated))
        {
            entry.Value.Accelerator.Dispose();
            entry.Value.Context.Dispose();
        }
    }
}
