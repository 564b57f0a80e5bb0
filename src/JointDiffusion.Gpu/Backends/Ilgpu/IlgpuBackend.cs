using System.Globalization;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using JointDiffusion.Gpu.Tensors;
using JointDiffusion.Kernels;

namespace JointDiffusion.Gpu.Backends.Ilgpu;

/// <summary>
/// The backend that runs the kernels of <c>JointDiffusion.Kernels</c> through ILGPU: CUDA, OpenCL, and
/// ILGPU's CPU accelerator (a slow GPU simulator, for tests). It owns one ILGPU <see cref="Context"/> and one
/// <see cref="Accelerator"/>; every kernel is compiled once, in the constructor. Ops only enqueue work on the
/// accelerator's default stream; <see cref="ComputeBackend.Download"/> and <see cref="Synchronize"/> wait.
/// Scratch tensors an op needs come from the pool and go back to it as soon as the op's kernels are queued,
/// which is safe because every kernel runs in queue order on the one stream.
/// </summary>
public sealed class IlgpuBackend : ComputeBackend
{
    private readonly Context _context;
    private readonly Accelerator _accelerator;
    private readonly IlgpuKernelSet _k;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _absent;
    private readonly int _groupSize;
    private readonly IlgpuConvTiling? _tiling;
    private bool _disposed;

    /// <summary>The environment variable that, set to 0, makes the device selector build the backend with the direct conv kernels only.</summary>
    public const string TiledVariable = "JOINTDIFF_ILGPU_TILED";

    /// <summary>
    /// Creates the backend on <paramref name="device"/>, taking ownership of <paramref name="context"/>
    /// (disposed with the backend, also when this constructor fails). Convolutions run the tiled kernels of
    /// <see cref="Conv2dTiledKernels"/> where the device takes a tile (<see cref="IlgpuConvTiling.For"/>) and
    /// <paramref name="tiledConvolution"/> allows it, else the direct kernels of <see cref="Conv2dKernels"/>.
    /// </summary>
    internal IlgpuBackend(Context context, Device device, DeviceKind kind, bool tiledConvolution = true)
    {
        _context = context;
        try
        {
            _accelerator = device.CreateAccelerator(context);
            _tiling = tiledConvolution
                ? IlgpuConvTiling.For(_accelerator.MaxNumThreadsPerGroup, _accelerator.MaxSharedMemoryPerGroup, _accelerator.WarpSize, _accelerator.NumMultiprocessors)
                : null;
            _k = new IlgpuKernelSet(_accelerator, _tiling is not null);
            // Stand-in for an absent optional tensor (bias, a skipped gradient): kernels never read it.
            _absent = _accelerator.Allocate1D<float>(1);
        }
        catch
        {
            _accelerator?.Dispose();
            context.Dispose();
            throw;
        }

        Kind = kind;
        _groupSize = ReductionGroupSize(_accelerator.MaxNumThreadsPerGroup);
        string memory = kind == DeviceKind.IlgpuCpu
            ? "simulated on the CPU: correctness tests only"
            : string.Create(CultureInfo.InvariantCulture, $"{_accelerator.MemorySize / (1024.0 * 1024 * 1024):F1} GiB");
        Description = string.Create(CultureInfo.InvariantCulture,
            $"ILGPU {_accelerator.AcceleratorType} accelerator '{_accelerator.Name}': {_accelerator.NumMultiprocessors} multiprocessors, {_accelerator.MaxNumThreadsPerGroup} threads per group, warp {_accelerator.WarpSize}, {memory}, {_tiling?.ToString() ?? "direct convolution kernels"}");
    }

    /// <summary>The convolution tiling in use, or null where the direct kernels run.</summary>
    internal IlgpuConvTiling? ConvTiling => _tiling;

    /// <inheritdoc/>
    public override string Name => DeviceSelector.Name(Kind);

    /// <inheritdoc/>
    public override string Description { get; }

    /// <inheritdoc/>
    public override DeviceKind Kind { get; }

    /// <summary>
    /// The context settings every ILGPU backend compiles its kernels with: ILGPU.Algorithms supplies the
    /// PTX implementations of MathF.Exp and MathF.Log (ELU, the Box–Muller transform), which ILGPU alone lacks.
    /// </summary>
    internal static Context.Builder ConfigureKernelCompilation(Context.Builder builder) => builder.EnableAlgorithms();

    /// <summary>Threads per group of the reduction kernels: the largest power of two the device and the kernels' shared scratch allow.</summary>
    internal static int ReductionGroupSize(int maxThreadsPerGroup)
    {
        int limit = Math.Min(ReductionKernels.MaxGroupSize, maxThreadsPerGroup);
        int size = 1;
        while (size * 2 <= limit)
        {
            size *= 2;
        }

        return size;
    }

