using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>One work item of a parallel loop: a struct holding the loop's arguments, so that starting a loop allocates nothing.</summary>
internal interface IParallelBody
{
    /// <summary>Runs item <paramref name="index"/> (0 ≤ index &lt; the loop's count). Items may run on any thread, in any order.</summary>
    void Run(int index);
}

/// <summary>A <see cref="ComputeBackend.RunConcurrently{TWork}"/> work set as a parallel loop body: item i runs with pools[i].</summary>
internal readonly struct ConcurrentItems<TWork>(TWork work, ConcurrentItemPools[] pools) : IParallelBody
    where TWork : struct, IConcurrentWork
{
    public void Run(int index)
    {
        using var scope = pools[index].Enter();
        work.Run(index);
    }
}

/// <summary>
/// The SIMD backend's parallel loops: <see cref="Environment.ProcessorCount"/> − 1 dedicated background threads
/// that, with the calling thread, take a loop's items one at a time. Unlike <see cref="Parallel.For(int, int, Action{int})"/>
/// a loop allocates nothing: the body is a struct (<see cref="IParallelBody"/>) that stays on the caller's stack
/// while the workers read it through a pointer, and the workers wait for the next loop spinning briefly, then on
/// an event. One loop runs at a time; a loop started while another runs (another thread, or a body that itself
/// loops) runs on its calling thread alone.
/// </summary>
/// <remarks>
/// <para>
/// A worker joins a loop only while it is open, and the caller closes it once every item has been taken, then
/// waits for the workers that joined. So the caller never waits for a worker that has not started (on a busy
/// machine a descheduled worker would otherwise cost a scheduler time slice per op); it just does the items itself.
/// The loop's state is one 64-bit word: generation (high 32 bits), closed flag (bit 31), workers inside (bits 0–30).
/// </para>
/// <para>
/// Process-wide, as <see cref="System.Buffers.ArrayPool{T}.Shared"/>: every backend instance shares the same
/// threads, so tests that create many backends do not create many threads.
/// </para>
/// </remarks>
internal sealed unsafe class SimdWorkers
{
    private const long ClosedBit = 1L << 31;
    private const long InsideMask = ClosedBit - 1;

    /// <summary>
    /// How long (in <see cref="System.Diagnostics.Stopwatch"/> ticks) an idle worker spins before it blocks: 50 µs,
    /// longer than the gap between two ops of a network pass. Longer spins cost more than they save on a shared
    /// machine: the scheduler charges the spinning thread and then preempts it in the middle of real work.
    /// </summary>
    private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 20000;

    private readonly Worker[] _workers;
    private readonly Lock _startLock = new();
    private bool _started;
    private int _busy;
    private long _loop = ClosedBit;

    // The running loop; written before the generation is published, read by workers once they have joined it.
    private void* _body;
    private delegate*<void*, int, void> _invoke;
    private int _count;
    private int _next;
    private ExceptionDispatchInfo? _failure;

    private SimdWorkers(int workers) => _workers = new Worker[Math.Max(0, workers)];

    /// <summary>The process-wide pool: one worker per processor beyond the first.</summary>
    public static SimdWorkers Shared { get; } = new(Environment.ProcessorCount - 1);

    /// <summary>Threads that run a loop's items: the workers and the calling thread.</summary>
    public int Concurrency => _workers.Length + 1;

    /// <summary>Managed bytes allocated so far on the worker threads (for allocation tests; the calling thread has its own counter).</summary>
    public long WorkerAllocatedBytes
    {
        get
        {
            long total = 0;
            foreach (var w in _workers)
            {
                total += w is null ? 0 : Volatile.Read(ref w.AllocatedBytes);
            }

            return total;
        }
    }

