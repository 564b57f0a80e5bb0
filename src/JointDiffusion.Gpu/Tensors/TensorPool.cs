namespace JointDiffusion.Gpu.Tensors;

/// <summary>
/// Recycles device storage by exact element count, so that a loop which allocates and disposes tensors of
/// the same shapes every step (a sampler, a trainer) allocates device memory only on its first iteration.
/// Thread-safe.
/// </summary>
public sealed class TensorPool : IDisposable
{
    private readonly Dictionary<int, Stack<DeviceStorage>> _free = [];
    private readonly Func<int, DeviceStorage> _create;
    private readonly Lock _lock = new();
    private bool _disposed;

    /// <summary>Creates a pool that makes new storage with <paramref name="create"/>.</summary>
    public TensorPool(Func<int, DeviceStorage> create) => _create = create;

    /// <summary>Bytes of storage created by this pool so far (live or free).</summary>
    public long BytesCreated { get; private set; }

    /// <summary>Bytes currently rented out.</summary>
    public long BytesInUse { get; private set; }

    /// <summary>Largest value <see cref="BytesInUse"/> has reached.</summary>
    public long PeakBytesInUse { get; private set; }

    /// <summary>Takes storage of exactly <paramref name="length"/> floats, creating it when none is free.</summary>
    public DeviceStorage Rent(int length)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            BytesInUse += 4L * length;
            PeakBytesInUse = Math.Max(PeakBytesInUse, BytesInUse);
            if (_free.TryGetValue(length, out var stack) && stack.Count > 0)
            {
                return stack.Pop();
            }
        }

        var storage = _create(length);
        lock (_lock)
        {
            BytesCreated += 4L * length;
        }

        return storage;
    }

    /// <summary>Gives storage back for reuse.</summary>
    public void Return(DeviceStorage storage)
    {
        lock (_lock)
        {
            BytesInUse -= 4L * storage.Capacity;
            if (_disposed)
            {
                storage.Dispose();
                return;
            }

            if (!_free.TryGetValue(storage.Capacity, out var stack))
            {
                stack = new Stack<DeviceStorage>();
                _free[storage.Capacity] = stack;
            }

            stack.Push(storage);
        }
    }

    /// <summary>Frees all storage that is not rented out (e.g. after an out-of-memory error).</summary>
    public void Trim()
    {
        lock (_lock)
        {
            foreach (var stack in _free.Values)
            {
                while (stack.Count > 0)
                {
                    var s = stack.Pop();
                    BytesCreated -= 4L * s.Capacity;
                    s.Dispose();
                }
            }
        }
    }

    /// <summary>Frees every free storage block; blocks still rented are freed when returned.</summary>
    public void Dispose()
    {
        Trim();
        lock (_lock)
        {
            _disposed = true;
        }
    }
}
