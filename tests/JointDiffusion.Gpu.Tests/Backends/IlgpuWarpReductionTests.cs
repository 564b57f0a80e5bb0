using System.Globalization;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Backends.Ilgpu;
using JointDiffusion.Gpu.Tests.Reference;
using JointDiffusion.Kernels;

namespace JointDiffusion.Gpu.Tests.Backends;

/// <summary>
/// The group reductions of the ILGPU kernels (Σx, Σa·b, per-sample norms, InstanceNorm++ plane statistics and
/// gradient sums), launched by hand on CPU accelerators of several warp sizes with groups of one warp, several
/// warps, and more warps than a warp has lanes (where the shared-memory tree takes over). Each result must equal,
/// bit for bit, the same float additions replayed on the host in the order <c>GroupReduction</c> promises —
/// per-thread strided partials, a shuffle-down tree in every warp, one slot per warp, the first warp over the
/// slots — and be the same bits on a second run; it is also checked against the exact (double) sum.
/// </summary>
/// <remarks>
/// Tolerance against the double reference: a float sum of n terms, <see cref="ArrayAssert.SumTolerance"/>
/// (2√n + 1)·u·Σ|terms| (its comment gives the random-walk argument, which holds for any association order).
/// </remarks>
public sealed class IlgpuWarpReductionTests(IlgpuCpuDevices devices) : IClassFixture<IlgpuCpuDevices>
{
    /// <summary>(device, group size, groups, elements): one warp, several, and the tree fallback.</summary>
    public static TheoryData<string, int, int, int> Launches => new()
    {
        { IlgpuCpuDevices.Warp4By4, 4, 3, 50 },     // one warp per group
        { IlgpuCpuDevices.Warp4By4, 8, 2, 100 },    // two warps
        { IlgpuCpuDevices.Warp4By4, 16, 3, 200 },   // four warps, the backend's group on ilgpu-cpu
        { IlgpuCpuDevices.Warp4By4, 16, 1, 7 },     // fewer elements than threads
        { IlgpuCpuDevices.Warp8By4, 8, 2, 70 },     // one warp of 8
        { IlgpuCpuDevices.Warp8By4, 32, 3, 300 },   // four warps of 8
        { IlgpuCpuDevices.Warp2By8, 4, 2, 30 },     // two warps of 2: as many warps as lanes
        { IlgpuCpuDevices.Warp2By8, 16, 2, 90 },    // eight warps of 2: more warps than lanes, tree fallback
    };

    [Theory]
    [MemberData(nameof(Launches))]
    public void SumPartials_AddsInTheWarpOrder_AndMatchesTheExactSum(string device, int groupSize, int groups, int length)
    {
        var accelerator = devices.Accelerator(device);
        var x = Floats(RandomArrays.Uniform(11, length));
        var kernel = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>>(ReductionKernels.SumPartials);
        using var bx = accelerator.Allocate1D(x);
        using var partials = accelerator.Allocate1D<float>(groups);

        float[] Run()
        {
            partials.MemSetToZero();
            kernel(new KernelConfig(groups, groupSize), bx.View, partials.View);
            accelerator.Synchronize();
            return partials.GetAsArray1D();
        }

        var first = Run();
        var second = Run();

        var expected = Enumerable.Range(0, groups)
            .Select(g => GroupSum(ThreadPartials(g, groupSize, groups, length, i => x[i]), accelerator.WarpSize)).ToArray();
        AssertBits(expected, first, $"{device} SumPartials T={groupSize} against the host replay");
        AssertBits(first, second, $"{device} SumPartials T={groupSize} second run");
        AssertTotal(x.Sum(v => (double)v), x.Sum(v => Math.Abs((double)v)), length, first, "SumPartials");
    }

    [Theory]
    [MemberData(nameof(Launches))]
    public void DotPartials_AddsInTheWarpOrder_AndMatchesTheExactDot(string device, int groupSize, int groups, int length)
    {
        var accelerator = devices.Accelerator(device);
        var a = Floats(RandomArrays.Uniform(21, length));
        var b = Floats(RandomArrays.Uniform(22, length));
        var kernel = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>>(ReductionKernels.DotPartials);
        using var ba = accelerator.Allocate1D(a);
        using var bb = accelerator.Allocate1D(b);
        using var partials = accelerator.Allocate1D<float>(groups);

        float[] Run()
        {
            partials.MemSetToZero();
            kernel(new KernelConfig(groups, groupSize), ba.View, bb.View, partials.View);
            accelerator.Synchronize();
            return partials.GetAsArray1D();
        }

        var first = Run();
        var second = Run();

        var expected = Enumerable.Range(0, groups)
            .Select(g => GroupSum(ThreadPartials(g, groupSize, groups, length, i => a[i] * b[i]), accelerator.WarpSize)).ToArray();
        AssertBits(expected, first, $"{device} DotPartials T={groupSize} against the host replay");
        AssertBits(first, second, $"{device} DotPartials T={groupSize} second run");
        AssertTotal(a.Select((v, i) => (double)v * b[i]).Sum(), a.Select((v, i) => Math.Abs((double)v * b[i])).Sum(), length, first, "DotPartials");
    }

