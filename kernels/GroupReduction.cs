using ILGPU;

namespace JointDiffusion.Kernels;

/// <summary>
/// A deterministic shared-memory tree sum over the threads of one group: the order of additions depends only
/// on the group size, never on thread timing, so a reduction gives the same bits on every run (no float
/// atomics anywhere).
/// </summary>
internal static class GroupReduction
{
    /// <summary>
    /// Sums <paramref name="value"/> over the group and returns the total to every thread. Every thread of the
    /// group must call it (it contains barriers); the group size must be a power of two no larger than
    /// <paramref name="shared"/>'s length.
    /// </summary>
    public static float Sum(float value, ArrayView<float> shared)
    {
        int tid = Group.IdxX;
        shared[tid] = value;
        Group.Barrier();
        for (int stride = Group.DimX / 2; stride > 0; stride /= 2)
        {
            if (tid < stride)
            {
                shared[tid] += shared[tid + stride];
            }

            Group.Barrier();
        }

        float total = shared[0];
        // A second barrier so that a following reduction may overwrite the shared scratch.
        Group.Barrier();
        return total;
    }
}
