using JointDiffusion.Gpu.Backends;

namespace JointDiffusion.Gpu.Sampling;

/// <summary>The joint sampler's two passes (signal network, noise network): side by side, or one after the other.</summary>
internal static class ConcurrentPair
{
    /// <summary>
    /// Runs items 0 and 1 of <paramref name="work"/>: through <see cref="ComputeBackend.RunConcurrently{TWork}"/> when
    /// <paramref name="concurrent"/> (<see cref="SamplerOptions.ConcurrentNetworks"/>), else in order on this thread.
    /// </summary>
    public static void Run<TWork>(ComputeBackend backend, bool concurrent, in TWork work)
        where TWork : struct, IConcurrentWork
    {
        if (concurrent)
        {
            backend.RunConcurrently(2, work);
            return;
        }

        work.Run(0);
        work.Run(1);
    }
}
