using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>Storage of the SIMD CPU backend: a managed float array of exactly the tensor's length.</summary>
internal sealed class SimdStorage : DeviceStorage
{
    public SimdStorage(int length) : base(length) => Data = new float[length];

    /// <summary>The data, NCHW row-major.</summary>
    public float[] Data { get; }

    protected override void Dispose(bool disposing)
    {
    }
}
