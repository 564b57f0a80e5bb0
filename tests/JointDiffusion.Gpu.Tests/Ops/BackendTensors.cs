using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>Moves double test data to and from backend tensors (the values are float-exact by construction).</summary>
public static class BackendTensors
{
    /// <summary>Uploads <paramref name="data"/> (rounded to float) as a tensor of the given dimensions.</summary>
    public static Tensor Upload(this ComputeBackend backend, double[] data, params int[] dims) =>
        backend.FromHost(data.Select(v => (float)v).ToArray(), new Shape(dims));

    /// <summary>A tensor whose every element is <paramref name="value"/>; NaN marks memory an overwriting op must not read.</summary>
    public static Tensor Filled(this ComputeBackend backend, float value, params int[] dims)
    {
        var t = backend.Allocate(new Shape(dims));
        backend.Fill(t, value);
        return t;
    }

    /// <summary>Downloads a tensor as doubles.</summary>
    public static double[] ToDoubles(this Tensor t) => t.ToArray().Select(v => (double)v).ToArray();
}