    [Theory]
    [MemberData(nameof(Launches))]
    public void NormPerSample_AddsInTheWarpOrder_AndMatchesTheExactNorm(string device, int groupSize, int samples, int perSample)
    {
        var accelerator = devices.Accelerator(device);
        var x = Floats(RandomArrays.Uniform(31, samples * perSample));
        var kernel = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int>(ReductionKernels.NormPerSample);
        using var bx = accelerator.Allocate1D(x);
        using var result = accelerator.Allocate1D<float>(samples);

        float[] Run()
        {
            result.MemSetToZero();
            kernel(new KernelConfig(samples, groupSize), bx.View, result.View, perSample);
            accelerator.Synchronize();
            return result.GetAsArray1D();
        }

        var first = Run();
        var second = Run();

        var expected = Enumerable.Range(0, samples).Select(n =>
            MathF.Sqrt(GroupSum(PlanePartials(groupSize, perSample, i => x[n * perSample + i] * x[n * perSample + i]), accelerator.WarpSize))).ToArray();
        AssertBits(expected, first, $"{device} NormPerSample T={groupSize} against the host replay");
        AssertBits(first, second, $"{device} NormPerSample T={groupSize} second run");
        var reference = ReferenceOps.NormPerSample(x.Select(v => (double)v).ToArray(), samples);
        // ‖x‖ = √S: the relative error of S halves under the square root, plus one rounding of the root.
        var tolerance = reference.Select(r => ((2 * Math.Sqrt(perSample) + 1) / 2 + 1) * ArrayAssert.FloatEps * r).ToArray();
        ArrayAssert.Close(reference, first.Select(v => (double)v).ToArray(), tolerance, "NormPerSample against the double reference");
    }

