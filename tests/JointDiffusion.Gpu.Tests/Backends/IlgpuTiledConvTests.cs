using System.Globalization;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Backends.Ilgpu;
using JointDiffusion.Gpu.Tensors;
using JointDiffusion.Gpu.Tests.Ops;
using JointDiffusion.Gpu.Tests.Reference;
using JointDiffusion.Kernels;
using static JointDiffusion.Gpu.Tests.Reference.ReferenceOps;

namespace JointDiffusion.Gpu.Tests.Backends;

/// <summary>
/// The tiled implicit-GEMM convolutions of <see cref="Conv2dTiledKernels"/> through the ILGPU backend on CPU
/// accelerators with 16 threads per group (16 × 16 tiles, ILGPU's default CPU device) and 64 (32 × 32 and
/// 16 × 64 tiles), and the direct kernels the backend falls back to, against the double reference; the
/// split backward-weight reduction for several split counts; the tile choice; and run-to-run bit equality.
/// </summary>
/// <remarks>
/// Tolerance as in <see cref="Conv2dTests"/>: each output is a float sum of K terms whose absolute values sum to
/// the same reference op applied to |inputs|, compared with <see cref="ArrayAssert.SumTolerance"/>; the tiled
/// kernels add zero products for the padding of ragged tiles, which are exact. With accumulate or a bias, the
/// added value is one more term. Outputs an op overwrites start as NaN, so an element a kernel forgets (or reads
/// before writing) fails.
/// </remarks>
public sealed class IlgpuTiledConvTests(IlgpuCpuDevices devices) : IClassFixture<IlgpuCpuDevices>
{
    /// <summary>One convolution geometry.</summary>
    public sealed record Case(int N, int Cin, int Cout, int H, int W, int K, int Pad, int Dil, bool Bias)
    {
        /// <summary>Output height.</summary>
        public int Ho => ConvOutputSize(H, K, Pad, Dil);

        /// <summary>Output width.</summary>
        public int Wo => ConvOutputSize(W, K, Pad, Dil);

        /// <summary>The geometry the kernels take.</summary>
        public Conv2dKernels.Geometry Geometry(int flags) => new(N, Cin, H, W, Cout, K, Pad, Dil, flags);

        /// <inheritdoc/>
        public override string ToString() =>
            string.Create(CultureInfo.InvariantCulture, $"x[{N},{Cin},{H},{W}] w[{Cout},{Cin},{K},{K}] pad {Pad} dil {Dil}{(Bias ? " +b" : string.Empty)}");
    }

    private static readonly Case[] Cases =
    [
        new(2, 3, 5, 7, 9, 3, 1, 1, true),     // ragged: Cout 5, 7×9 images, Cin 3, batch 2
        new(1, 4, 6, 8, 6, 3, 2, 2, false),    // dilation 2, pad 2, no bias
        new(1, 3, 2, 9, 8, 3, 4, 4, true),     // dilation 4, pad 4 (taps mostly in the padding)
        new(2, 5, 3, 5, 7, 1, 0, 1, true),     // 1×1
        new(1, 3, 4, 6, 7, 5, 2, 1, false),    // 5×5
        new(1, 2, 3, 6, 5, 3, 0, 1, true),     // no padding: output smaller than input
        new(2, 18, 36, 9, 9, 3, 1, 1, true),   // several tiles in every dimension (rows, pixels, channel slices)
        new(2, 3, 5, 12, 12, 1, 0, 1, true),   // backward-weight reduction split on a 16-thread device
    ];

    /// <summary>(device, tiled, case index): 16 and 64 threads per group tiled, and the direct fallback.</summary>
    public static TheoryData<string, bool, int> Runs
    {
        get
        {
            var data = new TheoryData<string, bool, int>();
            foreach (var (device, tiled) in new[] { (IlgpuCpuDevices.Warp4By4, true), (IlgpuCpuDevices.Warp4By16, true), (IlgpuCpuDevices.Warp4By4, false) })
            {
                for (int i = 0; i < Cases.Length; i++)
                {
                    data.Add(device, tiled, i);
                }
            }

            return data;
        }
    }

    private static (double[] X, double[] W, double[] B, double[] Dy) Inputs(Case c, int seed) => (
        RandomArrays.Uniform(seed, c.N * c.Cin * c.H * c.W),
        RandomArrays.Uniform(seed + 1, c.Cout * c.Cin * c.K * c.K),
        RandomArrays.Uniform(seed + 2, c.Cout),
        RandomArrays.Uniform(seed + 3, c.N * c.Cout * c.Ho * c.Wo));

