using JointDiffusion.Gpu.Autodiff;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Backends.Simd;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Tests.Autodiff;

/// <summary>
/// The tape's chain rule on a small network that uses every recorded op (conv 3x3 and 1x1, InstanceNorm++,
/// ELU, InstanceNorm++ fused with ELU, max pool, mean pool, bilinear upsampling, add, affine, per-sample scale), checked against
/// directional finite differences of the same backend's forward pass. The ops themselves are checked
/// against double references elsewhere; here the point is the wiring: accumulation into variables used
/// twice, skipped gradients, and the two modes (input VJP only, full parameter gradients).
/// </summary>
public sealed class TapeTests : IDisposable
{
    private const int N = 2, C = 2, F = 4, H = 8, W = 8;
    private readonly SimdBackend _backend = new();

    public void Dispose() => _backend.Dispose();

    private sealed class Net(ComputeBackend b, Random rng) : IDisposable
    {
        public readonly Tensor W1 = Rand(b, rng, new Shape(F, C, 3, 3), 0.4);
        public readonly Tensor B1 = Rand(b, rng, new Shape(F), 0.1);
        public readonly Tensor Alpha = Rand(b, rng, new Shape(F), 0.2, 1.0);
        public readonly Tensor Gamma = Rand(b, rng, new Shape(F), 0.2, 1.0);
        public readonly Tensor Beta = Rand(b, rng, new Shape(F), 0.2);
        public readonly Tensor W2 = Rand(b, rng, new Shape(C, F, 1, 1), 0.4);
        public readonly Tensor Sigma = b.FromHost([2f, 0.5f], new Shape(N));

        public Tensor[] Parameters => [W1, B1, Alpha, Gamma, Beta, W2];

        /// <summary>
        /// Builds the network on <paramref name="tape"/>; <paramref name="param"/> turns a parameter into a tape leaf.
        /// The max pool sees the (affine) input directly, whose values <see cref="SeparatedInput"/> keeps far apart,
        /// so no window changes its maximum within a finite-difference step: the function is smooth there.
        /// </summary>
        public Variable Forward(Tape tape, Variable x, Func<Tensor, Variable> param)
        {
            var h = tape.Affine(x, 2f, -1f);
            var pooled = tape.MaxPool2d(h, 5);
            var c1 = tape.Conv2d(tape.Add(h, pooled), param(W1), param(B1), Conv2dSpec.Same(3, 2));
            var n1 = tape.InstanceNorm2dPlus(c1, param(Alpha), param(Gamma), param(Beta));
            var e1 = tape.Elu(n1);
            var down = tape.MeanPool2x2(e1);
            var up = tape.BilinearResize(down, H, W);
            var r = tape.Add(up, e1);             // e1 is used twice: its gradient must accumulate
            var sum = tape.Add(r, r);             // the same variable on both sides
            // Fused norm + ELU with the first norm's parameters: their gradients accumulate over two ops.
            var f = tape.InstanceNorm2dPlusElu(sum, param(Alpha), param(Gamma), param(Beta));
            var c2 = tape.Conv2d(f, param(W2), null, Conv2dSpec.Same(1));
            return tape.ScalePerSample(c2, Sigma);
        }

        public void Dispose()
        {
            foreach (var t in Parameters)
            {
                t.Dispose();
            }

            Sigma.Dispose();
        }
    }

    private static Tensor Rand(ComputeBackend b, Random rng, Shape s, double scale, double mean = 0)
    {
        var data = new float[s.Length];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (float)(mean + scale * (2 * rng.NextDouble() - 1));
        }