    [Theory]
    [MemberData(nameof(Launches))]
    public void InstanceNormPlaneStatistics_AddInTheWarpOrder_AndMatchTheReference(string device, int groupSize, int planes, int planeSize)
    {
        var accelerator = devices.Accelerator(device);
        // Two channels per sample (InstanceNorm++ needs C ≥ 2), so `planes` groups cover ⌈planes/2⌉ samples.
        int channels = 2, batch = (planes + 1) / 2;
        var x = Floats(RandomArrays.ChannelOffsetScaled(41, batch, channels, planeSize, 0.2, 1.0));
        var g = new InstanceNormKernels.Geometry(batch, channels, planeSize, InstanceNormStats.Epsilon, 0);
        var kernel = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, InstanceNormKernels.Geometry>(InstanceNormKernels.PlaneStatistics);
        using var bx = accelerator.Allocate1D(x);
        using var stats = accelerator.Allocate1D<float>(batch * g.StatsPerSample);

        float[] Run()
        {
            stats.MemSetToZero();
            kernel(new KernelConfig(batch * channels, groupSize), bx.View, stats.View, g);
            accelerator.Synchronize();
            return stats.GetAsArray1D();
        }

        var first = Run();
        var second = Run();

        var expected = new float[first.Length];
        for (int plane = 0; plane < batch * channels; plane++)
        {
            int offset = plane * planeSize, o = plane / channels * g.StatsPerSample, c = plane % channels;
            float mean = GroupSum(PlanePartials(groupSize, planeSize, i => x[offset + i]), accelerator.WarpSize) / planeSize;
            float variance = GroupSum(PlanePartials(groupSize, planeSize, i => (x[offset + i] - mean) * (x[offset + i] - mean)), accelerator.WarpSize) / planeSize;
            expected[o + c] = mean;
            expected[o + channels + c] = 1f / MathF.Sqrt(variance + g.Epsilon);
        }

        AssertBits(expected, first, $"{device} PlaneStatistics T={groupSize} against the host replay");
        AssertBits(first, second, $"{device} PlaneStatistics T={groupSize} second run");

        // μ and r only: m and ρ belong to SampleStatistics, not launched here. A mean of n terms is within
        // SumTolerance/n; r = (s² + ε)^(−1/2) moves by half the relative error of s², itself a sum of n squares.
        var reference = ReferenceOps.InstanceNorm2dPlusStats(x.Select(v => (double)v).ToArray(), batch, channels, 1, planeSize);
        for (int n = 0; n < batch; n++)
        {
            for (int c = 0; c < channels; c++)
            {
                int o = n * g.StatsPerSample, offset = (n * channels + c) * planeSize;
                double magnitude = Enumerable.Range(0, planeSize).Sum(i => Math.Abs((double)x[offset + i])) / planeSize;
                double bound = (2 * Math.Sqrt(planeSize) + 2) * ArrayAssert.FloatEps;
                Assert.True(Math.Abs(first[o + c] - reference[o + c]) <= bound * magnitude, Say($"μ[{n},{c}] = {first[o + c]:R} vs {reference[o + c]:R}"));
                Assert.True(Math.Abs(first[o + channels + c] - reference[o + channels + c]) <= 4 * bound * reference[o + channels + c],
                    Say($"r[{n},{c}] = {first[o + channels + c]:R} vs {reference[o + channels + c]:R}"));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Launches))]
    public void InstanceNormPlaneGradientSums_AddInTheWarpOrder_AndMatchTheExactSums(string device, int groupSize, int planes, int planeSize)
    {
        var accelerator = devices.Accelerator(device);
        int channels = 2, batch = (planes + 1) / 2, count = batch * channels;
        var x = Floats(RandomArrays.ChannelOffsetScaled(51, batch, channels, planeSize, 0.2, 1.0));
        var dy = Floats(RandomArrays.Uniform(52, x.Length));
        var g = new InstanceNormKernels.Geometry(batch, channels, planeSize, InstanceNormStats.Epsilon, 0);
        // Any statistics will do for the sums: exact, representable ones from the double reference.
        var stats = Floats(ReferenceOps.InstanceNorm2dPlusStats(x.Select(v => (double)v).ToArray(), batch, channels, 1, planeSize));
        var kernel = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, InstanceNormKernels.Geometry>(
            InstanceNormKernels.PlaneGradientSums);
        using var bx = accelerator.Allocate1D(x);
        using var bdy = accelerator.Allocate1D(dy);
        using var bstats = accelerator.Allocate1D(stats);
        using var sums = accelerator.Allocate1D<float>(2 * count);

        float[] Run()
        {
            sums.MemSetToZero();
            kernel(new KernelConfig(count, groupSize), bx.View, bdy.View, bstats.View, sums.View, g);
            accelerator.Synchronize();
            return sums.GetAsArray1D();
        }

        var first = Run();
        var second = Run();

        var expected = new float[2 * count];
        var exact = new double[2 * count];
        var magnitude = new double[2 * count];
        for (int plane = 0; plane < count; plane++)
        {
            int offset = plane * planeSize, o = plane / channels * g.StatsPerSample, c = plane % channels;
            float mu = stats[o + c], rstd = stats[o + channels + c];
            expected[2 * plane] = GroupSum(PlanePartials(groupSize, planeSize, i => dy[offset + i]), accelerator.WarpSize);
            expected[2 * plane + 1] = GroupSum(PlanePartials(groupSize, planeSize, i => dy[offset + i] * (x[offset + i] - mu) * rstd), accelerator.WarpSize);
            for (int i = 0; i < planeSize; i++)
            {
                double d = dy[offset + i], h = ((double)x[offset + i] - mu) * rstd;
                exact[2 * plane] += d;
                exact[2 * plane + 1] += d * h;
                magnitude[2 * plane] += Math.Abs(d);
                magnitude[2 * plane + 1] += Math.Abs(d * h);
            }
        }

        AssertBits(expected, first, $"{device} PlaneGradientSums T={groupSize} against the host replay");
        AssertBits(first, second, $"{device} PlaneGradientSums T={groupSize} second run");
        // Each term d·(x − μ)·r carries three roundings of its own besides the sum's.
        ArrayAssert.Close(exact, first.Select(v => (double)v).ToArray(), ArrayAssert.SumTolerance(magnitude, planeSize + 3), "PlaneGradientSums");
    }

