namespace JointDiffusion.Gpu.Backends;

/// <summary>Per-op call counts and wall time, filled by a backend whose <see cref="ComputeBackend.Profiler"/> is set.</summary>
public sealed class OpProfiler
{
    private readonly Dictionary<string, (int Calls, TimeSpan Time)> _ops = [];
    private readonly Dictionary<string, (int Calls, TimeSpan Time)> _details = [];
    private readonly Lock _lock = new();

    /// <summary>Adds one call of <paramref name="op"/> taking <paramref name="elapsed"/>.</summary>
    public void Add(string op, TimeSpan elapsed)
    {
        lock (_lock)
        {
            _ops.TryGetValue(op, out var e);
            _ops[op] = (e.Calls + 1, e.Time + elapsed);
        }
    }

    /// <summary>
    /// Adds one call under a finer key (a convolution's layer shape, say) kept apart from <see cref="Add"/>'s totals,
    /// which already count the call.
    /// </summary>
    public void AddDetail(string detail, TimeSpan elapsed)
    {
        lock (_lock)
        {
            _details.TryGetValue(detail, out var e);
            _details[detail] = (e.Calls + 1, e.Time + elapsed);
        }
    }

    /// <summary>Number of calls of <paramref name="op"/> so far (0 if never called).</summary>
    public int Calls(string op)
    {
        lock (_lock)
        {
            return _ops.TryGetValue(op, out var e) ? e.Calls : 0;
        }
    }

    /// <summary>A snapshot of every op, slowest first.</summary>
    public IReadOnlyList<(string Op, int Calls, TimeSpan Time)> Snapshot()
    {
        lock (_lock)
        {
            return [.. _ops.Select(kv => (kv.Key, kv.Value.Calls, kv.Value.Time)).OrderByDescending(e => e.Item3)];
        }
    }

    /// <summary>A snapshot of the finer keys of <see cref="AddDetail"/>, slowest first.</summary>
    public IReadOnlyList<(string Detail, int Calls, TimeSpan Time)> DetailSnapshot()
    {
        lock (_lock)
        {
            return [.. _details.Select(kv => (kv.Key, kv.Value.Calls, kv.Value.Time)).OrderByDescending(e => e.Item3)];
        }
    }

    /// <summary>Forgets everything recorded.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _ops.Clear();
            _details.Clear();
        }
    }
}
