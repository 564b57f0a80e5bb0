using System.Buffers;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Backends;

/// <summary>
/// The memory of one item of <see cref="ComputeBackend.RunConcurrently{TWork}"/>: its tensor pool and its kernel
/// scratch, used by whatever thread runs the item while it runs (<see cref="Current"/>).
/// </summary>
internal sealed class ConcurrentItemPools(ComputeBackend backend, TensorPool tensors)
{
    /// <summary>Largest scratch array kept, as the process-wide scratch pools.</summary>
    private const int MaxLength = 1 << 30;

    /// <summary>Arrays kept per size: an item runs on one thread, a few arrays of a size at a time.</summary>
    private const int PerBucket = 16;

    [ThreadStatic]
    private static ConcurrentItemPools? t_current;

    /// <summary>The pools of the item running on this thread, or null outside one.</summary>
    public static ConcurrentItemPools? Current => t_current;

    /// <summary>The backend whose item this is.</summary>
    public ComputeBackend Backend { get; } = backend;

    /// <summary>Tensor storage of the item.</summary>
    public TensorPool Tensors { get; } = tensors;

    /// <summary>Float scratch of the item's kernels.</summary>
    public ArrayPool<float> Floats { get; } = ArrayPool<float>.Create(MaxLength, PerBucket);

    /// <summary>Int scratch of the item's kernels.</summary>
    public ArrayPool<int> Ints { get; } = ArrayPool<int>.Create(MaxLength, PerBucket);

    /// <summary>Double scratch of the item's kernels.</summary>
    public ArrayPool<double> Doubles { get; } = ArrayPool<double>.Create(MaxLength, PerBucket);

    /// <summary>Makes these the current thread's pools until the returned scope is disposed.</summary>
    public Scope Enter() => new(this);

    /// <summary>Restores the thread's previous pools when disposed.</summary>
    public readonly ref struct Scope
    {
        private readonly ConcurrentItemPools? _previous;

        public Scope(ConcurrentItemPools pools)
        {
            _previous = t_current;
            t_current = pools;
        }

        public void Dispose() => t_current = _previous;
    }
}