    /// <summary>
    /// Allocates a device buffer. When the device is out of memory, the pool's idle buffers are freed and the
    /// allocation is tried once more; if that fails too, a <see cref="DeviceOutOfMemoryException"/> says how much
    /// was asked for, how much this backend holds and what the device has. A request larger than the whole device
    /// is refused without asking the driver.
    /// </summary>
    protected override DeviceStorage CreateStorage(int length)
    {
        long bytes = 4L * length;
        if (Kind != DeviceKind.IlgpuCpu && bytes > _accelerator.MemorySize)
        {
            throw OutOfMemory(bytes, null);
        }

        try
        {
            return new IlgpuStorage(_accelerator, length);
        }
        catch (Exception e) when (IsOutOfMemory(e))
        {
            Pool.Trim();
        }

        try
        {
            return new IlgpuStorage(_accelerator, length);
        }
        catch (Exception e) when (IsOutOfMemory(e))
        {
            throw OutOfMemory(bytes, e);
        }
    }

    /// <summary>
    /// Whether <paramref name="e"/> is a driver's (or the host's, for ILGPU's CPU accelerator) report that memory
    /// ran out, as opposed to an error of the call.
    /// </summary>
    internal static bool IsOutOfMemory(Exception e) => e switch
    {
        OutOfMemoryException => true,
        CudaException cuda => cuda.Error == nameof(CudaError.CUDA_ERROR_OUT_OF_MEMORY),
        CLException cl => cl.Error is CLError.CL_MEM_OBJECT_ALLOCATION_FAILURE or CLError.CL_OUT_OF_RESOURCES or CLError.CL_OUT_OF_HOST_MEMORY,
        _ => false,
    };

    private DeviceOutOfMemoryException OutOfMemory(long bytes, Exception? inner) =>
        new($"{Name} ({_accelerator.Name})", bytes, Math.Max(0, Pool.BytesInUse - bytes), Kind == DeviceKind.IlgpuCpu ? 0 : _accelerator.MemorySize, inner);

    // Binding makes the accelerator current on the calling thread (for CUDA, its context), so that ops may come
    // from any thread: ILGPU binds on allocation, but not on kernel launches or copies.
    private ArrayView<float> V(Tensor t)
    {
        _accelerator.Bind();
        return ((IlgpuStorage)t.Storage).View(t.Length);
    }

    private ArrayView<float> VOrAbsent(Tensor? t) => t is null ? _absent.View : V(t);

    private KernelConfig Groups(int count) => new(count, _groupSize);

    /// <inheritdoc/>
    public override void Synchronize() => _accelerator.Synchronize();

    /// <inheritdoc/>
    protected override void UploadCore(ReadOnlySpan<float> source, Tensor destination) => V(destination).CopyFromCPU(source);

    /// <inheritdoc/>
    protected override void DownloadCore(Tensor source, Span<float> destination) => V(source).CopyToCPU(destination);

    // ---------------------------------------------------------------- convolution

    private static Conv2dKernels.Geometry ConvGeometry(Shape x, int cout, int k, Conv2dSpec spec, int flags) =>
        new(x.N, x.C, x.H, x.W, cout, k, spec.Padding, spec.Dilation, flags);

    /// <inheritdoc/>
    protected override void Conv2dForwardCore(Tensor x, Tensor w, Tensor? b, Tensor y, Conv2dSpec spec, ConvWorkspace? workspace)
    {
        var g = ConvGeometry(x.Shape, w.Shape.N, w.Shape.H, spec, b is null ? 0 : Conv2dKernels.HasBias);
        if (_tiling is null)
        {
            _k.ConvForward(y.Length, V(x), V(w), VOrAbsent(b), V(y), g);
            return;
        }

        var t = _tiling.ForRows(g.OutChannels);
        int groups = IlgpuConvTiling.GatherGroups(t, g.OutChannels, g.Batch * g.OutHeight * g.OutWidth);
        _k.ConvTiledForward!(new KernelConfig(groups, t.Threads), V(x), V(w), VOrAbsent(b), V(y), g, t);
    }

