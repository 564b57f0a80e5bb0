using ILGPU.Runtime.OpenCL;
using JointDiffusion.Cli;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Backends.Ilgpu;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Tests.Reliability;

/// <summary>
/// Out of device memory: which driver errors count as such, what the message says, the batch the CLI suggests,
/// and (on a machine with a CUDA GPU) a real allocation failure that leaves the backend usable.
/// </summary>
public sealed class DeviceOutOfMemoryTests
{
    public static TheoryData<Exception, bool> Errors => new()
    {
        { new OutOfMemoryException(), true },
        { new CLException(CLError.CL_MEM_OBJECT_ALLOCATION_FAILURE), true },
        { new CLException(CLError.CL_OUT_OF_RESOURCES), true },
        { new CLException(CLError.CL_OUT_OF_HOST_MEMORY), true },
        { new CLException(CLError.CL_INVALID_VALUE), false },
        { new ArgumentException("bad size"), false },
        { new InvalidOperationException("out of memory"), false },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void IsOutOfMemory_RecognisesTheDriversOutOfMemoryErrors_Only(Exception error, bool expected) =>
        Assert.Equal(expected, IlgpuBackend.IsOutOfMemory(error));

    [Fact]
    public void Message_SaysWhatWasAskedWhatWasHeldWhatTheDeviceHas_AndWhatToTry()
    {
        var e = new DeviceOutOfMemoryException("cuda (NVIDIA H200)", 2L << 30, 130L << 30, 139L << 30);

        Assert.Equal(
            "Out of memory on cuda (NVIDIA H200): 2.0 GiB more could not be allocated; this run already held 130.0 GiB of the device's 139.0 GiB. " +
            "Try a smaller --batch (about half), fewer samples, or a smaller image size.", e.Message);
        Assert.Equal(2L << 30, e.RequestedBytes);
        Assert.Equal(130L << 30, e.HeldBytes);
        Assert.Equal(139L << 30, e.DeviceBytes);
        Assert.DoesNotContain("device's", new DeviceOutOfMemoryException("ilgpu-cpu", 1000, 0, 0).Message);
    }

    [Theory]
    [InlineData(0L, "0 bytes")]
    [InlineData(1023L, "1023 bytes")]
    [InlineData(1536L, "1.5 KiB")]
    [InlineData(5L << 20, "5.0 MiB")]
    [InlineData(3L << 40, "3.0 TiB")]
    public void FormatBytes_UsesBinaryUnits(long bytes, string text) => Assert.Equal(text, DeviceOutOfMemoryException.FormatBytes(bytes));

    [Theory]
    [InlineData("train --data sine --steps 5 --out w.safetensors --batch 32", "hint: this run used --batch 32; try --batch 16.")]
    [InlineData("train --data sine --steps 5 --out w.safetensors", "hint: this run used --batch 32; try --batch 16.")]
    [InlineData("eval --experiment mnist-on-fashion --out o --batch 5", "hint: this run used --batch 5; try --batch 2.")]
    [InlineData("denoise --signal-prior s --noise-std 1 --input dir --out o --batch 1", "hint: --batch is already 1; try fewer samples, a smaller image size, or another --device.")]
    [InlineData("denoise --signal-prior s --noise-std 1 --input y.png --out o", "hint: try fewer images or samples at once, a smaller image size, or another --device.")]
    [InlineData("sample --weights w --out o.png", "hint: try fewer images or samples at once, a smaller image size, or another --device.")]
    public void BatchAdvice_HalvesTheBatchTheRunUsed(string commandLine, string advice)
    {
        var root = CliApp.CreateRoot(TextWriter.Null, TextWriter.Null, out _);
        var parse = root.Parse(commandLine.Split(' '));
        Assert.Empty(parse.Errors);

        Assert.Equal(advice, CliApp.BatchAdvice(parse));
    }

    /// <summary>
    /// On a CUDA GPU: allocating 4 GiB tensors until the device is full ends in a <see cref="DeviceOutOfMemoryException"/>
    /// with the sizes filled in, and after freeing them the backend allocates again. Without a usable CUDA device
    /// (as on CI) there is nothing to exhaust and the test checks only that.
    /// </summary>
    [Fact]
    public void ExhaustingACudaDevice_ThrowsTheClearException_AndTheBackendRecovers()
    {
        if (!DeviceSelector.ListDevices().Any(d => d.Kind == DeviceKind.Cuda && d.Usable))
        {
            Assert.Throws<DeviceNotFoundException>(() => DeviceSelector.Create(DeviceKind.Cuda).Dispose());
            return;
        }

        using var backend = DeviceSelector.Create(DeviceKind.Cuda);
        var held = new List<Tensor>();
        try
        {
            var e = Assert.Throws<DeviceOutOfMemoryException>(() =>
            {
                for (int i = 0; i < 1024; i++)
                {
                    held.Add(backend.Allocate(new Shape(1 << 30)));
                }
            });
            Assert.Equal(4L << 30, e.RequestedBytes);
            Assert.Equal(held.Count * (4L << 30), e.HeldBytes);
            Assert.True(e.DeviceBytes >= e.HeldBytes, e.Message);
            Assert.Contains("--batch", e.Message);
        }
        finally
        {
            held.ForEach(t => t.Dispose());
        }

        backend.Pool.Trim();
        using var again = backend.Allocate(new Shape(1 << 30));
        backend.Fill(again, 1f);
        Assert.Equal(1f, backend.Sum(again) / (1 << 30), 3);
    }
}
