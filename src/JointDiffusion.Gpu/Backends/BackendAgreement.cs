using JointDiffusion.Gpu.Tensors;
using JointDiffusion.Kernels;

namespace JointDiffusion.Gpu.Backends;

/// <summary>
/// Runs every op of the op interface on two backends with the same random inputs and reports the largest
/// difference of each output, relative to the output's largest magnitude. This is how a user checks that
/// a GPU gives the numbers of the CPU backend (<c>jointdiff selftest</c>), and how the tests check that
/// the two CPU backends agree.
/// </summary>
public static class BackendAgreement
{
    /// <summary>One compared output.</summary>
    /// <param name="Op">Op and output name.</param>
    /// <param name="Shape">Shape of the compared output.</param>
    /// <param name="RelativeError">max |a − b| / max |b|.</param>
    /// <param name="Tolerance">The bound this output must meet.</param>
    public sealed record Result(string Op, string Shape, double RelativeError, double Tolerance)
    {
        /// <summary>Whether the error is within tolerance.</summary>
        public bool Passed => RelativeError <= Tolerance;
    }

    /// <summary>Problem sizes: tiny for the ILGPU CPU simulator, NCSNv2-like for real devices.</summary>
    /// <param name="Batch">Batch size.</param>
    /// <param name="Channels">Channels of conv and norm layers.</param>
    /// <param name="Size">Height and width.</param>
    public sealed record Sizes(int Batch, int Channels, int Size)
    {
        /// <summary>Small enough for ILGPU's CPU accelerator (a slow simulator).</summary>
        public static Sizes Tiny => new(2, 5, 6);

        /// <summary>Typical NCSNv2 layer sizes (ngf 32 at 32×32).</summary>
        public static Sizes Network => new(2, 32, 32);
    }

    /// <summary>
    /// Compares <paramref name="candidate"/> against <paramref name="reference"/> on every op. Tolerances:
    /// float32 results that sum K products differ by rounding order only, about √K·6e-8 relative; 1e-4
    /// leaves room for K in the thousands and for a device's fused multiply-adds. Exponentials (ELU, the
    /// Box–Muller transform) may use the device's own math library: 1e-5.
    /// </summary>
    public static IReadOnlyList<Result> Compare(ComputeBackend candidate, ComputeBackend reference, Sizes sizes, ulong seed = 1)
    {
        var run = new Runner(candidate, reference, seed);
        int n = sizes.Batch, c = sizes.Channels, s = sizes.Size;
        foreach (var (k, dil, cin, cout, bias) in new[] { (3, 1, c, c, true), (3, 2, c, c + 1, true), (3, 4, 3, c, false), (1, 1, c, 3, true) })
        {
            var spec = Conv2dSpec.Same(k, dil);
            var xs = Shape.Nchw(n, cin, s, s);
            var ws = new Shape(cout, cin, k, k);
            var ys = Shape.Nchw(n, cout, spec.OutputSize(s, k), spec.OutputSize(s, k));
            string tag = $"conv2d k{k} d{dil}";
            run.Op($"{tag} forward", [xs, ws, new Shape(cout)], ys, (b, i, o) => b.Conv2dForward(i[0], i[1], bias ? i[2] : null, o, spec));
            run.Op($"{tag} backward_data", [ys, ws], xs, (b, i, o) => b.Conv2dBackwardData(i[0], i[1], o, spec, false));
            run.Op($"{tag} backward_weight", [xs, ys], ws, (b, i, o) => b.Conv2dBackwardWeight(i[0], i[1], o, null, spec, false));
            run.Op($"{tag} backward_bias", [xs, ys], new Shape(cout), (b, i, o) => b.Conv2dBackwardWeight(i[0], i[1], null, o, spec, true));
        }

        var img = Shape.Nchw(n, c, s, s);
        var vec = new Shape(c);
        var stats = new Shape(n, InstanceNormStats.PerSample(c));
        run.Op("instance_norm forward", [img, vec, vec, vec], img, (b, i, o) =>
        {
            using var st = b.Allocate(stats);
            b.InstanceNorm2dPlus(i[0], i[1], i[2], i[3], o, st);
        });
        // ELU passes the norm's differences on unamplified (|ELU'| ≤ 1) and adds its exp's 1e-5: within the 1e-4.
        run.Op("instance_norm forward elu", [img, vec, vec, vec], img, (b, i, o) =>
        {
            using var st = b.Allocate(stats);
            b.InstanceNorm2dPlus(i[0], i[1], i[2], i[3], o, st, elu: true);
        });
        foreach (var which in new[] { "dx", "dalpha", "dgamma", "dbeta" })
        {
            run.Op($"instance_norm backward {which}", [img, img, vec, vec, vec], which == "dx" ? img : vec, (b, i, o) =>
            {
                using var st = b.Allocate(stats);
                using var y = b.Allocate(img);
                b.InstanceNorm2dPlus(i[0], i[2], i[3], i[4], y, st);
                b.InstanceNorm2dPlusBackward(i[0], i[1], i[2], i[3], st,
                    which == "dx" ? o : null, which == "dalpha" ? o : null, which == "dgamma" ? o : null, which == "dbeta" ? o : null, false);
            });
        }

        run.Op("elu forward", [img], img, (b, i, o) => b.Elu(i[0], o), 1e-5);
        run.Op("elu backward", [img, img], img, (b, i, o) => b.EluBackward(i[0], i[1], o, false), 1e-5);
        // Inputs in [−0.5, 1.5] are ELU outputs (≥ −1); no exp, so the default tolerance.
        run.Op("elu backward from output", [img, img], img, (b, i, o) => b.EluBackwardFromOutput(i[0], i[1], o, false));
        var half = Shape.Nchw(n, c, s / 2, s / 2);
        run.Op("mean_pool forward", [img], half, (b, i, o) => b.MeanPool2x2(i[0], o));
        run.Op("mean_pool backward", [half], img, (b, i, o) => b.MeanPool2x2Backward(i[0], o, false));
        run.Op("max_pool forward", [img], img, (b, i, o) => b.MaxPool2d(i[0], o, 5));
        run.Op("max_pool backward", [img, img], img, (b, i, o) => b.MaxPool2dBackward(i[0], i[1], o, 5, false));
        var up = Shape.Nchw(n, c, 2 * s, 2 * s);
        run.Op("bilinear forward", [img], up, (b, i, o) => b.BilinearResize(i[0], o));
        run.Op("bilinear backward", [up], img, (b, i, o) => b.BilinearResizeBackward(i[0], o, false));
        run.Op("add", [img, img], img, (b, i, o) => b.Add(i[0], i[1], o));
        run.Op("affine", [img], img, (b, i, o) => b.Affine(i[0], 2f, -1f, o));
        run.Op("axpy", [img, img], img, (b, i, o) =>
        {
            b.Copy(i[1], o);
            b.Axpy(0.5f, i[0], o);
        });
        run.Op("scale_per_sample", [img, new Shape(n)], img, (b, i, o) => b.ScalePerSample(i[0], i[1], o));
        run.Op("axpy_per_sample", [img, new Shape(n), img], img, (b, i, o) =>
        {
            b.Copy(i[2], o);
            b.AxpyPerSample(-1.5f, i[1], i[0], o);
        });
        var sample = new Shape(c, s, s);
        run.Op("multiply_broadcast", [img, sample], img, (b, i, o) => b.MultiplyBroadcast(i[0], i[1], o));
        run.Op("add_broadcast", [img, sample], img, (b, i, o) => b.AddBroadcast(i[0], -1.5f, i[1], o));
        // A compressed-sensing operator that halves an RGB image (at 32×32 the sampler's 1536 × 3072).
        var rgb = Shape.Nchw(n, 3, s, s);
        var measurements = new Shape(n, 3 * s * s / 2);
        var matrix = new Shape(measurements[1], 3 * s * s);
        run.Op("matvec", [matrix, rgb], measurements, (b, i, o) => b.MatVec(i[0], i[1], o, false));
        run.Op("matvec transpose", [matrix, measurements], rgb, (b, i, o) => b.MatVec(i[0], i[1], o, true));
        run.Op("sum", [img], new Shape(1), (b, i, o) => b.Sum(i[0], o));
        run.Op("dot", [img, img], new Shape(1), (b, i, o) => b.Dot(i[0], i[1], o));
        run.Op("norm_per_sample", [img], new Shape(n), (b, i, o) => b.NormPerSample(i[0], o));
        run.Op("adam", [img, img, img, img], img, (b, i, o) =>
        {
            // v must be ≥ 0: inputs lie in [−0.5, 1.5], so 0.5·x + 1 does.
            b.Copy(i[0], o);
            using var v = b.Allocate(img);
            b.Affine(i[3], 0.5f, 1f, v);
            b.AdamUpdate(o, i[1], i[2], v, JointDiffusion.Kernels.AdamStep.At(3, 1e-2f));
        });
        run.Op("gaussian", [], img, (b, _, o) => b.FillGaussian(o, seed, 12345), 1e-5);
        run.Op("gaussian blocks", [], img, (b, _, o) =>
        {
            using var seeds = b.FromHost(ComputeBackend.SeedBits([.. Enumerable.Range(0, n).Select(k => seed + 977UL * (ulong)k)]), new Shape(2 * n));
            b.FillGaussianBlocks(o, seeds, 12345);
        }, 1e-5);
        return run.Results;
    }