    [Fact]
    public void GroupSums_CompileToShufflesForCuda_AndToNoShuffleForOpenCl()
    {
        var method = typeof(ReductionKernels).GetMethod(nameof(ReductionKernels.SumPartials))!;
        var entry = EntryPointDescription.FromExplicitlyGroupedKernel(method);
        using var context = Context.Create(b => IlgpuBackend.ConfigureKernelCompilation(b).DefaultCPU());
        using var ptx = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_61), CudaArchitecture.SM_61, CudaInstructionSet.ISA_60, nvvmAPI: null);
        var cuda = ((PTXCompiledKernel)ptx.Compile(entry, KernelSpecialization.Empty)).PTXAssembly;
        Assert.Contains("shfl.sync.down", cuda, StringComparison.Ordinal);

        var capabilities = new CLCapabilityContext(float16: false, float64: false, genericAddressSpace: true, int64_Atomics: false, subGroups: false);
        using var cl = new CLBackend(context, capabilities, CLDeviceVendor.Other, CLCVersion.CL20);
        var source = ((CLCompiledKernel)cl.Compile(entry, KernelSpecialization.Empty)).Source;
        Assert.DoesNotContain("sub_group", source, StringComparison.Ordinal);
        Assert.Contains("barrier", source, StringComparison.Ordinal);
    }

    [Fact]
    public void BackendReductionGroup_IsAWholeNumberOfWarpsOnTheDefaultCpuDevice()
    {
        // ilgpu-cpu: 16 threads per group, warp 4, so the backend's reductions take the four-warp shuffle path.
        var accelerator = devices.Accelerator(IlgpuCpuDevices.Warp4By4);
        int group = IlgpuBackend.ReductionGroupSize(accelerator.MaxNumThreadsPerGroup);
        Assert.Equal(16, group);
        Assert.Equal(4, accelerator.WarpSize);
    }

    /// <summary>Thread t of group g folds x[g·T + t], x[g·T + t + G·T], … (the kernels' grid stride), in that order.</summary>
    private static float[] ThreadPartials(int group, int groupSize, int groups, int length, Func<int, float> term)
    {
        var partials = new float[groupSize];
        for (int t = 0; t < groupSize; t++)
        {
            for (int i = group * groupSize + t; i < length; i += groups * groupSize)
            {
                partials[t] += term(i);
            }
        }

        return partials;
    }

    /// <summary>Thread t of a plane's group folds elements t, t + T, … of the plane.</summary>
    private static float[] PlanePartials(int groupSize, int planeSize, Func<int, float> term)
    {
        var partials = new float[groupSize];
        for (int t = 0; t < groupSize; t++)
        {
            for (int i = t; i < planeSize; i += groupSize)
            {
                partials[t] += term(i);
            }
        }

        return partials;
    }

    /// <summary>
    /// GroupReduction's order, replayed: for a whole number of warps, at most as many as a warp has lanes, a
    /// shuffle-down tree per warp, one slot per warp and the same tree over the slots (zeros past the last warp);
    /// otherwise the shared-memory halving tree.
    /// </summary>
    private static float GroupSum(float[] perThread, int warpSize)
    {
        int threads = perThread.Length;
        if (threads % warpSize == 0 && threads <= warpSize * warpSize)
        {
            var slots = new float[warpSize];
            for (int w = 0; w < threads / warpSize; w++)
            {
                slots[w] = WarpFold(perThread.AsSpan(w * warpSize, warpSize).ToArray());
            }

            return WarpFold(slots);
        }

        var tree = (float[])perThread.Clone();
        for (int stride = threads / 2; stride > 0; stride /= 2)
        {
            for (int i = 0; i < stride; i++)
            {
                tree[i] += tree[i + stride];
            }
        }

        return tree[0];
    }

    /// <summary>Lane 0 after value += ShuffleDown(value, δ) for δ = W/2, …, 1.</summary>
    private static float WarpFold(float[] lanes)
    {
        var v = lanes;
        for (int delta = v.Length / 2; delta > 0; delta /= 2)
        {
            var next = new float[v.Length];
            for (int l = 0; l < v.Length; l++)
            {
                next[l] = v[l] + (l + delta < v.Length ? v[l + delta] : v[l]);
            }

            v = next;
        }

        return v[0];
    }

    private static string Say(FormattableString message) => message.ToString(CultureInfo.InvariantCulture);

    private static float[] Floats(double[] values) => values.Select(v => (float)v).ToArray();

    private static void AssertBits(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                Say($"{what}: element {i} is {actual[i]:R}, expected exactly {expected[i]:R}."));
        }
    }

    private static void AssertTotal(double exact, double magnitude, int terms, float[] partials, string what)
    {
        double total = partials.Sum(v => (double)v);
        double tolerance = ArrayAssert.SumTolerance([magnitude], terms)[0];
        Assert.True(Math.Abs(total - exact) <= tolerance, Say($"{what}: Σ partials {total:R} vs exact {exact:R} (tolerance {tolerance:G3})."));
    }
}
