using ILGPU;
using ILGPU.Runtime;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Backends.Ilgpu;

/// <summary>Storage of the ILGPU backend: a dense device buffer of floats.</summary>
internal sealed class IlgpuStorage : DeviceStorage
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _buffer;

    public IlgpuStorage(Accelerator accelerator, int length) : base(length) =>
        _buffer = accelerator.Allocate1D<float>(length);

    /// <summary>The first <paramref name="length"/> floats, as kernels take them.</summary>
    public ArrayView<float> View(int length) => _buffer.View.SubView(0, length);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _buffer.Dispose();
        }
    }
}
