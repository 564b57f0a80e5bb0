using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Tests.Backends;

/// <summary>
/// The ILGPU kernels (run on ILGPU's CPU accelerator) against the SIMD backend, op by op, on small random
/// shapes drawn from a fixed seed. Outputs that an op overwrites start as NaN on the ILGPU side, so an element
/// a kernel forgets to write fails the comparison; accumulated outputs start from the same random values on
/// both sides. Shapes are tiny because the CPU accelerator simulates a GPU slowly. The ILGPU side can be moved
/// to a GPU with the environment variable <see cref="BackendPairFixture.DeviceVariable"/>.
/// </summary>
public sealed class BackendAgreementTests : IClassFixture<BackendPairFixture>
{
    /// <summary>Random shapes per op.</summary>
    private const int Trials = 6;

    // Tolerances, as an absolute bound of max(1, max|reference|)·tol over an output (float32 unit roundoff
    // u = 2⁻²⁴ ≈ 6e-8):
    // - SameExpression: both backends evaluate the same float expression per element (elementwise ops, pools,
    //   the forward resize); only a fused multiply-add can move the last bit, so 1e-6 (≈ 16 u) is generous.
    // - Reassociated: outputs are sums whose terms the two backends add in different orders or precisions
    //   (conv: ≤ Cin·K² = 75 terms per output, ≤ N·Ho·Wo = 450 per weight; InstanceNorm planes ≤ 49 and
    //   channel loops; resize and max-pool backward gathers ≤ a few dozen taps, which SIMD scatters one by one
    //   into the accumulated gradient; SIMD often sums in double). With terms bounded by the
    //   output scale and the longest chain of float additions below ~160, the worst case is 160 u ≈ 1e-5.
    // - DeviceMath: ops built on exp, log, sin or cos (ELU, Philox's Box–Muller). They agree bit for bit on
    //   the CPU accelerator, but a GPU evaluates these with hardware approximations (PTX ex2/lg2/sin/cos.approx,
    //   absolute error around 2⁻²¹ on the ranges used, times a Box–Muller radius ≤ 6), so 1e-5 leaves room for
    //   running this suite on a GPU (see BackendPairFixture).
    // - Reductions (Sum, Dot) compare against 1e-5·Σ|terms|, the same chain-length argument applied to the
    //   magnitudes actually summed, since a total can cancel to far below its terms.
    // On the CPU accelerator the largest measured |diff|/tolerance is 0.03 (InstanceNorm) and ≤ 0.012 for the
    // rest; the SameExpression and DeviceMath ops agree bit for bit there.
    private const double SameExpression = 1e-6;
    private const double Reassociated = 1e-5;
    private const double DeviceMath = 1e-5;

    private readonly BackendPairFixture _backends;

    /// <summary>Receives the shared backends.</summary>
    public BackendAgreementTests(BackendPairFixture backends) => _backends = backends;

    /// <summary>Every op of <see cref="ComputeBackend"/> (conv included: it needs the SIMD conv to be implemented).</summary>
    public static TheoryData<string> Ops => new()
    {
        "Fill", "Copy", "Add", "Affine", "Axpy", "ScalePerSample", "AxpyPerSample", "MultiplyBroadcast", "AddBroadcast",
        "MatVec", "MatVecTransposed",
        "Elu", "EluBackward", "EluBackwardFromOutput", "MeanPool2x2", "MeanPool2x2Backward", "MaxPool2d", "MaxPool2dBackward",
        "BilinearResize", "BilinearResizeBackward", "InstanceNorm2dPlus", "InstanceNorm2dPlusElu", "InstanceNorm2dPlusBackward",
        "Sum", "Dot", "NormPerSample", "FillGaussian",
        "Conv2dForward", "Conv2dBackwardData", "Conv2dBackwardWeight",
    };

    private enum Role
    {
        /// <summary>Read only; not compared.</summary>
        Input,

        /// <summary>Written by the op: NaN beforehand on the ILGPU side, compared after.</summary>
        Overwritten,

        /// <summary>Added into (or updated in place): the same data on both sides beforehand, compared after.</summary>
        Accumulated,

        /// <summary>An optional output the op was told to skip: must keep its data exactly.</summary>
        Untouched,
    }

    /// <summary>An operand; the comparison tolerance is <c>Absolute</c> when given, else <c>Relative</c>·max(1, max|SIMD output|).</summary>
    private sealed record Operand(Shape Shape, Role Role, float[] Data, double Relative = SameExpression, double? Absolute = null);

