using ILGPU;

namespace JointDiffusion.Kernels;

/// <summary>
/// Deterministic reductions: Σx, Σa·b and the per-sample L2 norm. Each group folds a fixed, strided slice of
/// its input into per-thread float partials and combines them with <see cref="GroupReduction"/>: warp
/// shuffles, one shared slot per warp, then the first warp over the slots (a shared-memory tree on OpenCL). A full sum runs in two launches: <see cref="SumPartials"/> or
/// <see cref="DotPartials"/> over many groups, then <see cref="SumPartials"/> with a single group over the
/// partials. Launch with a power-of-two group size of at most <see cref="MaxGroupSize"/>.
/// </summary>
public static class ReductionKernels
{
    /// <summary>Largest group size a reduction kernel may be launched with (the size of its shared scratch).</summary>
    public const int MaxGroupSize = 256;

    /// <summary>Most groups the first stage of a full sum uses, so the second stage is one group's work.</summary>
    public const int MaxPartials = 256;

    /// <summary>partials[g] = Σ x[i] over the grid-strided indices of group g (grid = partials.Length groups).</summary>
    public static void SumPartials(ArrayView<float> x, ArrayView<float> partials)
    {
        var shared = SharedMemory.Allocate<float>(MaxGroupSize);
        int n = x.IntLength, stride = Grid.DimX * Group.DimX;
        float acc = 0f;
        for (int i = Grid.IdxX * Group.DimX + Group.IdxX; i < n; i += stride)
        {
            acc += x[i];
        }

        float total = GroupReduction.Sum(acc, shared);
        if (Group.IdxX == 0 && Grid.IdxX < partials.IntLength)
        {
            partials[Grid.IdxX] = total;
        }
    }

    /// <summary>partials[g] = Σ a[i]·b[i] over the grid-strided indices of group g.</summary>
    public static void DotPartials(ArrayView<float> a, ArrayView<float> b, ArrayView<float> partials)
    {
        var shared = SharedMemory.Allocate<float>(MaxGroupSize);
        int n = a.IntLength, stride = Grid.DimX * Group.DimX;
        float acc = 0f;
        for (int i = Grid.IdxX * Group.DimX + Group.IdxX; i < n; i += stride)
        {
            acc += a[i] * b[i];
        }

        float total = GroupReduction.Sum(acc, shared);
        if (Group.IdxX == 0 && Grid.IdxX < partials.IntLength)
        {
            partials[Grid.IdxX] = total;
        }
    }

    /// <summary>
    /// result[n] = ‖x[n]‖₂ with one group per batch item n (grid = result.Length groups) and
    /// <paramref name="perSample"/> elements per item.
    /// </summary>
    public static void NormPerSample(ArrayView<float> x, ArrayView<float> result, int perSample)
    {
        var shared = SharedMemory.Allocate<float>(MaxGroupSize);
        int sample = Grid.IdxX;
        if (sample >= result.IntLength)
        {
            return; // uniform over the group, so no thread misses a barrier
        }

        int offset = sample * perSample;
        float acc = 0f;
        for (int i = Group.IdxX; i < perSample; i += Group.DimX)
        {
            float v = x[offset + i];
            acc += v * v;
        }

        float total = GroupReduction.Sum(acc, shared);
        if (Group.IdxX == 0)
        {
            result[sample] = MathF.Sqrt(total);
        }
    }
}
