namespace JointDiffusion.Gpu.Backends;

/// <summary>
/// Items for <see cref="ComputeBackend.RunConcurrently{TWork}"/>: a struct holding the items' arguments, so that
/// starting them allocates nothing.
/// </summary>
public interface IConcurrentWork
{
    /// <summary>Runs item <paramref name="index"/>; items may run on any thread, in any order, at the same time.</summary>
    void Run(int index);
}