    /// <inheritdoc/>
    protected override void Conv2dBackwardDataCore(Tensor dy, Tensor w, Tensor dx, Conv2dSpec spec, bool accumulate, ConvWorkspace? workspace)
    {
        var g = ConvGeometry(dx.Shape, w.Shape.N, w.Shape.H, spec, accumulate ? Conv2dKernels.Accumulate : 0);
        if (_tiling is null)
        {
            _k.ConvBackwardData(dx.Length, V(dy), V(w), V(dx), g);
            return;
        }

        var t = _tiling.ForRows(g.InChannels);
        int groups = IlgpuConvTiling.GatherGroups(t, g.InChannels, g.Batch * g.Height * g.Width);
        _k.ConvTiledBackwardData!(new KernelConfig(groups, t.Threads), V(dy), V(w), V(dx), g, t);
    }

    /// <inheritdoc/>
    protected override void Conv2dBackwardWeightCore(Tensor x, Tensor dy, Tensor? dw, Tensor? db, Conv2dSpec spec, bool accumulate,
        ConvWorkspace? workspace)
    {
        var xs = x.Shape;
        int k = dw?.Shape.H ?? (xs.H - dy.Shape.H + 2 * spec.Padding) / spec.Dilation + 1;
        var g = ConvGeometry(xs, dy.Shape.C, k, spec, accumulate ? Conv2dKernels.Accumulate : 0);
        if (dw is not null)
        {
            if (_tiling is null)
            {
                _k.ConvBackwardWeight(dw.Length, V(x), V(dy), V(dw), g);
            }
            else
            {
                ConvBackwardWeightTiled(x, dy, dw, g, _tiling);
            }
        }

        if (db is not null)
        {
            _k.ConvBackwardBias(Groups(g.OutChannels), V(dy), V(db), g);
        }
    }

    /// <summary>
    /// dw through the tiled kernel: one launch writing dw directly when the reduction is not split, else a
    /// launch writing one partial dw per split into pooled scratch and a second adding them in split order.
    /// </summary>
    private void ConvBackwardWeightTiled(Tensor x, Tensor dy, Tensor dw, Conv2dKernels.Geometry g, IlgpuConvTiling tiling)
    {
        var t = tiling.Square;
        int tileGroups = checked(((g.OutChannels + t.BlockM - 1) / t.BlockM) * ((g.InChannels + t.BlockN - 1) / t.BlockN) * g.Kernel * g.Kernel);
        var (splits, splitLength) = tiling.WeightSplits(tileGroups, g.Batch * g.OutHeight * g.OutWidth);
        if (splits == 1)
        {
            _k.ConvTiledBackwardWeight!(new KernelConfig(tileGroups, t.Threads), V(x), V(dy), V(dw), g, t, splitLength);
            return;
        }

        var overwrite = new Conv2dKernels.Geometry(g.Batch, g.InChannels, g.Height, g.Width, g.OutChannels, g.Kernel, g.Padding, g.Dilation, 0);
        using var partials = Allocate(new Shape(checked(splits * dw.Length)));
        _k.ConvTiledBackwardWeight!(new KernelConfig(checked(tileGroups * splits), t.Threads), V(x), V(dy), V(partials), overwrite, t, splitLength);
        _k.ConvSumSplits!(dw.Length, V(partials), V(dw), splits, g.Flags & Conv2dKernels.Accumulate);
    }

    // ---------------------------------------------------------------- InstanceNorm++

    /// <inheritdoc/>
    protected override void InstanceNorm2dPlusCore(Tensor x, Tensor alpha, Tensor gamma, Tensor beta, Tensor y, Tensor stats, bool elu)
    {
        var s = x.Shape;
        var g = new InstanceNormKernels.Geometry(s.N, s.C, s.H * s.W, InstanceNormStats.Epsilon, elu ? InstanceNormKernels.Elu : 0);
        _k.NormPlaneStatistics(Groups(s.N * s.C), V(x), V(stats), g);
        _k.NormSampleStatistics(s.N, V(stats), g);
        _k.NormForward(x.Length, V(x), V(alpha), V(gamma), V(beta), V(stats), V(y), g);
    }

