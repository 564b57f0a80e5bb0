using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Backends.Ilgpu;
using JointDiffusion.Gpu.Backends.Simd;

namespace JointDiffusion.Gpu.Tests.Backends;

/// <summary>
/// <c>--device</c> parsing, device listing, the auto choice and the errors for a forced device that is absent.
/// Tests that depend on the machine's GPUs check whichever answer this machine must give.
/// </summary>
public sealed class DeviceSelectorTests
{
    [Theory]
    [InlineData("auto", DeviceKind.Auto)]
    [InlineData("cpu", DeviceKind.Cpu)]
    [InlineData("simd", DeviceKind.Cpu)]
    [InlineData("ilgpu-cpu", DeviceKind.IlgpuCpu)]
    [InlineData("cuda", DeviceKind.Cuda)]
    [InlineData(" OpenCL ", DeviceKind.OpenCL)]
    [InlineData("CUDA", DeviceKind.Cuda)]
    public void Parse_AcceptsEveryDocumentedSpelling(string text, DeviceKind expected) =>
        Assert.Equal(expected, DeviceSelector.Parse(text));

    [Theory]
    [InlineData("gpu")]
    [InlineData("")]
    [InlineData("cuda0")]
    [InlineData("ilgpu")]
    public void Parse_RejectsUnknownNames_ListingTheChoices(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => DeviceSelector.Parse(text));
        Assert.Contains(DeviceSelector.Choices, e.Message, StringComparison.Ordinal);
        Assert.Contains($"'{text}'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DeviceKind.Auto)]
    [InlineData(DeviceKind.Cpu)]
    [InlineData(DeviceKind.IlgpuCpu)]
    [InlineData(DeviceKind.Cuda)]
    [InlineData(DeviceKind.OpenCL)]
    public void Name_ParsesBackToTheSameKind(DeviceKind kind) =>
        Assert.Equal(kind, DeviceSelector.Parse(DeviceSelector.Name(kind)));

    [Fact]
    public void ListDevices_IncludesTheUsableSimdAndIlgpuCpuBackends()
    {
        var devices = DeviceSelector.ListDevices();
        Assert.Contains(devices, d => d.Kind == DeviceKind.Cpu && d.Usable && d.WhyNot is null);
        Assert.Contains(devices, d => d.Kind == DeviceKind.IlgpuCpu && d.Usable);
        Assert.All(devices.Where(d => !d.Usable), d => Assert.False(string.IsNullOrWhiteSpace(d.WhyNot)));
    }

    [Fact]
    public void Create_Cpu_GivesTheSimdBackend()
    {
        using var backend = DeviceSelector.Create(DeviceKind.Cpu);
        Assert.IsType<SimdBackend>(backend);
        Assert.Equal("cpu", backend.Name);
    }

    [Fact]
    public void Create_IlgpuCpu_GivesTheIlgpuBackendOnItsCpuAccelerator()
    {
        using var backend = DeviceSelector.Create(DeviceKind.IlgpuCpu);
        Assert.IsType<IlgpuBackend>(backend);
        Assert.Equal(DeviceKind.IlgpuCpu, backend.Kind);
        Assert.Equal("ilgpu-cpu", backend.Name);
        Assert.Contains("CPU", backend.Description, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DeviceKind.Cuda, "CUDA")]
    [InlineData(DeviceKind.OpenCL, "OpenCL")]
    public void Create_ForcedGpu_OpensItWhenUsable_ElseThrowsWithAdvice(DeviceKind kind, string what)
    {
        bool present = DeviceSelector.ListDevices().Any(d => d.Kind == kind && d.Usable);
        if (present)
        {
            using var backend = DeviceSelector.Create(kind);
            Assert.Equal(kind, backend.Kind);
            return;
        }

        // On a machine without that GPU (as the CPU-only test machines) the message says what is missing and what to do.
        var e = Assert.Throws<DeviceNotFoundException>(() => DeviceSelector.Create(kind));
        Assert.Contains(what, e.Message, StringComparison.Ordinal);
        Assert.Contains($"--device {DeviceSelector.Name(kind)}", e.Message, StringComparison.Ordinal);
        Assert.Contains("--device cpu", e.Message, StringComparison.Ordinal);
        Assert.Contains("jointdiff info", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ResolveAuto_OnThisMachine_PicksCudaThenOpenClGpuThenCpu()
    {
        var devices = DeviceSelector.ListDevices();
        var (kind, reason) = DeviceSelector.ResolveAuto();
        var expected = devices.Any(d => d.Kind == DeviceKind.Cuda && d.Usable) ? DeviceKind.Cuda
            : devices.Any(d => d.Kind == DeviceKind.OpenCL && d.Usable && d.Details.StartsWith("GPU", StringComparison.Ordinal)) ? DeviceKind.OpenCL
            : DeviceKind.Cpu;
        Assert.Equal(expected, kind);
        Assert.False(string.IsNullOrWhiteSpace(reason));
        if (kind == DeviceKind.Cpu)
        {
            using var backend = DeviceSelector.Create(DeviceKind.Auto);
            Assert.IsType<SimdBackend>(backend);
        }
    }

    [Fact]
    public void ResolveAuto_WithoutGpus_PicksCpuAndSaysWhy()
    {
        var (kind, reason) = DeviceSelector.ResolveAuto([Simd, IlgpuCpu]);
        Assert.Equal(DeviceKind.Cpu, kind);
        Assert.Contains("no CUDA device", reason, StringComparison.Ordinal);
        Assert.Contains("no OpenCL GPU", reason, StringComparison.Ordinal);
        Assert.Contains("SIMD CPU backend", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ResolveAuto_PrefersCuda_ThenAUsableOpenClGpu()
    {
        var unusableCl = new DeviceDescription(DeviceKind.OpenCL, "pthread-cpu", "CPU, platform 'Portable Computing Language'", false,
            "it lacks the generic address space ILGPU needs");
        var clGpu = new DeviceDescription(DeviceKind.OpenCL, "Radeon", "GPU, platform 'AMD APP'", true, null);
        var cuda = new DeviceDescription(DeviceKind.Cuda, "H200", "139.8 GiB", true, null);
        var oldCuda = new DeviceDescription(DeviceKind.Cuda, "Kepler", "compute capability 3.5", false, "too old");

        Assert.Equal(DeviceKind.Cuda, DeviceSelector.ResolveAuto([Simd, IlgpuCpu, clGpu, cuda]).Kind);
        Assert.Equal(DeviceKind.OpenCL, DeviceSelector.ResolveAuto([Simd, IlgpuCpu, oldCuda, unusableCl, clGpu]).Kind);

        var (kind, reason) = DeviceSelector.ResolveAuto([Simd, IlgpuCpu, oldCuda, unusableCl]);
        Assert.Equal(DeviceKind.Cpu, kind);
        Assert.Contains("'Kepler' is not usable: too old", reason, StringComparison.Ordinal);
    }

    private static DeviceDescription Simd => new(DeviceKind.Cpu, "SIMD CPU backend", "2 threads", true, null);

    private static DeviceDescription IlgpuCpu => new(DeviceKind.IlgpuCpu, "ILGPU CPU accelerator", "16 threads per group", true, null);
}
