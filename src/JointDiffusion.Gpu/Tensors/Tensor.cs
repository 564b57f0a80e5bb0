using JointDiffusion.Gpu.Backends;

namespace JointDiffusion.Gpu.Tensors;

/// <summary>
/// A dense float32 tensor (NCHW for images) that lives on one backend. Create with
/// <see cref="ComputeBackend.Allocate(Shape)"/>; disposing returns its storage to the pool it came from (the backend's,
/// or inside <see cref="ComputeBackend.RunConcurrently{TWork}"/> its item's).
/// </summary>
public sealed class Tensor : IDisposable
{
    private DeviceStorage? _storage;

    /// <summary>The pool the storage came from and goes back to.</summary>
    private TensorPool _pool;

    internal Tensor(ComputeBackend backend, Shape shape, DeviceStorage storage, TensorPool pool)
    {
        Backend = backend;
        Shape = shape;
        _storage = storage;
        _pool = pool;
    }

    /// <summary>The backend the data lives on.</summary>
    public ComputeBackend Backend { get; }

    /// <summary>The tensor's dimensions.</summary>
    public Shape Shape { get; private set; }

    /// <summary>Number of elements.</summary>
    public int Length => Shape.Length;

    /// <summary>The backend storage; throws once the tensor is disposed.</summary>
    public DeviceStorage Storage => _storage ?? throw new ObjectDisposedException(nameof(Tensor), $"Tensor {Shape} was already disposed.");

    /// <summary>Whether the tensor has been disposed.</summary>
    public bool IsDisposed => _storage is null;

    /// <summary>Copies the data to a new host array.</summary>
    public float[] ToArray()
    {
        var data = new float[Length];
        Backend.Download(this, data);
        return data;
    }

    /// <summary>Returns the storage to the pool.</summary>
    public void Dispose()
    {
        var s = Interlocked.Exchange(ref _storage, null);
        if (s is not null)
        {
            _pool.Return(s);
        }
    }

    /// <summary>
    /// Gives a disposed tensor new storage and shape, so that an owner that allocates the same tensors over and
    /// over (a <see cref="Autodiff.Tape"/>) reuses the objects instead of allocating new ones.
    /// </summary>
    /// <exception cref="InvalidOperationException">The tensor still holds storage.</exception>
    internal void Reuse(Shape shape, DeviceStorage storage, TensorPool pool)
    {
        if (_storage is not null)
        {
            throw new InvalidOperationException($"Tensor {Shape} is still live; only a disposed tensor can be reused.");
        }

        Shape = shape;
        _storage = storage;
        _pool = pool;
    }

    /// <summary>Shape and backend, for messages.</summary>
    public override string ToString() => $"Tensor{Shape} on {Backend.Name}";
}