    private sealed class Runner(ComputeBackend candidate, ComputeBackend reference, ulong seed)
    {
        private ulong _stream;

        public List<Result> Results { get; } = [];

        public void Op(string name, Shape[] inputs, Shape output, Action<ComputeBackend, Tensor[], Tensor> op, double tolerance = 1e-4)
        {
            var host = inputs.Select(RandomData).ToArray();
            var a = Evaluate(candidate, host, inputs, output, op);
            var b = Evaluate(reference, host, inputs, output, op);
            double maxDiff = 0, maxRef = 0;
            for (int i = 0; i < a.Length; i++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs((double)a[i] - b[i]));
                maxRef = Math.Max(maxRef, Math.Abs((double)b[i]));
                if (!float.IsFinite(a[i]))
                {
                    maxDiff = double.PositiveInfinity;
                }
            }

            Results.Add(new Result(name, output.ToString(), maxDiff / Math.Max(maxRef, 1e-30), tolerance));
        }

        private float[] RandomData(Shape s)
        {
            var data = new float[s.Length];
            for (int i = 0; i < data.Length; i++)
            {
                // Uniform values have no ties (24 random bits), so max-pool windows have one clear maximum.
                data[i] = 2f * Philox.Uniform(seed, _stream + (ulong)i) - 0.5f;
            }

            _stream += (ulong)data.Length;
            return data;
        }

        private static float[] Evaluate(ComputeBackend backend, float[][] host, Shape[] shapes, Shape output, Action<ComputeBackend, Tensor[], Tensor> op)
        {
            var inputs = host.Select((d, i) => backend.FromHost(d, shapes[i])).ToArray();
            using var o = backend.Zeros(output);
            try
            {
                op(backend, inputs, o);
                return o.ToArray();
            }
            finally
            {
                foreach (var t in inputs)
                {
                    t.Dispose();
                }
            }
        }
    }
}
