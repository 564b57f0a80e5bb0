using BenchmarkDotNet.Attributes;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Benchmarks;

/// <summary>
/// The three conv passes of NCSNv2's 3x3 layers through the public <see cref="ComputeBackend"/> API, at batch 1
/// and 8. The SIMD backend ("cpu") runs on all cores and on one (<see cref="KernelBenchmarkConfig"/>); the
/// ILGPU CPU accelerator ("ilgpu-cpu") is a slow simulator, so it gets a separate job of a few iterations and
/// runs only where that backend exists.
/// </summary>
/// <remarks>Not sealed: BenchmarkDotNet derives from benchmark classes.</remarks>
[Config(typeof(KernelBenchmarkConfig))]
public class Conv2dBenchmark
{
    private static readonly Conv2dSpec Spec = Conv2dSpec.Same(ConvLayer.Kernel);

    private ComputeBackend? _backend;
    private Tensor? _x, _w, _b, _y, _dy, _dx, _dw, _db;

    /// <summary>The <c>--device</c> name of the backend ("cpu": Winograd for these layers; "cpu-direct": the direct kernels).</summary>
    [Params("cpu", BenchmarkBackends.DirectCpu, "ilgpu-cpu")]
    public string Device { get; set; } = "cpu";

    /// <summary>Images per call.</summary>
    [Params(1, 8)]
    public int Batch { get; set; }

    /// <summary>Channels and image size.</summary>
    [ParamsSource(nameof(Layers))]
    public ConvLayer Layer { get; set; }

    /// <summary>NCSNv2 (ngf 64) at 32x32: the full-resolution blocks and the 2·ngf half-resolution blocks.</summary>
    public static IEnumerable<ConvLayer> Layers => [new(64, 32), new(128, 16)];

    /// <summary>Creates the backend and random tensors (fixed seed).</summary>
    [GlobalSetup]
    public void Setup()
    {
        _backend = BenchmarkBackends.Create(Device);
        var random = new Random(1234);
        int c = Layer.Channels, s = Layer.Size, k = ConvLayer.Kernel;
        Tensor Random(Shape shape)
        {
            var data = new float[shape.Length];
            for (int i = 0; i < data.Length; i++)
            {
                data[i] = (float)(random.NextDouble() * 2 - 1);
            }

            return _backend.FromHost(data, shape);
        }

        _x = Random(Shape.Nchw(Batch, c, s, s));
        _w = Random(Shape.Nchw(c, c, k, k));
        _b = Random(new Shape(c));
        _dy = Random(Shape.Nchw(Batch, c, s, s));
        _y = _backend.Allocate(_dy.Shape);
        _dx = _backend.Allocate(_x.Shape);
        _dw = _backend.Allocate(_w.Shape);
        _db = _backend.Allocate(_b.Shape);
    }

    /// <summary>Releases the tensors and the backend.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var t in new[] { _x, _w, _b, _y, _dy, _dx, _dw, _db })
        {
            t?.Dispose();
        }

        _backend?.Dispose();
    }

    /// <summary>y = conv(x, w) + b.</summary>
    [Benchmark]
    public void Forward()
    {
        _backend!.Conv2dForward(_x!, _w!, _b, _y!, Spec);
        _backend.Synchronize();
    }

    /// <summary>dx = convᵀ(dy, w).</summary>
    [Benchmark]
    public void BackwardData()
    {
        _backend!.Conv2dBackwardData(_dy!, _w!, _dx!, Spec, accumulate: false);
        _backend.Synchronize();
    }

    /// <summary>dw = Σ dy ⊗ patches(x) and db = Σ dy (the bias sum adds under 1% of the work).</summary>
    [Benchmark]
    public void BackwardWeight()
    {
        _backend!.Conv2dBackwardWeight(_x!, _dy!, _dw, _db, Spec, accumulate: false);
        _backend.Synchronize();
    }
}