    [Theory]
    [MemberData(nameof(Runs))]
    public void Conv2dForward_MatchesReference(string device, bool tiled, int index)
    {
        var c = Cases[index];
        var backend = Backend(device, tiled);
        var (x, w, b, _) = Inputs(c, 500);
        var bias = c.Bias ? b : null;
        using var tx = backend.Upload(x, c.N, c.Cin, c.H, c.W);
        using var tw = backend.Upload(w, c.Cout, c.Cin, c.K, c.K);
        using var tb = c.Bias ? backend.Upload(b, c.Cout) : null;
        using var ty = backend.Filled(float.NaN, c.N, c.Cout, c.Ho, c.Wo);

        backend.Conv2dForward(tx, tw, tb, ty, new Conv2dSpec(c.Pad, c.Dil));

        var expected = Conv2d(x, w, bias, c.N, c.Cin, c.H, c.W, c.Cout, c.K, c.Pad, c.Dil);
        var magnitude = Conv2d(RandomArrays.Abs(x), RandomArrays.Abs(w), bias is null ? null : RandomArrays.Abs(bias), c.N, c.Cin, c.H, c.W, c.Cout, c.K, c.Pad, c.Dil);
        ArrayAssert.Close(expected, ty.ToDoubles(), ArrayAssert.SumTolerance(magnitude, c.Cin * c.K * c.K + 1), What(device, tiled, "forward", c));
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void Conv2dBackwardData_MatchesReference(string device, bool tiled, int index)
    {
        var c = Cases[index];
        var backend = Backend(device, tiled);
        var (_, w, _, dy) = Inputs(c, 600);
        var initial = RandomArrays.Uniform(604, c.N * c.Cin * c.H * c.W);
        using var tw = backend.Upload(w, c.Cout, c.Cin, c.K, c.K);
        using var tdy = backend.Upload(dy, c.N, c.Cout, c.Ho, c.Wo);
        using var tdx = backend.Filled(float.NaN, c.N, c.Cin, c.H, c.W);
        using var tacc = backend.Upload(initial, c.N, c.Cin, c.H, c.W);
        var spec = new Conv2dSpec(c.Pad, c.Dil);

        backend.Conv2dBackwardData(tdy, tw, tdx, spec, accumulate: false);
        backend.Conv2dBackwardData(tdy, tw, tacc, spec, accumulate: true);

        var expected = Conv2dBackwardData(dy, w, c.N, c.Cin, c.H, c.W, c.Cout, c.K, c.Pad, c.Dil);
        var magnitude = Conv2dBackwardData(RandomArrays.Abs(dy), RandomArrays.Abs(w), c.N, c.Cin, c.H, c.W, c.Cout, c.K, c.Pad, c.Dil);
        int terms = c.Cout * c.K * c.K;
        ArrayAssert.Close(expected, tdx.ToDoubles(), ArrayAssert.SumTolerance(magnitude, terms), What(device, tiled, "dx", c));
        ArrayAssert.Close(Add(initial, expected), tacc.ToDoubles(),
            ArrayAssert.SumTolerance(Add(RandomArrays.Abs(initial), magnitude), terms + 1), What(device, tiled, "dx accumulate", c));
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void Conv2dBackwardWeight_MatchesReference(string device, bool tiled, int index)
    {
        var c = Cases[index];
        var backend = Backend(device, tiled);
        var (x, _, _, dy) = Inputs(c, 700);
        var initialW = RandomArrays.Uniform(704, c.Cout * c.Cin * c.K * c.K);
        var initialB = RandomArrays.Uniform(705, c.Cout);
        using var tx = backend.Upload(x, c.N, c.Cin, c.H, c.W);
        using var tdy = backend.Upload(dy, c.N, c.Cout, c.Ho, c.Wo);
        using var tdw = backend.Filled(float.NaN, c.Cout, c.Cin, c.K, c.K);
        using var tdb = c.Bias ? backend.Filled(float.NaN, c.Cout) : null;
        using var taccW = backend.Upload(initialW, c.Cout, c.Cin, c.K, c.K);
        using var taccB = c.Bias ? backend.Upload(initialB, c.Cout) : null;
        var spec = new Conv2dSpec(c.Pad, c.Dil);

        backend.Conv2dBackwardWeight(tx, tdy, tdw, tdb, spec, accumulate: false);
        backend.Conv2dBackwardWeight(tx, tdy, taccW, taccB, spec, accumulate: true);

        int terms = c.N * c.Ho * c.Wo;
        var expectedW = Conv2dBackwardWeight(x, dy, c.N, c.Cin, c.H, c.W, c.Cout, c.K, c.Pad, c.Dil);
        var magnitudeW = Conv2dBackwardWeight(RandomArrays.Abs(x), RandomArrays.Abs(dy), c.N, c.Cin, c.H, c.W, c.Cout, c.K, c.Pad, c.Dil);
        ArrayAssert.Close(expectedW, tdw.ToDoubles(), ArrayAssert.SumTolerance(magnitudeW, terms), What(device, tiled, "dw", c));
        ArrayAssert.Close(Add(initialW, expectedW), taccW.ToDoubles(),
            ArrayAssert.SumTolerance(Add(RandomArrays.Abs(initialW), magnitudeW), terms + 1), What(device, tiled, "dw accumulate", c));
        if (c.Bias)
        {
            var expectedB = Conv2dBackwardBias(dy, c.N, c.Cout, c.Ho, c.Wo);
            var magnitudeB = Conv2dBackwardBias(RandomArrays.Abs(dy), c.N, c.Cout, c.Ho, c.Wo);
            ArrayAssert.Close(expectedB, tdb!.ToDoubles(), ArrayAssert.SumTolerance(magnitudeB, terms), What(device, tiled, "db", c));
            ArrayAssert.Close(Add(initialB, expectedB), taccB!.ToDoubles(),
                ArrayAssert.SumTolerance(Add(RandomArrays.Abs(initialB), magnitudeB), terms + 1), What(device, tiled, "db accumulate", c));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void Conv2dBackwardWeight_SplitReduction_MatchesReference(int splits)
    {
        // By hand on the 16-thread device: BackwardWeight writes one partial dw per split range, SumSplits adds
        // them in split order, with and without accumulate.
        var c = new Case(2, 5, 6, 9, 8, 3, 1, 1, false); // 144 positions: 9 slices of 16
        var accelerator = devices.Accelerator(IlgpuCpuDevices.Warp4By4);
        var tiling = IlgpuConvTiling.For(accelerator.MaxNumThreadsPerGroup, accelerator.MaxSharedMemoryPerGroup, accelerator.WarpSize, 1)!.Square;
        var (x, _, _, dy) = Inputs(c, 800);
        var initial = RandomArrays.Uniform(804, c.Cout * c.Cin * c.K * c.K);
        int length = c.N * c.Ho * c.Wo, slices = (length + tiling.Depth - 1) / tiling.Depth;
        int splitLength = (slices + splits - 1) / splits * tiling.Depth;
        Assert.Equal(splits, (length + splitLength - 1) / splitLength); // every split has work
        int tileGroups = (c.Cout + tiling.BlockM - 1) / tiling.BlockM * ((c.Cin + tiling.BlockN - 1) / tiling.BlockN) * c.K * c.K;

        var weightKernel = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dKernels.Geometry, Conv2dTiledKernels.Tiling, int>(
            Conv2dTiledKernels.BackwardWeight);
        var sumKernel = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(Conv2dTiledKernels.SumSplits);
        using var bx = accelerator.Allocate1D(Floats(x));
        using var bdy = accelerator.Allocate1D(Floats(dy));
        using var partials = accelerator.Allocate1D(Enumerable.Repeat(float.NaN, splits * initial.Length).ToArray());
        using var dw = accelerator.Allocate1D(Enumerable.Repeat(float.NaN, initial.Length).ToArray());
        using var acc = accelerator.Allocate1D(Floats(initial));

        weightKernel(new KernelConfig(tileGroups * splits, tiling.Threads), bx.View, bdy.View, partials.View, c.Geometry(0), tiling, splitLength);
        sumKernel(initial.Length, partials.View, dw.View, splits, 0);
        sumKernel(initial.Length, partials.View, acc.View, splits, Conv2dKernels.Accumulate);
        accelerator.Synchronize();

        var expected = Conv2dBackwardWeight(x, dy, c.N, c.Cin, c.H, c.W, c.Cout, c.K, c.Pad, c.Dil);
        var magnitude = Conv2dBackwardWeight(RandomArrays.Abs(x), RandomArrays.Abs(dy), c.N, c.Cin, c.H, c.W, c.Cout, c.K, c.Pad, c.Dil);
        ArrayAssert.Close(expected, Doubles(dw.GetAsArray1D()), ArrayAssert.SumTolerance(magnitude, length), $"dw in {splits} splits");
        ArrayAssert.Close(Add(initial, expected), Doubles(acc.GetAsArray1D()),
            ArrayAssert.SumTolerance(Add(RandomArrays.Abs(initial), magnitude), length + 1), $"dw accumulate in {splits} splits");
    }

    [Fact]
    public void TiledConvolutions_GiveTheSameBitsOnEveryRunAndBackend()
    {
        // The multi-tile case twice on one backend, the split case on it and on a second backend of the same
        // device shape (the default ilgpu-cpu): a missing barrier or an order that depended on thread timing
        // would show as differing bits.
        var backend = devices.Backend(IlgpuCpuDevices.Warp4By4, tiled: true);
        using var second = DeviceSelector.Create(DeviceKind.IlgpuCpu);
        foreach (int index in new[] { 6, 7 }) // several tiles everywhere; a split dw reduction
        {
            var c = Cases[index];
            var first = RunAll(backend, c);
            var again = index == 6 ? RunAll(backend, c) : RunAll(second, c);
            for (int op = 0; op < first.Length; op++)
            {
                Assert.Equal(Bits(first[op]), Bits(again[op]));
            }
        }

        static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();
    }

    /// <summary>y, dx, dw and db of one case.</summary>
    private static float[][] RunAll(ComputeBackend backend, Case c)
    {
        var (x, w, b, dy) = Inputs(c, 900);
        var spec = new Conv2dSpec(c.Pad, c.Dil);
        using var tx = backend.Upload(x, c.N, c.Cin, c.H, c.W);
        using var tw = backend.Upload(w, c.Cout, c.Cin, c.K, c.K);
        using var tb = backend.Upload(b, c.Cout);
        using var tdy = backend.Upload(dy, c.N, c.Cout, c.Ho, c.Wo);
        using var ty = backend.Allocate(new Shape(c.N, c.Cout, c.Ho, c.Wo));
        using var tdx = backend.Allocate(new Shape(c.N, c.Cin, c.H, c.W));
        using var tdw = backend.Allocate(new Shape(c.Cout, c.Cin, c.K, c.K));
        using var tdb = backend.Allocate(new Shape(c.Cout));
        backend.Conv2dForward(tx, tw, tb, ty, spec);
        backend.Conv2dBackwardData(tdy, tw, tdx, spec, accumulate: false);
        backend.Conv2dBackwardWeight(tx, tdy, tdw, tdb, spec, accumulate: false);
        return [ty.ToArray(), tdx.ToArray(), tdw.ToArray(), tdb.ToArray()];
    }

    [Fact]
    public void Tiling_FollowsTheDeviceLimits()
    {
        // A CUDA GPU: 1024 threads, 48 KiB of shared memory, warp 32, 132 multiprocessors.
        var gpu = IlgpuConvTiling.For(1024, 48 * 1024, 32, 132)!;
        Assert.Equal((256, 64, 64, 16), (gpu.Threads, gpu.Square.BlockM, gpu.Square.BlockN, gpu.Square.Depth));
        Assert.Equal((16, 256), (gpu.Wide.BlockM, gpu.Wide.BlockN));
        Assert.Equal(gpu.Square, gpu.ForRows(17));
        Assert.Equal(gpu.Wide, gpu.ForRows(16));

        // ILGPU's default CPU device (16 threads, warp 4) and a 64-thread one; 128 threads tile 64 × 32.
        Assert.Equal((16, 16, 16), Tile(IlgpuConvTiling.For(16, int.MaxValue, 4, 1)!.Square));
        Assert.Equal((64, 32, 32), Tile(IlgpuConvTiling.For(64, int.MaxValue, 4, 1)!.Square));
        Assert.Equal((128, 64, 32), Tile(IlgpuConvTiling.For(128, int.MaxValue, 32, 1)!.Square));
        Assert.Equal((64, 16, 64), Tile(IlgpuConvTiling.For(64, int.MaxValue, 4, 1)!.Wide));

        // No tile: too few threads, shared memory under the kernels' 17 KiB, or a group smaller than a warp.
        Assert.Null(IlgpuConvTiling.For(8, int.MaxValue, 4, 1));
        Assert.Null(IlgpuConvTiling.For(1024, 16 * 1024, 32, 1));
        Assert.Null(IlgpuConvTiling.For(1024, 48 * 1024, 512, 1));

        foreach (int threads in new[] { 16, 32, 64, 128, 256, 1024 })
        {
            var t = IlgpuConvTiling.For(threads, int.MaxValue, 4, 1)!;
            Assert.True(t.Square.IsValid && t.Wide.IsValid && t.Square.Threads == t.Wide.Threads, $"{threads} threads");
        }

        Assert.Equal(16, devices.Backend(IlgpuCpuDevices.Warp4By4, tiled: true).ConvTiling!.Threads);
        Assert.Equal(64, devices.Backend(IlgpuCpuDevices.Warp4By16, tiled: true).ConvTiling!.Threads);
        Assert.Null(devices.Backend(IlgpuCpuDevices.Warp4By4, tiled: false).ConvTiling);

        static (int Threads, int M, int N) Tile(Conv2dTiledKernels.Tiling t) => (t.Threads, t.BlockM, t.BlockN);
    }

    [Fact]
    public void WeightSplits_CoverTheReductionInWholeSlices()
    {
        var cpu = IlgpuConvTiling.For(16, int.MaxValue, 4, 1)!;
        // The 1×1 case of Cases on the 16-thread device: one tile group, 288 positions, so the reduction splits.
        var (splits, splitLength) = cpu.WeightSplits(1, 2 * 12 * 12);
        Assert.Equal((4, 80), (splits, splitLength));

        var gpu = IlgpuConvTiling.For(1024, 48 * 1024, 32, 132)!;
        foreach (var (tileGroups, length) in new[] { (36, 8 * 64 * 64), (1, 17), (4, 100_000), (10_000, 50_000), (1, 1) })
        {
            var (s, l) = gpu.WeightSplits(tileGroups, length);
            Assert.InRange(s, 1, IlgpuConvTiling.MaxSplits);
            Assert.Equal(0, l % IlgpuConvTiling.Depth);
            Assert.True((long)s * l >= length && (long)(s - 1) * l < length, $"{s} splits of {l} for {length}");
        }

        Assert.Equal(1, gpu.WeightSplits(10_000, 50_000).Splits); // enough tiles already
        Assert.True(gpu.WeightSplits(36, 8 * 64 * 64).Splits > 1);  // NCSNv2 128→128 3×3 at 64×64, batch 8
    }

    [Fact]
    public void TiledConvKernels_KeepTheirRegisterBlocksOutOfLocalMemory()
    {
        // The 4 × 4 accumulators are sixteen scalars so that they live in registers; a .local array in the PTX
        // would mean every multiply-add goes through (cached) device memory.
        using var context = Context.Create(b => IlgpuBackend.ConfigureKernelCompilation(b).DefaultCPU());
        using var ptx = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90, CudaInstructionSet.ISA_80, nvvmAPI: null);
        foreach (var name in new[] { nameof(Conv2dTiledKernels.Forward), nameof(Conv2dTiledKernels.BackwardData), nameof(Conv2dTiledKernels.BackwardWeight) })
        {
            var entry = EntryPointDescription.FromExplicitlyGroupedKernel(typeof(Conv2dTiledKernels).GetMethod(name)!);
            var assembly = ((PTXCompiledKernel)ptx.Compile(entry, KernelSpecialization.Empty)).PTXAssembly;
            Assert.DoesNotContain(".local", assembly, StringComparison.Ordinal);
            Assert.Contains(".shared", assembly, StringComparison.Ordinal);
        }
    }

    private ComputeBackend Backend(string device, bool tiled)
    {
        var backend = devices.Backend(device, tiled);
        Assert.Equal(tiled, backend.ConvTiling is not null);
        return backend;
    }

    private static string What(string device, bool tiled, string op, Case c) => $"{device} {(tiled ? "tiled" : "direct")} conv {op} {c}";

    private static float[] Floats(double[] values) => values.Select(v => (float)v).ToArray();

    private static double[] Doubles(float[] values) => values.Select(v => (double)v).ToArray();
}