    /// <inheritdoc/>
    protected override void InstanceNorm2dPlusBackwardCore(Tensor x, Tensor dy, Tensor alpha, Tensor gamma, Tensor stats,
        Tensor? dx, Tensor? dalpha, Tensor? dgamma, Tensor? dbeta, bool accumulate)
    {
        var s = x.Shape;
        int planes = s.N * s.C;
        int flags = (accumulate ? InstanceNormKernels.Accumulate : 0)
            | (dalpha is null ? 0 : InstanceNormKernels.WantAlpha)
            | (dgamma is null ? 0 : InstanceNormKernels.WantGamma)
            | (dbeta is null ? 0 : InstanceNormKernels.WantBeta);
        var g = new InstanceNormKernels.Geometry(s.N, s.C, s.H * s.W, InstanceNormStats.Epsilon, flags);

        // Scratch: (Σ dy, Σ dy·h) per plane, then dμ per plane.
        using var scratch = Allocate(new Shape(3 * planes));
        var sums = V(scratch).SubView(0, 2 * planes);
        var meanGrads = V(scratch).SubView(2 * planes, planes);
        _k.NormPlaneGradientSums(Groups(planes), V(x), V(dy), V(stats), sums, g);
        if (dalpha is not null || dgamma is not null || dbeta is not null)
        {
            _k.NormParameterGradients(s.C, V(alpha), V(gamma), V(stats), sums, VOrAbsent(dalpha), VOrAbsent(dgamma), VOrAbsent(dbeta), g);
        }

        if (dx is not null)
        {
            _k.NormMeanGradients(s.N, V(alpha), V(gamma), V(stats), sums, meanGrads, g);
            _k.NormInputGradient(x.Length, V(x), V(dy), V(gamma), V(stats), sums, meanGrads, V(dx), g);
        }
    }

    // ---------------------------------------------------------------- activations and pools

    /// <inheritdoc/>
    protected override void EluCore(Tensor x, Tensor y) => _k.EluForward(x.Length, V(x), V(y));

    /// <inheritdoc/>
    protected override void EluBackwardCore(Tensor x, Tensor dy, Tensor dx, bool accumulate) =>
        _k.EluBackward(x.Length, V(x), V(dy), V(dx), accumulate ? 1 : 0);

    /// <inheritdoc/>
    protected override void EluBackwardFromOutputCore(Tensor y, Tensor dy, Tensor dx, bool accumulate) =>
        _k.EluBackwardFromOutput(y.Length, V(y), V(dy), V(dx), accumulate ? 1 : 0);

    /// <inheritdoc/>
    protected override void MeanPool2x2Core(Tensor x, Tensor y) =>
        _k.MeanPoolForward(y.Length, V(x), V(y), new PoolKernels.Geometry(x.Shape.H, x.Shape.W, 0));

    /// <inheritdoc/>
    protected override void MeanPool2x2BackwardCore(Tensor dy, Tensor dx, bool accumulate) =>
        _k.MeanPoolBackward(dx.Length, V(dy), V(dx), new PoolKernels.Geometry(dx.Shape.H, dx.Shape.W, 0), accumulate ? 1 : 0);

    /// <inheritdoc/>
    protected override void MaxPool2dCore(Tensor x, Tensor y, int kernel) =>
        _k.MaxPoolForward(y.Length, V(x), V(y), new PoolKernels.Geometry(x.Shape.H, x.Shape.W, kernel / 2));

    /// <inheritdoc/>
    protected override void MaxPool2dBackwardCore(Tensor x, Tensor dy, Tensor dx, int kernel, bool accumulate)
    {
        var g = new PoolKernels.Geometry(x.Shape.H, x.Shape.W, kernel / 2);
        // Each window's argmax, as ints in pooled float storage, so the gather reads it instead of
        // recomputing K² windows of K² elements per input element.
        using var argMax = Allocate(x.Shape);
        var indices = V(argMax).Cast<int>();
        _k.MaxPoolArgMax(x.Length, V(x), indices, g);
        _k.MaxPoolBackward(dx.Length, indices, V(dy), V(dx), g, accumulate ? 1 : 0);
    }

    private static BilinearKernels.Geometry BilinearGeometry(Shape input, Shape output) =>
        new(input.H, input.W, output.H, output.W, BilinearScale(input.H, output.H), BilinearScale(input.W, output.W));

    /// <summary>align_corners = true: source = dst·(in − 1)/(out − 1), and 0 when out = 1 (as PyTorch and the SIMD backend).</summary>
    private static float BilinearScale(int input, int output) => output > 1 ? (input - 1f) / (output - 1f) : 0f;

    /// <inheritdoc/>
    protected override void BilinearResizeCore(Tensor x, Tensor y) =>
        _k.BilinearForward(y.Length, V(x), V(y), BilinearGeometry(x.Shape, y.Shape));

    /// <inheritdoc/>
    protected override void BilinearResizeBackwardCore(Tensor dy, Tensor dx, bool accumulate) =>
        _k.BilinearBackward(dx.Length, V(dy), V(dx), BilinearGeometry(dx.Shape, dy.Shape), accumulate ? 1 : 0);

    // ---------------------------------------------------------------- elementwise

    /// <inheritdoc/>
    protected override void MultiplyBroadcastCore(Tensor x, Tensor w, Tensor y) => _k.MultiplyBroadcast(y.Length, V(x), V(w), V(y));

    /// <inheritdoc/>
    protected override void AddBroadcastCore(Tensor x, float alpha, Tensor w, Tensor y) => _k.AddBroadcast(y.Length, V(x), alpha, V(w), V(y));

