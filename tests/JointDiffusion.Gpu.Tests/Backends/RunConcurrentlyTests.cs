using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Tensors;
using JointDiffusion.Gpu.Tests.Ops;

namespace JointDiffusion.Gpu.Tests.Backends;

/// <summary><see cref="ComputeBackend.RunConcurrently{TWork}"/>: every item runs once, errors surface, items keep their own memory.</summary>
[Collection(BackendCollection.Name)]
public sealed class RunConcurrentlyTests(BackendFixture fixture)
{
    /// <summary>Item i fills a tensor of its own with i + 1 through backend ops and records the sum it reads back.</summary>
    private readonly struct FillAndSum(ComputeBackend backend, double[] sums, int failAt) : IConcurrentWork
    {
        public void Run(int index)
        {
            if (index == failAt)
            {
                throw new InvalidOperationException($"item {index} failed");
            }

            using var t = backend.Allocate(new Shape(40_000));
            backend.Fill(t, index + 1);
            sums[index] = backend.Sum(t);
        }
    }

    [Theory]
    [InlineData(BackendFixture.Simd)]
    [InlineData(BackendFixture.IlgpuCpu)]
    public void EveryItemRunsOnce_WithItsOwnResult(string backendName)
    {
        var backend = fixture.Get(backendName);
        var sums = new double[5];
        backend.RunConcurrently(5, new FillAndSum(backend, sums, failAt: -1));
        Assert.Equal([40_000.0, 80_000.0, 120_000.0, 160_000.0, 200_000.0], sums);
    }

    [Theory]
    [InlineData(BackendFixture.Simd)]
    [InlineData(BackendFixture.IlgpuCpu)]
    public void AnItemsException_ReachesTheCaller(string backendName)
    {
        var backend = fixture.Get(backendName);
        var e = Assert.Throws<InvalidOperationException>(() => backend.RunConcurrently(2, new FillAndSum(backend, new double[2], failAt: 1)));
        Assert.Equal("item 1 failed", e.Message);
    }

    /// <summary>
    /// On the SIMD backend the items rent from pools of their own, kept from call to call: the backend's pool creates
    /// nothing for them. (That the items then allocate nothing after the first call is what the sampling allocation
    /// tests check, with two networks as the items.)
    /// </summary>
    [Fact]
    public void SimdItems_UseTheirOwnPools_AndReuseThem()
    {
        using var backend = new JointDiffusion.Gpu.Backends.Simd.SimdBackend();
        var sums = new double[2];
        long shared = backend.Pool.BytesCreated;
        backend.RunConcurrently(2, new FillAndSum(backend, sums, failAt: -1));
        Assert.Equal(shared, backend.Pool.BytesCreated);

        for (int i = 0; i < 5; i++)
        {
            backend.RunConcurrently(2, new FillAndSum(backend, sums, failAt: -1));
        }

        Assert.Equal(shared, backend.Pool.BytesCreated);
        Assert.Equal([40_000.0, 80_000.0], sums);
    }
}
