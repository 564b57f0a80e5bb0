namespace JointDiffusion.Gpu.Tensors;

/// <summary>
/// A backend-owned block of float32 memory. Each backend derives its own kind (a managed array for the SIMD
/// backend, an ILGPU buffer for the ILGPU backend). Storage is recycled by a <see cref="TensorPool"/>.
/// </summary>
public abstract class DeviceStorage : IDisposable
{
    /// <summary>Creates storage of <paramref name="capacity"/> floats.</summary>
    protected DeviceStorage(int capacity) => Capacity = capacity;

    /// <summary>Number of floats the storage holds.</summary>
    public int Capacity { get; }

    /// <summary>Frees the underlying memory (not a return to the pool).</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the underlying memory.</summary>
    protected abstract void Dispose(bool disposing);
}
