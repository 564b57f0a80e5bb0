using System.Globalization;
using JointDiffusion.Kernels;

namespace JointDiffusion.Gpu.Backends.Ilgpu;

/// <summary>
/// The tile sizes of <see cref="Conv2dTiledKernels"/> for one device, chosen once when the backend is created
/// from the device's threads per group, shared memory per group, warp size and multiprocessor count. A
/// device that cannot take a tile gets none (<see cref="For"/> returns null) and the backend keeps the direct
/// kernels of <see cref="Conv2dKernels"/>.
/// </summary>
internal sealed class IlgpuConvTiling
{
    /// <summary>Most threads per group a tile uses: 256 threads × 16 outputs each is a 64 × 64 tile, the usual sweet spot.</summary>
    public const int MaxThreads = 256;

    /// <summary>Fewest threads per group worth tiling for: 16 threads make a 16 × 16 tile.</summary>
    public const int MinThreads = 16;

    /// <summary>Depth BK of a shared slice: 16 keeps the slices of every tiling chosen here within about 17 KiB.</summary>
    public const int Depth = 16;

    /// <summary>Fewest BK-slices one split of a backward-weight reduction gets, so a split's partial is worth its extra write and read.</summary>
    public const int MinSlicesPerSplit = 4;

    /// <summary>Most splits of a backward-weight reduction (bounds the partials scratch at that many copies of dw).</summary>
    public const int MaxSplits = 64;

    /// <summary>Backward-weight groups to aim for per multiprocessor when splitting its reduction.</summary>
    public const int GroupsPerMultiprocessor = 4;

    private IlgpuConvTiling(Conv2dTiledKernels.Tiling square, Conv2dTiledKernels.Tiling wide, int multiprocessors)
    {
        Square = square;
        Wide = wide;
        Multiprocessors = multiprocessors;
    }

    /// <summary>The square-ish tile (TM ≥ TN, both powers of two): 16 × 16 threads, 64 × 64 outputs on a GPU.</summary>
    public Conv2dTiledKernels.Tiling Square { get; }

    /// <summary>
    /// A 4-row-thread tile, 16 rows by as many columns as the group has threads, for convolutions with at most
    /// 16 output rows (the RGB or grey image ends of the network), where a square tile would leave most rows idle.
    /// </summary>
    public Conv2dTiledKernels.Tiling Wide { get; }

    /// <summary>Multiprocessors of the device, for the backward-weight split.</summary>
    public int Multiprocessors { get; }

    /// <summary>Threads per group of every tiled launch.</summary>
    public int Threads => Square.Threads;

    /// <summary>
    /// The tiling for a device, or null where none fits: the largest power of two of threads per group up to
    /// <see cref="MaxThreads"/> that the device allows, if it is at least <see cref="MinThreads"/> and a whole
    /// number of warps, and the device's shared memory per group holds the kernels' fixed
    /// <see cref="Conv2dTiledKernels.MaxTileFloats"/> floats.
    /// </summary>
    public static IlgpuConvTiling? For(int maxThreadsPerGroup, long maxSharedMemoryPerGroup, int warpSize, int multiprocessors)
    {
        int threads = 1;
        while (threads * 2 <= Math.Min(MaxThreads, maxThreadsPerGroup))
        {
            threads *= 2;
        }

        if (threads < MinThreads || warpSize < 1 || threads % warpSize != 0 || maxSharedMemoryPerGroup < 4L * Conv2dTiledKernels.MaxTileFloats)
        {
            return null;
        }

        // TN = 2^⌊log₂T / 2⌋ and TM = T/TN ≥ TN: BN = 4·TN ≤ T whenever T ≥ 8, as the kernels need.
        int log = 0;
        while ((1 << (log + 1)) <= threads)
        {
            log++;
        }

        int threadsN = 1 << (log / 2);
        var square = new Conv2dTiledKernels.Tiling(threads / threadsN, threadsN, Depth);
        var wide = new Conv2dTiledKernels.Tiling(4, threads / 4, Depth);
        if (!square.IsValid || !wide.IsValid)
        {
            return null;
        }

        return new IlgpuConvTiling(square, wide, Math.Max(1, multiprocessors));
    }

    /// <summary>The tiling for a gather-GEMM with <paramref name="rows"/> output rows (Cout forward, Cin backward-data).</summary>
    public Conv2dTiledKernels.Tiling ForRows(int rows) => rows <= Wide.BlockM ? Wide : Square;

    /// <summary>Groups of a forward or backward-data launch: ⌈rows/BM⌉·⌈columns/BN⌉.</summary>
    public static int GatherGroups(Conv2dTiledKernels.Tiling t, int rows, int columns) =>
        checked(((rows + t.BlockM - 1) / t.BlockM) * ((columns + t.BlockN - 1) / t.BlockN));

    /// <summary>
    /// How a backward-weight reduction over <paramref name="reductionLength"/> = N·Ho·Wo positions splits: enough
    /// splits that the launch has about <see cref="GroupsPerMultiprocessor"/> groups per multiprocessor beyond its
    /// <paramref name="tileGroups"/> = ⌈Cout/BM⌉·⌈Cin/BN⌉·K² tiles, each split at least
    /// <see cref="MinSlicesPerSplit"/> slices long and a whole number of slices; at most <see cref="MaxSplits"/>.
    /// Fixed by the shapes and the device, so the partials are always added in the same grouping.
    /// </summary>
    public (int Splits, int SplitLength) WeightSplits(int tileGroups, int reductionLength)
    {
        int wanted = (GroupsPerMultiprocessor * Multiprocessors + tileGroups - 1) / tileGroups;
        int slices = (reductionLength + Depth - 1) / Depth;
        int splits = Math.Clamp(Math.Min(wanted, slices / MinSlicesPerSplit), 1, MaxSplits);
        int splitLength = (slices + splits - 1) / splits * Depth;
        return (Math.Max(1, (reductionLength + splitLength - 1) / splitLength), splitLength);
    }

    /// <summary>A short description for the backend's: "64×64×16 tiles of 256 threads".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"conv tiles {Square.BlockM}×{Square.BlockN}×{Square.Depth} and {Wide.BlockM}×{Wide.BlockN}×{Wide.Depth} of {Threads} threads");
}
