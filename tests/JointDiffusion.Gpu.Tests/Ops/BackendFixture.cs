using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Backends.Simd;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>
/// Creates each backend under test once, on first use, and disposes them at the end of the collection: one
/// ILGPU context (and CPU accelerator) for the whole op suite. A backend that fails to construct makes only
/// the tests that ask for it fail, each with the construction error.
/// </summary>
public sealed class BackendFixture : IDisposable
{
    /// <summary>
    /// The hand-written SIMD CPU backend with its direct convolution kernels, whose rounding the op tests bound tightly;
    /// the Winograd convolutions (the default) have their own tests and tolerances in <see cref="SimdWinogradTests"/>.
    /// </summary>
    public const string Simd = "simd";

    /// <summary>The ILGPU backend on ILGPU's CPU accelerator (a slow simulator: tiny shapes only).</summary>
    public const string IlgpuCpu = "ilgpu-cpu";

    private readonly Dictionary<string, Lazy<ComputeBackend>> _backends = new()
    {
        [Simd] = new(() => new SimdBackend(winograd: false)),
        [IlgpuCpu] = new(() => DeviceSelector.Create(DeviceKind.IlgpuCpu)),
    };

    /// <summary>Every backend name, for [Theory] data.</summary>
    public static TheoryData<string> Names => new(Simd, IlgpuCpu);

    /// <summary>The backend called <paramref name="name"/>, created on first call.</summary>
    public ComputeBackend Get(string name) => _backends[name].Value;

    /// <summary>Disposes the backends that were created.</summary>
    public void Dispose()
    {
        foreach (var backend in _backends.Values.Where(b => b.IsValueCreated))
        {
            backend.Value.Dispose();
        }
    }
}