    /// <summary>Runs <paramref name="body"/>.Run(i) for i in [0, <paramref name="count"/>) on the workers and the calling thread; returns when all are done.</summary>
    /// <exception cref="Exception">The first exception an item threw (the remaining items are skipped).</exception>
    public void For<TBody>(int count, in TBody body)
        where TBody : struct, IParallelBody
    {
        if (count <= 0)
        {
            return;
        }

        if (count == 1 || _workers.Length == 0 || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            for (int i = 0; i < count; i++)
            {
                body.Run(i);
            }

            return;
        }

        try
        {
            EnsureStarted();
            // A copy on this frame's stack: the workers read it through a pointer until the loop is closed and empty.
            TBody local = body;
            _body = Unsafe.AsPointer(ref local);
            _invoke = &Invoke<TBody>;
            _count = count;
            _next = 0;
            _failure = null;
            // Publish: the next generation, open, nobody inside (a full fence, so the fields above are visible first).
            Interlocked.Exchange(ref _loop, (long)(Generation(Volatile.Read(ref _loop)) + 1) << 32);
            WakeOneAfter(-1);
            RunItems();

            // Every item is taken: close the loop to latecomers, then wait for the workers inside to finish theirs.
            long state;
            do
            {
                state = Volatile.Read(ref _loop);
            }
            while (Interlocked.CompareExchange(ref _loop, state | ClosedBit, state) != state);

            var spin = default(SpinWait);
            while ((Volatile.Read(ref _loop) & InsideMask) != 0)
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }

            _body = null;
            _failure?.Throw();
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    private static int Generation(long state) => (int)(state >> 32);

    /// <summary>
    /// Wakes the first sleeping worker after index <paramref name="index"/>. The caller wakes one and every worker
    /// that joins wakes the next, so a loop's wake-ups (a system call each) spread over the threads.
    /// </summary>
    private void WakeOneAfter(int index)
    {
        for (int i = index + 1; i < _workers.Length; i++)
        {
            var w = _workers[i];
            if (Volatile.Read(ref w.Sleeping) != 0)
            {
                w.Wake.Set();
                return;
            }
        }
    }

    private static void Invoke<TBody>(void* body, int index)
        where TBody : struct, IParallelBody => Unsafe.AsRef<TBody>(body).Run(index);

    private void RunItems()
    {
        int i;
        while ((i = Interlocked.Increment(ref _next) - 1) < _count)
        {
            try
            {
                _invoke(_body, i);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(e), null);
                Volatile.Write(ref _next, int.MaxValue / 2);
            }
        }
    }

    private void EnsureStarted()
    {
        if (Volatile.Read(ref _started))
        {
            return;
        }

        lock (_startLock)
        {
            if (_started)
            {
                return;
            }

            for (int i = 0; i < _workers.Length; i++)
            {
                var worker = new Worker();
                _workers[i] = worker;
                int index = i;
                var thread = new Thread(() => Loop(worker, index)) { IsBackground = true, Name = $"SIMD worker {i + 1}" };
                thread.Start();
            }

            Volatile.Write(ref _started, true);
        }
    }

    private void Loop(Worker self, int index)
    {
        int seen = Generation(Volatile.Read(ref _loop));
        while (true)
        {
            long spinUntil = System.Diagnostics.Stopwatch.GetTimestamp() + SpinTicks;
            while (Generation(Volatile.Read(ref _loop)) == seen)
            {
                if (System.Diagnostics.Stopwatch.GetTimestamp() > spinUntil)
                {
                    // Announce the sleep, then look again: a loop started in between either sees Sleeping (and sets
                    // Wake) or is seen here (both sides use full fences).
                    self.Wake.Reset();
                    Interlocked.Exchange(ref self.Sleeping, 1);
                    if (Generation(Volatile.Read(ref _loop)) == seen)
                    {
                        self.Wake.Wait();
                    }

                    Interlocked.Exchange(ref self.Sleeping, 0);
                    spinUntil = System.Diagnostics.Stopwatch.GetTimestamp() + SpinTicks;
                }
                else
                {
                    Thread.SpinWait(20);
                }
            }

            // Join the loop of the generation seen, unless it has closed (or a newer one began: then look again).
            long state = Volatile.Read(ref _loop);
            seen = Generation(state);
            while ((state & ClosedBit) == 0 && Generation(state) == seen)
            {
                long before = Interlocked.CompareExchange(ref _loop, state + 1, state);
                if (before == state)
                {
                    if (Volatile.Read(ref _next) < _count)
                    {
                        WakeOneAfter(index);
                    }

                    RunItems();
                    Volatile.Write(ref self.AllocatedBytes, GC.GetAllocatedBytesForCurrentThread());
                    Interlocked.Decrement(ref _loop);
                    break;
                }

                state = before;
            }
        }
    }

    /// <summary>One worker thread's wake-up signal and counters.</summary>
    private sealed class Worker
    {
        public readonly ManualResetEventSlim Wake = new(false, spinCount: 0);
        public int Sleeping;
        public long AllocatedBytes;
    }
}
