using JointDiffusion.Gpu.Backends;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>The op tests really run on the backend their name says.</summary>
[Collection(BackendCollection.Name)]
public sealed class BackendFixtureTests(BackendFixture fixture)
{
    [Theory]
    [InlineData(BackendFixture.Simd, DeviceKind.Cpu, "cpu")]
    [InlineData(BackendFixture.IlgpuCpu, DeviceKind.IlgpuCpu, "ilgpu-cpu")]
    public void Get_ReturnsTheBackendOfThatKind_OncePerFixture(string backendName, DeviceKind kind, string name)
    {
        var backend = fixture.Get(backendName);
        Assert.Equal(kind, backend.Kind);
        Assert.Equal(name, backend.Name);
        Assert.Same(backend, fixture.Get(backendName));
    }
}