    /// <inheritdoc/>
    protected override void MatVecCore(Tensor matrix, Tensor x, Tensor y, bool transpose)
    {
        int rows = matrix.Shape[0], cols = matrix.Shape[1];
        if (transpose)
        {
            _k.MatVecTransposed(y.Length, V(matrix), V(x), V(y), rows, cols);
        }
        else
        {
            _k.MatVec(y.Length, V(matrix), V(x), V(y), rows, cols);
        }
    }

    /// <inheritdoc/>
    protected override void AdamUpdateCore(Tensor parameter, Tensor gradient, Tensor m, Tensor v, AdamStep step) =>
        _k.AdamUpdate(parameter.Length, V(parameter), V(gradient), V(m), V(v), step);

    /// <inheritdoc/>
    protected override void FillCore(Tensor y, float value) => _k.Fill(y.Length, V(y), value);

    /// <inheritdoc/>
    protected override void CopyCore(Tensor x, Tensor y) => _k.Copy(y.Length, V(x), V(y));

    /// <inheritdoc/>
    protected override void AddCore(Tensor a, Tensor b, Tensor y) => _k.Add(y.Length, V(a), V(b), V(y));

    /// <inheritdoc/>
    protected override void AffineCore(Tensor x, float scale, float shift, Tensor y) => _k.Affine(y.Length, V(x), scale, shift, V(y));

    /// <inheritdoc/>
    protected override void AxpyCore(float alpha, Tensor x, Tensor y) => _k.Axpy(y.Length, alpha, V(x), V(y));

    /// <inheritdoc/>
    protected override void ReciprocalOrZeroCore(Tensor x, Tensor y, float threshold) => _k.ReciprocalOrZero(y.Length, V(x), V(y), threshold);

    /// <inheritdoc/>
    protected override void ScalePerSampleCore(Tensor x, Tensor s, Tensor y) =>
        _k.ScalePerSample(y.Length, V(x), V(s), V(y), x.Shape.PerSample);

    /// <inheritdoc/>
    protected override void AxpyPerSampleCore(float alpha, Tensor s, Tensor x, Tensor y) =>
        _k.AxpyPerSample(y.Length, alpha, V(s), V(x), V(y), x.Shape.PerSample);

    // ---------------------------------------------------------------- reductions

    /// <summary>Groups of the first stage of a full reduction over <paramref name="length"/> elements (fixed by the length, so results are reproducible).</summary>
    private int PartialCount(int length) => Math.Clamp((length + _groupSize - 1) / _groupSize, 1, ReductionKernels.MaxPartials);

    /// <inheritdoc/>
    protected override void SumCore(Tensor x, Tensor result)
    {
        int groups = PartialCount(x.Length);
        if (groups == 1)
        {
            _k.SumPartials(Groups(1), V(x), V(result));
            return;
        }

        using var partials = Allocate(new Shape(groups));
        _k.SumPartials(Groups(groups), V(x), V(partials));
        _k.SumPartials(Groups(1), V(partials), V(result));
    }

    /// <inheritdoc/>
    protected override void DotCore(Tensor a, Tensor b, Tensor result)
    {
        int groups = PartialCount(a.Length);
        if (groups == 1)
        {
            _k.DotPartials(Groups(1), V(a), V(b), V(result));
            return;
        }

        using var partials = Allocate(new Shape(groups));
        _k.DotPartials(Groups(groups), V(a), V(b), V(partials));
        _k.SumPartials(Groups(1), V(partials), V(result));
    }

    /// <inheritdoc/>
    protected override void NormPerSampleCore(Tensor x, Tensor result) =>
        _k.NormPerSample(Groups(x.Shape.N), V(x), V(result), x.Shape.PerSample);

    // ---------------------------------------------------------------- random numbers

    /// <inheritdoc/>
    protected override void FillGaussianCore(Tensor y, ulong seed, ulong offset) => _k.Gaussian(y.Length, V(y), seed, offset);

    /// <inheritdoc/>
    protected override void FillGaussianBlocksCore(Tensor y, Tensor seeds, int block, ulong offset) =>
        _k.GaussianBlocks(y.Length, V(y), V(seeds), block, offset);

    // ---------------------------------------------------------------- disposal

    /// <summary>Frees the pool, then the accelerator (with any buffer still rented out) and the context.</summary>
    protected override void Dispose(bool disposing)
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        base.Dispose(disposing);
        if (disposing)
        {
            _absent.Dispose();
            _accelerator.Dispose();
            _context.Dispose();
        }
    }
}
