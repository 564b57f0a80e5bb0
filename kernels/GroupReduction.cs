using ILGPU;
using ILGPU.Runtime;

namespace JointDiffusion.Kernels;

/// <summary>
/// A deterministic sum over the threads of one group: the order of additions depends only on the group size
/// and the warp size, never on thread timing, so a reduction gives the same bits on every run of a given device
/// (no float atomics anywhere).
/// </summary>
/// <remarks>
/// Where the device has warp shuffles (CUDA, ILGPU's CPU accelerator) each warp folds its lanes with a
/// shuffle-down tree (lane l adds lane l + δ for δ = W/2, …, 1), lane 0 of every warp writes one shared slot,
/// and the first warp folds those slots the same way: two barriers instead of log₂(group) of them.
/// OpenCL exposes shuffles only on Intel sub-groups, so there, and for a group the warps cannot cover
/// (size not a multiple of the warp size, or more warps than lanes), a shared-memory tree sums instead.
/// </remarks>
internal static class GroupReduction
{
    /// <summary>
    /// Sums <paramref name="value"/> over the group and returns the total to every thread. Every thread of the
    /// group must call it (it contains barriers); the group size must be a power of two no larger than
    /// <paramref name="shared"/>'s length.
    /// </summary>
    public static float Sum(float value, ArrayView<float> shared)
    {
        // Inside a kernel Accelerator.CurrentType becomes a constant, and ILGPU removes the branches it rules
        // out before generating code only when that constant selects a switch (C# compiles these four distinct
        // cases to an IL switch): a comparison with it would stay, and OpenCL code generation rejects a shuffle
        // even on a path never taken. IlgpuWarpReductionTests checks that PTX has shuffles and OpenCL C none.
        switch (Accelerator.CurrentType)
        {
            case AcceleratorType.CPU:
                return UsesWarps() ? WarpSum(value, shared) : TreeSum(value, shared);
            case AcceleratorType.Cuda:
                return UsesWarps() ? WarpSum(value, shared) : TreeSum(value, shared);
            case AcceleratorType.OpenCL:
                return TreeSum(value, shared);
            default:
                return TreeSum(value, shared);
        }
    }

    /// <summary>
    /// Sums two values over the group at once (one pair of barriers for both): returns (Σ a, Σ b) to every
    /// thread. The same contract as <see cref="Sum"/>; <paramref name="shared"/> needs two slots per thread
    /// on the tree path, so at most half its length in threads.
    /// </summary>
    public static (float A, float B) SumPair(float a, float b, ArrayView<float> shared)
    {
        switch (Accelerator.CurrentType)
        {
            case AcceleratorType.CPU:
                return UsesWarps() ? WarpSumPair(a, b, shared) : TreeSumPair(a, b, shared);
            case AcceleratorType.Cuda:
                return UsesWarps() ? WarpSumPair(a, b, shared) : TreeSumPair(a, b, shared);
            case AcceleratorType.OpenCL:
                return TreeSumPair(a, b, shared);
            default:
                return TreeSumPair(a, b, shared);
        }
    }

    /// <summary>Whether the group is a whole number of warps, few enough for one warp to gather their sums.</summary>
    private static bool UsesWarps()
    {
        int warpSize = Warp.WarpSize;
        return Group.DimX % warpSize == 0 && Group.DimX <= warpSize * warpSize;
    }

    /// <summary>Warp shuffles, one shared slot per warp, then the first warp over the slots.</summary>
    private static float WarpSum(float value, ArrayView<float> shared)
    {
        int warps = Group.DimX / Warp.WarpSize;
        float v = WarpFold(value);
        if (Warp.IsFirstLane)
        {
            shared[Warp.WarpIdx] = v;
        }

        Group.Barrier();
        if (Warp.WarpIdx == 0)
        {
            float total = WarpFold(Warp.LaneIdx < warps ? shared[Warp.LaneIdx] : 0f);
            if (Warp.IsFirstLane)
            {
                // A slot past the per-warp ones, so that no lane of the first warp can still be reading it.
                shared[warps] = total;
            }
        }

        Group.Barrier();
        float result = shared[warps];
        // A second barrier so that a following reduction may overwrite the shared scratch.
        Group.Barrier();
        return result;
    }

    /// <summary><see cref="WarpSum"/> of two values, slots [0, warps) for a and [warps, 2·warps) for b.</summary>
    private static (float A, float B) WarpSumPair(float a, float b, ArrayView<float> shared)
    {
        int warps = Group.DimX / Warp.WarpSize;
        float va = WarpFold(a), vb = WarpFold(b);
        if (Warp.IsFirstLane)
        {
            shared[Warp.WarpIdx] = va;
            shared[warps + Warp.WarpIdx] = vb;
        }

        Group.Barrier();
        if (Warp.WarpIdx == 0)
        {
            bool live = Warp.LaneIdx < warps;
            float ta = WarpFold(live ? shared[Warp.LaneIdx] : 0f);
            float tb = WarpFold(live ? shared[warps + Warp.LaneIdx] : 0f);
            if (Warp.IsFirstLane)
            {
                shared[2 * warps] = ta;
                shared[2 * warps + 1] = tb;
            }
        }

        Group.Barrier();
        var result = (shared[2 * warps], shared[2 * warps + 1]);
        Group.Barrier();
        return result;
    }

    /// <summary>Lane 0 receives Σ over the warp's lanes, added in a fixed pairwise order (other lanes hold partial sums).</summary>
    private static float WarpFold(float value)
    {
        for (int delta = Warp.WarpSize / 2; delta > 0; delta /= 2)
        {
            value += Warp.ShuffleDown(value, delta);
        }

        return value;
    }

    /// <summary>The shared-memory tree: log₂(group) barrier-separated halvings.</summary>
    private static float TreeSum(float value, ArrayView<float> shared)
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

    /// <summary><see cref="TreeSum"/> of two values, a in slots [0, group) and b in [group, 2·group).</summary>
    private static (float A, float B) TreeSumPair(float a, float b, ArrayView<float> shared)
    {
        int tid = Group.IdxX, n = Group.DimX;
        shared[tid] = a;
        shared[n + tid] = b;
        Group.Barrier();
        for (int stride = n / 2; stride > 0; stride /= 2)
        {
            if (tid < stride)
            {
                shared[tid] += shared[tid + stride];
                shared[n + tid] += shared[n + tid + stride];
            }

            Group.Barrier();
        }

        var total = (shared[0], shared[n]);
        Group.Barrier();
        return total;
    }
}