    private sealed record Case(string Description, Operand[] Operands, Action<ComputeBackend, Tensor[]> Run);

    [Theory]
    [MemberData(nameof(Ops))]
    public void SimdAndIlgpuCpuBackends_AgreeOnRandomShapes(string op)
    {
        var rng = new Random(StableSeed(op));
        for (int trial = 0; trial < Trials; trial++)
        {
            var c = MakeCase(op, rng, trial % 2 == 1);
            Check(op, c);
        }
    }

    [Fact]
    public void IlgpuReductions_AreBitwiseReproducible()
    {
        var rng = new Random(11);
        var shape = new Shape(3, 1000);
        float[] a = Uniform(rng, shape.Length), b = Uniform(rng, shape.Length);
        var g = _backends.Ilgpu;
        using var ta = g.FromHost(a, shape);
        using var tb = g.FromHost(b, shape);
        using var norms = g.Allocate(new Shape(3));
        g.NormPerSample(ta, norms);
        float[] firstNorms = norms.ToArray();
        float sum = g.Sum(ta), dot = g.Dot(ta, tb);
        for (int repeat = 0; repeat < 3; repeat++)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits(sum), BitConverter.SingleToInt32Bits(g.Sum(ta)));
            Assert.Equal(BitConverter.SingleToInt32Bits(dot), BitConverter.SingleToInt32Bits(g.Dot(ta, tb)));
            g.NormPerSample(ta, norms);
            Assert.Equal(firstNorms, norms.ToArray());
        }
    }

    // ---------------------------------------------------------------- cases

    private Case MakeCase(string op, Random rng, bool accumulate)
    {
        Role grad = accumulate ? Role.Accumulated : Role.Overwritten;
        switch (op)
        {
            case "Fill":
            {
                var s = RandomShape(rng);
                float v = Uniform(rng);
                return new($"{s} value {v}", [Out(rng, s)], (b, t) => b.Fill(t[0], v));
            }

            case "Copy":
            {
                var s = RandomShape(rng);
                return new($"{s}", [In(rng, s), Out(rng, s)], (b, t) => b.Copy(t[0], t[1]));
            }

            case "Add":
            {
                var s = RandomShape(rng);
                // Alternate trials write into the first operand (y may alias a).
                return accumulate
                    ? new($"{s} in place", [Acc(rng, s), In(rng, s)], (b, t) => b.Add(t[0], t[1], t[0]))
                    : new($"{s}", [In(rng, s), In(rng, s), Out(rng, s)], (b, t) => b.Add(t[0], t[1], t[2]));
            }

            case "Affine":
            {
                var s = RandomShape(rng);
                float scale = 3 * Uniform(rng), shift = Uniform(rng);
                return accumulate
                    ? new($"{s} in place", [Acc(rng, s)], (b, t) => b.Affine(t[0], scale, shift, t[0]))
                    : new($"{s}", [In(rng, s), Out(rng, s)], (b, t) => b.Affine(t[0], scale, shift, t[1]));
            }

            case "Axpy":
            {
                var s = RandomShape(rng);
                float alpha = 3 * Uniform(rng);
                return new($"{s}", [In(rng, s), Acc(rng, s)], (b, t) => b.Axpy(alpha, t[0], t[1]));
            }

            case "ScalePerSample":
            {
                var s = RandomShape(rng);
                return new($"{s}", [In(rng, s), In(rng, new Shape(s.N)), Out(rng, s)], (b, t) => b.ScalePerSample(t[0], t[1], t[2]));
            }

            case "AxpyPerSample":
            {
                var s = RandomShape(rng);
                float alpha = 3 * Uniform(rng);
                return new($"{s}", [In(rng, new Shape(s.N)), In(rng, s), Acc(rng, s)], (b, t) => b.AxpyPerSample(alpha, t[0], t[1], t[2]));
            }

            case "MultiplyBroadcast":
            {
                var s = RandomShape(rng);
                var w = PerSampleShape(rng, s);
                // Alternate trials multiply in place (y may be x).
                return accumulate
                    ? new($"{s} by {w} in place", [Acc(rng, s), In(rng, w)], (b, t) => b.MultiplyBroadcast(t[0], t[1], t[0]))
                    : new($"{s} by {w}", [In(rng, s), In(rng, w), Out(rng, s)], (b, t) => b.MultiplyBroadcast(t[0], t[1], t[2]));
            }

            case "AddBroadcast":
            {
                var s = RandomShape(rng);
                var w = PerSampleShape(rng, s);
                float alpha = 3 * Uniform(rng);
                return accumulate
                    ? new($"{s} plus {alpha}·{w} in place", [Acc(rng, s), In(rng, w)], (b, t) => b.AddBroadcast(t[0], alpha, t[1], t[0]))
                    : new($"{s} plus {alpha}·{w}", [In(rng, s), In(rng, w), Out(rng, s)], (b, t) => b.AddBroadcast(t[0], alpha, t[1], t[2]));
            }

            case "MatVec":
            case "MatVecTransposed":
            {
                // m, k ≤ 48: each output sums at most 48 products, within the Reassociated chain-length bound.
                bool transpose = op == "MatVecTransposed";
                var a = new Shape(rng.Next(1, 49), rng.Next(1, 49));
                int n = rng.Next(1, 4), inLength = transpose ? a[0] : a[1], outLength = transpose ? a[1] : a[0];
                // Alternate trials give x and y extra axes: only the per-sample lengths matter.
                var x = accumulate ? new Shape(n, 1, inLength) : new Shape(n, inLength);
                var y = accumulate ? new Shape(n, outLength, 1, 1) : new Shape(n, outLength);
                return new($"A {a} x {x} y {y}", [In(rng, a), In(rng, x), Out(rng, y, Reassociated)], (b, t) => b.MatVec(t[0], t[1], t[2], transpose));
            }

            case "Elu":
            {
                var s = RandomNchw(rng);
                return new($"{s}", [In(rng, s, 3f), Out(rng, s, DeviceMath)], (b, t) => b.Elu(t[0], t[1]));
            }

            case "EluBackward":
            {
                var s = RandomNchw(rng);
                return new($"{s} acc {accumulate}", [In(rng, s, 3f), In(rng, s), Grad(rng, s, grad, DeviceMath)],
                    (b, t) => b.EluBackward(t[0], t[1], t[2], accumulate));
            }

            case "EluBackwardFromOutput":
            {
                // y in (−1, 1): outputs an ELU can give (≥ −1). No exp: the same expression on both sides.
                var s = RandomNchw(rng);
                return new($"{s} acc {accumulate}", [In(rng, s), In(rng, s), Grad(rng, s, grad)],
                    (b, t) => b.EluBackwardFromOutput(t[0], t[1], t[2], accumulate));
            }

            case "MeanPool2x2":
            {
                var s = Shape.Nchw(rng.Next(1, 3), rng.Next(1, 4), 2 * rng.Next(1, 4), 2 * rng.Next(1, 4));
                var o = Shape.Nchw(s.N, s.C, s.H / 2, s.W / 2);
                return new($"{s}", [In(rng, s), Out(rng, o)], (b, t) => b.MeanPool2x2(t[0], t[1]));
            }

            case "MeanPool2x2Backward":
            {
                var s = Shape.Nchw(rng.Next(1, 3), rng.Next(1, 4), 2 * rng.Next(1, 4), 2 * rng.Next(1, 4));
                var o = Shape.Nchw(s.N, s.C, s.H / 2, s.W / 2);
                return new($"{s} acc {accumulate}", [In(rng, o), Grad(rng, s, grad)], (b, t) => b.MeanPool2x2Backward(t[0], t[1], accumulate));
            }

            case "MaxPool2d":
            {
                var s = RandomNchw(rng);
                int k = 2 * rng.Next(0, 3) + 1;
                // Quantised inputs make ties common, which exercises the first-maximum rule.
                return new($"{s} kernel {k}", [Quantised(rng, s), Out(rng, s)], (b, t) => b.MaxPool2d(t[0], t[1], k));
            }

            case "MaxPool2dBackward":
            {
                var s = RandomNchw(rng);
                int k = 2 * rng.Next(0, 3) + 1;
                return new($"{s} kernel {k} acc {accumulate}", [Quantised(rng, s), In(rng, s), Grad(rng, s, grad, Reassociated)],
                    (b, t) => b.MaxPool2dBackward(t[0], t[1], t[2], k, accumulate));
            }

            case "BilinearResize":
            {
                var s = RandomNchw(rng);
                var o = Shape.Nchw(s.N, s.C, rng.Next(1, 10), rng.Next(1, 10));
                return new($"{s} -> {o}", [In(rng, s), Out(rng, o)], (b, t) => b.BilinearResize(t[0], t[1]));
            }

            case "BilinearResizeBackward":
            {
                var s = RandomNchw(rng);
                var o = Shape.Nchw(s.N, s.C, rng.Next(1, 10), rng.Next(1, 10));
                return new($"{s} <- {o} acc {accumulate}", [In(rng, o), Grad(rng, s, grad, Reassociated)],
                    (b, t) => b.BilinearResizeBackward(t[0], t[1], accumulate));
            }

            case "InstanceNorm2dPlus":
            {
                var s = RandomNchw(rng, minChannels: 2);
                var stats = new Shape(s.N, InstanceNormStats.PerSample(s.C));
                return new($"{s}", [In(ChannelOffsets(rng, s), s), In(rng, new Shape(s.C)), In(rng, new Shape(s.C)), In(rng, new Shape(s.C)),
                        Out(rng, s, Reassociated), Out(rng, stats, Reassociated)],
                    (b, t) => b.InstanceNorm2dPlus(t[0], t[1], t[2], t[3], t[4], t[5]));
            }

            case "InstanceNorm2dPlusElu":
            {
                // The norm's reassociated sums pass through ELU unamplified (|ELU'| ≤ 1), then ELU's exp adds DeviceMath.
                var s = RandomNchw(rng, minChannels: 2);
                var stats = new Shape(s.N, InstanceNormStats.PerSample(s.C));
                return new($"{s}", [In(ChannelOffsets(rng, s), s), In(rng, new Shape(s.C)), In(rng, new Shape(s.C)), In(rng, new Shape(s.C)),
                        Out(rng, s, Reassociated + DeviceMath), Out(rng, stats, Reassociated)],
                    (b, t) => b.InstanceNorm2dPlus(t[0], t[1], t[2], t[3], t[4], t[5], elu: true));
            }

            case "InstanceNorm2dPlusBackward":
                return InstanceNormBackwardCase(rng, accumulate, grad);

            case "Sum":
            {
                var s = RandomReductionShape(rng);
                float[] x = Uniform(rng, s.Length);
                double magnitude = x.Sum(v => Math.Abs((double)v));
                return new($"{s}", [In(x, s), Out(rng, new Shape(1)) with { Absolute = Reassociated * Math.Max(1, magnitude) }], (b, t) => b.Sum(t[0], t[1]));
            }

            case "Dot":
            {
                var s = RandomReductionShape(rng);
                float[] x = Uniform(rng, s.Length), y = Uniform(rng, s.Length);
                double magnitude = x.Zip(y, (p, q) => Math.Abs((double)p * q)).Sum();
                return new($"{s}", [In(x, s), In(y, s), Out(rng, new Shape(1)) with { Absolute = Reassociated * Math.Max(1, magnitude) }], (b, t) => b.Dot(t[0], t[1], t[2]));
            }

            case "NormPerSample":
            {
                var s = RandomReductionShape(rng);
                // Sums of squares do not cancel, so the norm is accurate relative to itself.
                return new($"{s}", [In(rng, s), Out(rng, new Shape(s.N), Reassociated)], (b, t) => b.NormPerSample(t[0], t[1]));
            }

            case "FillGaussian":
            {
                var s = RandomShape(rng);
                ulong seed = (ulong)rng.NextInt64(), offset = (ulong)rng.NextInt64(0, 1L << 40);
                return new($"{s} seed {seed} offset {offset}", [Out(rng, s, DeviceMath)], (b, t) => b.FillGaussian(t[0], seed, offset));
            }

            case "Conv2dForward":
            {
                var (x, w, y, spec) = RandomConv(rng);
                bool bias = rng.Next(2) == 0;
                return new($"x {x} w {w} {spec} bias {bias}", [In(rng, x), In(rng, w), Out(rng, y, Reassociated), In(rng, new Shape(w.N))],
                    (b, t) => b.Conv2dForward(t[0], t[1], bias ? t[3] : null, t[2], spec));
            }

            case "Conv2dBackwardData":
            {
                var (x, w, y, spec) = RandomConv(rng);
                return new($"x {x} w {w} {spec} acc {accumulate}", [In(rng, y), In(rng, w), Grad(rng, x, grad, Reassociated)],
                    (b, t) => b.Conv2dBackwardData(t[0], t[1], t[2], spec, accumulate));
            }

            case "Conv2dBackwardWeight":
            {
                var (x, w, y, spec) = RandomConv(rng);
                // Weight and bias gradients, or the bias alone.
                bool weights = rng.Next(3) != 0;
                return new($"x {x} w {w} {spec} weights {weights} acc {accumulate}",
                    [In(rng, x), In(rng, y), Grad(rng, w, weights ? grad : Role.Untouched, Reassociated), Grad(rng, new Shape(w.N), grad, Reassociated)],
                    (b, t) => b.Conv2dBackwardWeight(t[0], t[1], weights ? t[2] : null, t[3], spec, accumulate));
            }

            default:
                throw new ArgumentException($"No case for op '{op}'.", nameof(op));
        }
    }

    private Case InstanceNormBackwardCase(Random rng, bool accumulate, Role grad)
    {
        var s = RandomNchw(rng, minChannels: 2);
        var cs = new Shape(s.C);
        float[] x = ChannelOffsets(rng, s), alpha = Uniform(rng, s.C), gamma = Uniform(rng, s.C), beta = Uniform(rng, s.C);
        // Both sides get the same saved statistics (the SIMD forward's), so only the backward is compared.
        var simd = _backends.Simd;
        using var tx = simd.FromHost(x, s);
        using var ta = simd.FromHost(alpha, cs);
        using var tg = simd.FromHost(gamma, cs);
        using var tb = simd.FromHost(beta, cs);
        using var ty = simd.Allocate(s);
        using var tstats = simd.Allocate(new Shape(s.N, InstanceNormStats.PerSample(s.C)));
        simd.InstanceNorm2dPlus(tx, ta, tg, tb, ty, tstats);

        // Which gradients to ask for: a non-empty subset (bit 0 = dx, 1 = dα, 2 = dγ, 3 = dβ).
        int wanted = rng.Next(1, 16);
        Role Want(int bit) => (wanted & bit) != 0 ? grad : Role.Untouched;
        return new($"{s} outputs {wanted} acc {accumulate}",
            [In(x, s), In(rng, s), In(alpha, cs), In(gamma, cs), In(tstats.ToArray(), tstats.Shape),
                Grad(rng, s, Want(1), Reassociated), Grad(rng, cs, Want(2), Reassociated), Grad(rng, cs, Want(4), Reassociated), Grad(rng, cs, Want(8), Reassociated)],
            (b, t) => b.InstanceNorm2dPlusBackward(t[0], t[1], t[2], t[3], t[4],
                (wanted & 1) != 0 ? t[5] : null, (wanted & 2) != 0 ? t[6] : null, (wanted & 4) != 0 ? t[7] : null, (wanted & 8) != 0 ? t[8] : null,
                accumulate));
    }

    // ---------------------------------------------------------------- running and comparing

    private void Check(string op, Case c)
    {
        var simd = Materialise(_backends.Simd, c, ilgpuSide: false);
        var ilgpu = Materialise(_backends.Ilgpu, c, ilgpuSide: true);
        try
        {
            c.Run(_backends.Simd, simd);
            c.Run(_backends.Ilgpu, ilgpu);
            for (int i = 0; i < c.Operands.Length; i++)
            {
                var operand = c.Operands[i];
                if (operand.Role == Role.Input)
                {
                    continue;
                }

                float[] expected = simd[i].ToArray(), actual = ilgpu[i].ToArray();
                if (operand.Role == Role.Untouched)
                {
                    Assert.True(operand.Data.AsSpan().SequenceEqual(actual), $"{op} {c.Description}: operand {i} was to be skipped but the ILGPU backend changed it.");
                    continue;
                }

                double tolerance = operand.Absolute ?? operand.Relative * Math.Max(1.0, expected.Max(v => Math.Abs((double)v)));
                for (int j = 0; j < expected.Length; j++)
                {
                    double diff = Math.Abs((double)expected[j] - actual[j]);
                    Assert.True(diff <= tolerance,
                        $"{op} {c.Description}: operand {i} element {j}: SIMD {expected[j]:R}, ILGPU {actual[j]:R}, |diff| {diff:E2} > tolerance {tolerance:E2}.");
                }
            }
        }
        finally
        {
            foreach (var t in simd.Concat(ilgpu))
            {
                t.Dispose();
            }
        }
    }

    /// <summary>
    /// Uploads a case's operands. An overwritten output starts as NaN on the ILGPU side and as its random data
    /// on the SIMD side, so an element the ILGPU kernel does not write cannot match.
    /// </summary>
    private static Tensor[] Materialise(ComputeBackend backend, Case c, bool ilgpuSide) =>
        c.Operands.Select(o => backend.FromHost(
            ilgpuSide && o.Role == Role.Overwritten ? Enumerable.Repeat(float.NaN, o.Shape.Length).ToArray() : o.Data, o.Shape)).ToArray();
    // ---------------------------------------------------------------- random operands

    /// <summary>A seed that depends only on the op's name (string.GetHashCode is randomised per process).</summary>
    private static int StableSeed(string op) => op.Aggregate(17, (h, ch) => unchecked(h * 31 + ch));

    private static float Uniform(Random rng) => (float)(2 * rng.NextDouble() - 1);

    private static float[] Uniform(Random rng, int length, float amplitude = 1f)
    {
        var data = new float[length];
        for (int i = 0; i < length; i++)
        {
            data[i] = amplitude * Uniform(rng);
        }

        return data;
    }

    private static Operand In(float[] data, Shape shape) => new(shape, Role.Input, data);

    private static Operand In(Random rng, Shape shape, float amplitude = 1f) => new(shape, Role.Input, Uniform(rng, shape.Length, amplitude));

    private static Operand Out(Random rng, Shape shape, double relative = SameExpression) => new(shape, Role.Overwritten, Uniform(rng, shape.Length), relative);

    private static Operand Acc(Random rng, Shape shape, double relative = SameExpression) => new(shape, Role.Accumulated, Uniform(rng, shape.Length), relative);

    private static Operand Grad(Random rng, Shape shape, Role role, double relative = SameExpression) => new(shape, role, Uniform(rng, shape.Length), relative);

    /// <summary>Values in {−1, −0.75, …, 1}: many equal neighbours, so max-pool windows have ties.</summary>
    private static Operand Quantised(Random rng, Shape shape) =>
        In(Uniform(rng, shape.Length).Select(v => MathF.Round(4 * v) / 4).ToArray(), shape);

    /// <summary>Uniform values plus a per-(sample, channel) offset of up to ±3, so channel means and their variance are not trivial.</summary>
    private static float[] ChannelOffsets(Random rng, Shape s)
    {
        float[] x = Uniform(rng, s.Length);
        int plane = s.H * s.W;
        for (int p = 0; p < s.N * s.C; p++)
        {
            float offset = 3 * Uniform(rng);
            for (int i = 0; i < plane; i++)
            {
                x[p * plane + i] += offset;
            }
        }

        return x;
    }

    private static Shape RandomNchw(Random rng, int minChannels = 1) =>
        Shape.Nchw(rng.Next(1, 3), rng.Next(minChannels, 5), rng.Next(1, 8), rng.Next(1, 8));

    /// <summary>Rank 1 to 4.</summary>
    private static Shape RandomShape(Random rng) => rng.Next(4) switch
    {
        0 => new Shape(rng.Next(1, 40)),
        1 => new Shape(rng.Next(1, 4), rng.Next(1, 20)),
        2 => new Shape(rng.Next(1, 4), rng.Next(1, 5), rng.Next(1, 8)),
        _ => RandomNchw(rng),
    };

    /// <summary>A shape with the per-sample length of <paramref name="s"/>: flat, or <paramref name="s"/> without its batch axis.</summary>
    private static Shape PerSampleShape(Random rng, Shape s) =>
        s.Rank > 1 && rng.Next(2) == 0 ? new Shape(s.ToArray()[1..]) : new Shape(s.PerSample);

    /// <summary>Some shapes long enough that a full reduction needs many groups and a second pass over the partials.</summary>
    private static Shape RandomReductionShape(Random rng) => rng.Next(3) switch
    {
        0 => new Shape(rng.Next(1, 4), rng.Next(1000, 3000)),
        _ => RandomShape(rng),
    };

    /// <summary>A conv geometry: Cin, Cout ≤ 3, K ∈ {1, 3, 5}, dilation ≤ 2, padding up to dilation·(K − 1), output ≥ 1.</summary>
    private static (Shape X, Shape W, Shape Y, Conv2dSpec Spec) RandomConv(Random rng)
    {
        int k = 2 * rng.Next(0, 3) + 1, dilation = rng.Next(1, 3);
        var spec = new Conv2dSpec(rng.Next(0, dilation * (k - 1) + 1), dilation);
        int smallest = Math.Max(1, dilation * (k - 1) - 2 * spec.Padding + 1);
        var x = Shape.Nchw(rng.Next(1, 3), rng.Next(1, 4), rng.Next(smallest, smallest + 6), rng.Next(smallest, smallest + 6));
        var w = Shape.Nchw(rng.Next(1, 4), x.C, k, k);
        var y = Shape.Nchw(x.N, w.N, spec.OutputSize(x.H, k), spec.OutputSize(x.W, k));
        return (x, w, y, spec);
    }
}
