namespace JointDiffusion.Gpu.Backends;

/// <summary>Per-op call counts and wall time, filled by a backend whose <see cref="ComputeBackend.Profiler"/> is set.</summary>
public sealed class OpProfiler
{
    private readonly Dictionary<string, (int Calls, TimeSpan Time)> _ops = [];
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

    /// <summary>Forgets everything recorded.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _ops.Clear();
        }
    }
}