        return b.FromHost(data, s);
    }

    /// <summary>
    /// An input whose values are a shuffled grid (k + ½)/L on [0, 1], L = N·C·H·W = 256: any two differ by at
    /// least 1/256 ≈ 3.9e-3, twice that after 2x − 1, far more than the 2e-3 a finite-difference step moves them.
    /// </summary>
    private Tensor SeparatedInput(Random rng)
    {
        var shape = Shape.Nchw(N, C, H, W);
        var values = Enumerable.Range(0, shape.Length).Select(k => (k + 0.5f) / shape.Length).ToArray();
        rng.Shuffle(values);
        return _backend.FromHost(values, shape);
    }

    /// <summary>Σ v·net(x) computed on the backend, summed on the host in double.</summary>
    private double Objective(Net net, Tensor x, float[] v)
    {
        using var tape = new Tape(_backend);
        var y = net.Forward(tape, tape.Input(x, false), tape.Constant);
        var out_ = y.Value.ToArray();
        double s = 0;
        for (int i = 0; i < out_.Length; i++)
        {
            s += (double)out_[i] * v[i];
        }

        return s;
    }

    private static double Dot(float[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++)
        {
            s += (double)a[i] * b[i];
        }

        return s;
    }

    [Fact]
    public void InputVjp_MatchesDirectionalFiniteDifferences()
    {
        var rng = new Random(7);
        using var net = new Net(_backend, rng);
        using var x = SeparatedInput(rng);
        using var vT = Rand(_backend, rng, Shape.Nchw(N, C, H, W), 1.0);
        var v = vT.ToArray();
        var u = Rand(_backend, rng, x.Shape, 1.0).ToArray();

        float[] vjp;
        using (var tape = new Tape(_backend))
        {
            var xv = tape.Input(x, true);
            var y = net.Forward(tape, xv, tape.Constant);
            tape.Backward(y, vT);
            vjp = xv.Grad!.ToArray();
        }

        // Central difference of the float32 forward along u. h = 1e-3 keeps the O(h²) truncation near 1e-6
        // while the float32 rounding of the objective (~1e-7 relative per output, 128 outputs) divided by 2h
        // stays near 1e-4 absolute against a derivative of order 10; 1e-3 relative covers both.
        const float h = 1e-3f;
        var xd = x.ToArray();
        double Shifted(float sign)
        {
            var shifted = xd.Select((val, i) => val + sign * h * u[i]).ToArray();
            using var xs = _backend.FromHost(shifted, x.Shape);
            return Objective(net, xs, v);
        }

        double fd = (Shifted(1) - Shifted(-1)) / (2 * h);
        double analytic = Dot(vjp, u);
        Assert.True(Math.Abs(fd - analytic) <= 1e-3 * Math.Max(1, Math.Abs(fd)), $"finite difference {fd}, tape {analytic}");
    }

    [Fact]
    public void ParameterGradients_MatchDirectionalFiniteDifferences()
    {
        var rng = new Random(11);
        using var net = new Net(_backend, rng);
        using var x = SeparatedInput(rng);
        using var vT = Rand(_backend, rng, Shape.Nchw(N, C, H, W), 1.0);
        var v = vT.ToArray();

        var grads = net.Parameters.Select(p => _backend.Zeros(p.Shape)).ToArray();
        using (var tape = new Tape(_backend))
        {
            var y = net.Forward(tape, tape.Input(x, false), p => tape.Parameter(p, grads[Array.IndexOf(net.Parameters, p)]));
            tape.Backward(y, vT);
        }

        for (int p = 0; p < grads.Length; p++)
        {
            var param = net.Parameters[p];
            var original = param.ToArray();
            var u = Rand(_backend, rng, param.Shape, 1.0).ToArray();
            const float h = 1e-3f; // as in the input test
            double Shifted(float sign)
            {
                _backend.Upload(original.Select((val, i) => val + sign * h * u[i]).ToArray(), param);
                return Objective(net, x, v);
            }

            double fd = (Shifted(1) - Shifted(-1)) / (2 * h);
            _backend.Upload(original, param);
            double analytic = Dot(grads[p].ToArray(), u);
            Assert.True(Math.Abs(fd - analytic) <= 1e-3 * Math.Max(1, Math.Abs(fd)), $"parameter {p}: finite difference {fd}, tape {analytic}");
            grads[p].Dispose();
        }
    }

    [Fact]
    public void InstanceNorm2dPlusElu_MatchesInstanceNorm2dPlusThenElu()
    {
        // The fused op against the two-op chain, values and every gradient, with the fused op's output as the root
        // (its output gradient is the seed, which the backward must leave alone). The two differ only in which exp
        // computes ELU (SimdExp on whole 512-bit vectors, .NET's on the rest, split at plane rather than chunk bounds):
        // a few ulp on y, hence on the slope y + 1, carried through the InstanceNorm++ backward whose gain here is
        // O(γ·r) ≲ 10. 1e-5 of each output's largest magnitude (≈ 170u) covers that.
        var rng = new Random(13);
        var shape = Shape.Nchw(N, F, H, W);
        using var x = Rand(_backend, rng, shape, 1.0);
        using var alpha = Rand(_backend, rng, new Shape(F), 0.2, 1.0);
        using var gamma = Rand(_backend, rng, new Shape(F), 0.2, 1.0);
        using var beta = Rand(_backend, rng, new Shape(F), 0.2);
        using var seed = Rand(_backend, rng, shape, 1.0);

        float[][] Run(bool fused)
        {
            var grads = new[] { alpha, gamma, beta }.Select(p => _backend.Zeros(p.Shape)).ToArray();
            using var tape = new Tape(_backend);
            var xv = tape.Input(x, true);
            var (a, g, b) = (tape.Parameter(alpha, grads[0]), tape.Parameter(gamma, grads[1]), tape.Parameter(beta, grads[2]));
            var y = fused ? tape.InstanceNorm2dPlusElu(xv, a, g, b) : tape.Elu(tape.InstanceNorm2dPlus(xv, a, g, b));
            tape.Backward(y, seed);
            float[][] result = [y.Value.ToArray(), y.Grad!.ToArray(), xv.Grad!.ToArray(), .. grads.Select(t => t.ToArray())];
            foreach (var t in grads)
            {
                t.Dispose();
            }

            return result;
        }

        var expected = Run(fused: false);
        var got = Run(fused: true);
        string[] names = ["y", "dy (the seed)", "dx", "dalpha", "dgamma", "dbeta"];
        for (int k = 0; k < names.Length; k++)
        {
            double tol = 1e-5 * expected[k].Max(Math.Abs);
            for (int i = 0; i < expected[k].Length; i++)
            {
                Assert.True(Math.Abs(got[k][i] - expected[k][i]) <= tol, $"{names[k]}[{i}]: fused {got[k][i]}, two ops {expected[k][i]}");
            }
        }

        Assert.Equal(seed.ToArray(), got[1]);
    }

    [Fact]
    public void InputVjpMode_RunsNoWeightGradientKernels()
    {
        var rng = new Random(3);
        using var net = new Net(_backend, rng);
        using var x = SeparatedInput(rng);
        using var seed = Rand(_backend, rng, x.Shape, 1.0);
        _backend.Profiler = new OpProfiler();
        try
        {
            using (var tape = new Tape(_backend))
            {
                var xv = tape.Input(x, true);
                tape.Backward(net.Forward(tape, xv, tape.Constant), seed);
                Assert.NotNull(xv.Grad);
            }

            Assert.Equal(0, _backend.Profiler.Calls("conv2d.backward_weight"));
            Assert.Equal(2, _backend.Profiler.Calls("conv2d.backward_data"));

            var grads = net.Parameters.Select(p => _backend.Zeros(p.Shape)).ToArray();
            using (var tape = new Tape(_backend))
            {
                var y = net.Forward(tape, tape.Input(x, false), p => tape.Parameter(p, grads[Array.IndexOf(net.Parameters, p)]));
                tape.Backward(y, seed);
            }

            Assert.Equal(2, _backend.Profiler.Calls("conv2d.backward_weight"));
            // Training mode with a constant input never needs the first conv's input gradient.
            Assert.Equal(3, _backend.Profiler.Calls("conv2d.backward_data"));
            foreach (var g in grads)
            {
                Assert.Contains(g.ToArray(), value => value != 0f);
                g.Dispose();
            }
        }
        finally
        {
            _backend.Profiler = null;
        }
    }

    [Fact]
    public void Backward_RefusesASecondRunAndAMismatchedSeed()
    {
        using var x = _backend.Zeros(Shape.Nchw(1, 2, 4, 4));
        using var wrong = _backend.Zeros(Shape.Nchw(1, 2, 2, 2));
        using var tape = new Tape(_backend);
        var y = tape.Elu(tape.Input(x, true));
        var e = Assert.Throws<ArgumentException>(() => tape.Backward(y, wrong));
        Assert.Contains("does not match the output", e.Message);
        tape.Backward(y, x);
        Assert.Throws<InvalidOperationException>(() => tape.Backward(y, x));
    }

    [Fact]
    public void Dispose_ReturnsEveryIntermediateToThePool()
    {
        var rng = new Random(5);
        using var net = new Net(_backend, rng);
        using var x = SeparatedInput(rng);
        using var seed = Rand(_backend, rng, x.Shape, 1.0);
        long before = _backend.Pool.BytesInUse;
        for (int i = 0; i < 3; i++)
        {
            using var tape = new Tape(_backend);
            var xv = tape.Input(x, true);
            tape.Backward(net.Forward(tape, xv, tape.Constant), seed);
        }

        Assert.Equal(before, _backend.Pool.BytesInUse);
        long created = _backend.Pool.BytesCreated;
        using (var tape = new Tape(_backend))
        {
            var xv = tape.Input(x, true);
            tape.Backward(net.Forward(tape, xv, tape.Constant), seed);
        }

        Assert.Equal(created, _backend.Pool.BytesCreated); // a fourth pass reuses pooled storage only
    }
}
