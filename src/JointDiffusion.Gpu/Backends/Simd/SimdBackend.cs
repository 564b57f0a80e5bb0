using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using JointDiffusion.Gpu.Tensors;
using JointDiffusion.Kernels;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// The CPU backend: hand-written vectorised (<see cref="Vector{T}"/>, AVX-512 where present) and
/// multithreaded C#. Ops run synchronously on the calling thread plus the thread pool.
/// </summary>
public sealed class SimdBackend : ComputeBackend
{
    /// <summary>Below this many elements an elementwise op runs on one thread.</summary>
    private const int ParallelThreshold = 1 << 15;

    /// <summary>
    /// Reductions add float vectors over blocks of this many elements and the block sums in double: each lane then
    /// sums at most 4096 / 8 terms in float (relative error ≲ 512·u in the worst case, ~√512·u typically).
    /// </summary>
    private const int SumBlock = 4096;

    /// <summary>The environment variable that, set to 0, makes <see cref="SimdBackend()"/> use the direct conv kernels only.</summary>
    public const string WinogradVariable = "JOINTDIFF_WINOGRAD";

    /// <summary>Transformed Winograd filters kept between convolutions; null when Winograd is off (or unsupported here).</summary>
    private readonly SimdWinogradFilterCache? _filters;

    /// <summary>
    /// Creates the backend with Winograd F(4x4, 3x3) for the 3x3 convolutions where this machine supports it (AVX-512)
    /// and the layer is wide enough to gain from it (<see cref="SimdWinograd.MinChannels"/> channels each way and
    /// <see cref="SimdWinograd.MinTiles"/> output tiles), unless the environment variable
    /// <c>JOINTDIFF_WINOGRAD</c> is 0.
    /// </summary>
    public SimdBackend()
        : this(Environment.GetEnvironmentVariable(WinogradVariable) != "0")
    {
    }

    /// <summary>Creates the backend, with or without Winograd 3x3 convolutions (see <see cref="SimdBackend()"/>).</summary>
    /// <param name="winograd">
    /// Whether 3x3 convolutions may use Winograd F(4x4, 3x3): 4x fewer multiply-adds, with rounding errors that follow
    /// each 4x4 tile rather than each output (at most ~40·u·Σ|terms| measured, of the order of the direct kernels' bound).
    /// </param>
    public SimdBackend(bool winograd) => _filters = winograd && SimdWinograd.Supported ? new SimdWinogradFilterCache() : null;

    /// <summary>Whether 3x3 convolutions with enough channels run through Winograd F(4x4, 3x3) here.</summary>
    public bool UsesWinograd => _filters is not null;

    /// <inheritdoc/>
    public override string Name => "cpu";

    /// <inheritdoc/>
    public override string Description =>
        $"SIMD CPU backend: {Environment.ProcessorCount} threads, {Vector<float>.Count * 32}-bit vectors" +
        (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? ", AVX-512" : string.Empty) +
        (UsesWinograd ? ", Winograd F(4x4,3x3) convs" : ", direct convs");

    /// <inheritdoc/>
    public override DeviceKind Kind => DeviceKind.Cpu;

    /// <inheritdoc/>
    protected override DeviceStorage CreateStorage(int length) => new SimdStorage(length);

    /// <inheritdoc/>
    /// <remarks>
    /// On machines with exactly two threads for the SIMD loops, where it was measured (benchmarks/RESULTS.md §7): two
    /// NCSNv2 networks side by side, one per core, beat running each on both cores at batch 1 (1.4x per joint step,
    /// ngf 16 at 32x32) and at batch 8 (1.0–1.2x, ngf 32). With more cores an item would keep only one of them, so
    /// there the items run in order, each with every core.
    /// </remarks>
    protected override bool RunsWorkConcurrently => SimdWorkers.Shared.Concurrency == 2;

    private static float[] D(Tensor t) => ((SimdStorage)t.Storage).Data;

    /// <inheritdoc/>
    public override void Synchronize()
    {
    }

    /// <inheritdoc/>
    protected override void UploadCore(ReadOnlySpan<float> source, Tensor destination) => source.CopyTo(D(destination));

    /// <inheritdoc/>
    protected override void DownloadCore(Tensor source, Span<float> destination) => D(source).AsSpan().CopyTo(destination);

    // ---------------------------------------------------------------- convolution

    /// <summary>
    /// A workspace that keeps the Winograd-packed input (from the forward pass) and output gradient (from the
    /// backward-data pass) for the weight gradient, when Winograd is on; null otherwise.
    /// </summary>
    public override ConvWorkspace? CreateConvWorkspace() => UsesWinograd ? new SimdConvWorkspace() : null;

    /// <inheritdoc/>
    protected override void Conv2dForwardCore(Tensor x, Tensor w, Tensor? b, Tensor y, Conv2dSpec spec, ConvWorkspace? workspace)
    {
        var (xs, ws) = (x.Shape, w.Shape);
        SimdConv2d.Forward(D(x), D(w), b is null ? null : D(b), D(y), xs.N, xs.C, xs.H, xs.W, ws.N, ws.H, spec.Padding, spec.Dilation, _filters,
            Own(workspace)?.Input);
    }

    /// <inheritdoc/>
    protected override void Conv2dBackwardDataCore(Tensor dy, Tensor w, Tensor dx, Conv2dSpec spec, bool accumulate, ConvWorkspace? workspace)
    {
        var (xs, ws) = (dx.Shape, w.Shape);
        SimdConv2d.BackwardData(D(dy), D(w), D(dx), xs.N, xs.C, xs.H, xs.W, ws.N, ws.H, spec.Padding, spec.Dilation, accumulate, _filters,
            Own(workspace)?.OutputGradient);
    }

    /// <inheritdoc/>
    protected override void Conv2dBackwardWeightCore(Tensor x, Tensor dy, Tensor? dw, Tensor? db, Conv2dSpec spec, bool accumulate,
        ConvWorkspace? workspace)
    {
        var xs = x.Shape;
        int cout = dy.Shape.C;
        int k = dw?.Shape.H ?? (xs.H - dy.Shape.H + 2 * spec.Padding) / spec.Dilation + 1;
        var own = Own(workspace);
        SimdConv2d.BackwardWeight(D(x), D(dy), dw is null ? null : D(dw), db is null ? null : D(db),
            xs.N, xs.C, xs.H, xs.W, cout, k, spec.Padding, spec.Dilation, accumulate, UsesWinograd, own?.Input, own?.OutputGradient);
    }

    private static SimdConvWorkspace? Own(ConvWorkspace? workspace) => workspace switch
    {
        null => null,
        SimdConvWorkspace own => own,
        _ => throw new ArgumentException($"A {workspace.GetType().Name} is not a workspace of the SIMD backend.", nameof(workspace)),
    };

    // ---------------------------------------------------------------- InstanceNorm++

    /// <inheritdoc/>
    protected override void InstanceNorm2dPlusCore(Tensor x, Tensor alpha, Tensor gamma, Tensor beta, Tensor y, Tensor stats, bool elu)
    {
        var s = x.Shape;
        int c = s.C, hw = s.H * s.W, per = InstanceNormStats.PerSample(c);
        float[] xd = D(x), yd = D(y), st = D(stats);

        // Per-plane mean and biased variance, two-pass in double for accuracy.
        ForPlanes(s.N * c, new InstanceNormPlaneStats(xd, st, c, hw, per));

        for (int n = 0; n < s.N; n++)
        {
            int o = n * per;
            double m = 0;
            for (int ch = 0; ch < c; ch++)
            {
                m += st[o + ch];
            }

            m /= c;
            double v = 0;
            for (int ch = 0; ch < c; ch++)
            {
                double d = st[o + ch] - m;
                v += d * d;
            }

            v /= c - 1; // unbiased, as torch.var
            st[o + 2 * c] = (float)m;
            st[o + 2 * c + 1] = (float)(1.0 / Math.Sqrt(v + InstanceNormStats.Epsilon));
        }

        ForPlanes(s.N * c, new InstanceNormApply(xd, yd, st, D(alpha), D(gamma), D(beta), c, hw, per, elu));
    }

    /// <summary>Per plane: the mean and 1/√(biased variance + ε) into the stats.</summary>
    private readonly struct InstanceNormPlaneStats(float[] x, float[] stats, int c, int hw, int per) : IParallelBody
    {
        public void Run(int plane)
        {
            int n = plane / c, ch = plane % c;
            var span = new ReadOnlySpan<float>(x, plane * hw, hw);
            double mean = SumDouble(span) / hw;
            double sq = SumSquaredDeviation(span, (float)mean) / hw;
            stats[n * per + ch] = (float)mean;
            stats[n * per + c + ch] = (float)(1.0 / Math.Sqrt(sq + InstanceNormStats.Epsilon));
        }
    }

    /// <summary>Per plane: y = γ·rstd·x + (β + γ·(α·mhat − rstd·μ)), or ELU of it with <paramref name="elu"/>.</summary>
    private readonly struct InstanceNormApply(float[] x, float[] y, float[] st, float[] al, float[] ga, float[] be, int c, int hw, int per, bool elu)
        : IParallelBody
    {
        public void Run(int plane)
        {
            int n = plane / c, ch = plane % c, o = n * per;
            float mu = st[o + ch], rstd = st[o + c + ch];
            float mhat = (mu - st[o + 2 * c]) * st[o + 2 * c + 1];
            float scale = ga[ch] * rstd;
            float shift = be[ch] + ga[ch] * (al[ch] * mhat - rstd * mu);
            var xs = new ReadOnlySpan<float>(x, plane * hw, hw);
            var ys = new Span<float>(y, plane * hw, hw);
            AffineSpan(xs, scale, shift, ys);
            if (elu)
            {
                // In place while the plane is in L1. Which exp an element gets (SimdExp on whole 512-bit vectors,
                // .NET's elsewhere) follows the plane's bounds here, so this can differ from a separate ELU over the
                // whole tensor by the few ulp the two exps differ by.
                EluSpan(ys, ys);
            }
        }
    }


    /// <inheritdoc/>
    protected override void InstanceNorm2dPlusBackwardCore(Tensor x, Tensor dy, Tensor alpha, Tensor gamma, Tensor stats,
        Tensor? dx, Tensor? dalpha, Tensor? dgamma, Tensor? dbeta, bool accumulate)
    {
        var s = x.Shape;
        int nb = s.N, c = s.C, hw = s.H * s.W, per = InstanceNormStats.PerSample(c);
        float[] xd = D(x), dyd = D(dy), st = D(stats), al = D(alpha), ga = D(gamma);

        // Scratch in doubles (pooled, so a backward allocates nothing): Σ dy and Σ dy·h per plane, then the
        // gradient reaching each channel mean, then the three parameter sums.
        double[] scratch = SimdScratch.Doubles.Rent(3 * nb * c + 3 * c);
        try
        {
            var sumDy = new Span<double>(scratch, 0, nb * c);
            var sumDyH = new Span<double>(scratch, nb * c, nb * c);
            var dmu = new Span<double>(scratch, 2 * nb * c, nb * c);

            // Per plane: Σ dy and Σ dy·h, with h = (x − μ)·rstd.
            ForPlanes(nb * c, new InstanceNormGradientSums(xd, dyd, st, scratch, nb * c, c, hw, per));

            if (dalpha is not null || dgamma is not null || dbeta is not null)
            {
                var da = new Span<double>(scratch, 3 * nb * c, c);
                var dg = new Span<double>(scratch, 3 * nb * c + c, c);
                var dbt = new Span<double>(scratch, 3 * nb * c + 2 * c, c);
                da.Clear();
                dg.Clear();
                dbt.Clear();
                for (int n = 0; n < nb; n++)
                {
                    int o = n * per;
                    for (int ch = 0; ch < c; ch++)
                    {
                        double mhat = (st[o + ch] - st[o + 2 * c]) * (double)st[o + 2 * c + 1];
                        int plane = n * c + ch;
                        dbt[ch] += sumDy[plane];
                        dg[ch] += sumDyH[plane] + al[ch] * mhat * sumDy[plane];
                        da[ch] += ga[ch] * mhat * sumDy[plane];
                    }
                }

                WriteVector(dalpha, da, accumulate);
                WriteVector(dgamma, dg, accumulate);
                WriteVector(dbeta, dbt, accumulate);
            }

            if (dx is null)
            {
                return;
            }

            // Gradient reaching each channel mean through mhat (the unbiased-variance normalisation over channels).
            for (int n = 0; n < nb; n++)
            {
                int o = n * per;
                double m = st[o + 2 * c], rsv = st[o + 2 * c + 1];
                double gu = 0;
                for (int ch = 0; ch < c; ch++)
                {
                    double gm = ga[ch] * al[ch] * sumDy[n * c + ch];
                    gu += gm * (st[o + ch] - m);
                }

                // d rsv/d v = −½ rsv³; d v/d u_c = 2 u_c/(C − 1)
                double dv = -0.5 * rsv * rsv * rsv * gu;
                double mean = 0;
                for (int ch = 0; ch < c; ch++)
                {
                    double gm = ga[ch] * al[ch] * sumDy[n * c + ch];
                    double du = rsv * gm + dv * 2.0 * (st[o + ch] - m) / (c - 1);
                    dmu[n * c + ch] = du;
                    mean += du;
                }

                mean /= c;
                for (int ch = 0; ch < c; ch++)
                {
                    dmu[n * c + ch] -= mean;
                }
            }

            ForPlanes(nb * c, new InstanceNormInputGradient(xd, dyd, D(dx), st, ga, scratch, nb * c, c, hw, per, accumulate));
        }
        finally
        {
            SimdScratch.Doubles.Return(scratch);
        }
    }

    /// <summary>
    /// Per plane: Σ dy into sums[plane] and Σ dy·(x − μ)·rstd into sums[planes + plane]; vector sums in float over
    /// blocks of <see cref="SumBlock"/>, added up in double (as <see cref="SumDouble"/>).
    /// </summary>
    private readonly struct InstanceNormGradientSums(float[] x, float[] dy, float[] st, double[] sums, int planes, int c, int hw, int per) : IParallelBody
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int plane)
        {
            int n = plane / c, ch = plane % c, o = n * per;
            float mu = st[o + ch], rstd = st[o + c + ch];
            var muV = new Vector<float>(mu);
            double a = 0, b = 0;
            for (int start = plane * hw, end = start + hw; start < end; start += SumBlock)
            {
                int length = Math.Min(SumBlock, end - start);
                var xv = MemoryMarshal.Cast<float, Vector<float>>(x.AsSpan(start, length));
                var gv = MemoryMarshal.Cast<float, Vector<float>>(dy.AsSpan(start, length));
                Vector<float> sa = Vector<float>.Zero, sb = Vector<float>.Zero;
                for (int i = 0; i < xv.Length; i++)
                {
                    sa += gv[i];
                    sb += gv[i] * (xv[i] - muV);
                }

                double pa = Vector.Sum(sa), pb = Vector.Sum(sb);
                for (int i = start + xv.Length * Vector<float>.Count; i < start + length; i++)
                {
                    pa += dy[i];
                    pb += dy[i] * (x[i] - mu);
                }

                a += pa;
                b += pb;
            }

            sums[plane] = a;
            sums[planes + plane] = b * rstd;
        }
    }

    /// <summary>
    /// Per plane: dx (+)= γ·rstd·(dy − mean(dy) − h·mean(dy·h)) + dμ/HW, from sums = [Σ dy | Σ dy·h | dμ], each one
    /// value per plane.
    /// </summary>
    private readonly struct InstanceNormInputGradient(float[] x, float[] dy, float[] dx, float[] st, float[] ga, double[] sums,
        int planes, int c, int hw, int per, bool accumulate) : IParallelBody
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int plane)
        {
            int n = plane / c, ch = plane % c, o = n * per;
            float mu = st[o + ch], rstd = st[o + c + ch];
            float meanDy = (float)(sums[plane] / hw);
            float meanDyH = (float)(sums[planes + plane] / hw);
            float add = (float)(sums[2 * planes + plane] / hw);
            int off = plane * hw;
            float gr = ga[ch] * rstd;
            var xv = MemoryMarshal.Cast<float, Vector<float>>(x.AsSpan(off, hw));
            var gv = MemoryMarshal.Cast<float, Vector<float>>(dy.AsSpan(off, hw));
            var ov = MemoryMarshal.Cast<float, Vector<float>>(dx.AsSpan(off, hw));
            Vector<float> muV = new(mu), rstdV = new(rstd), meanDyV = new(meanDy), meanDyHV = new(meanDyH), addV = new(add), grV = new(gr);
            for (int i = 0; i < xv.Length; i++)
            {
                var h = (xv[i] - muV) * rstdV;
                var v = grV * (gv[i] - meanDyV - h * meanDyHV) + addV;
                ov[i] = accumulate ? ov[i] + v : v;
            }

            for (int i = off + xv.Length * Vector<float>.Count; i < off + hw; i++)
            {
                float h = (x[i] - mu) * rstd;
                float v = gr * (dy[i] - meanDy - h * meanDyH) + add;
                dx[i] = accumulate ? dx[i] + v : v;
            }
        }
    }

    private static void WriteVector(Tensor? t, ReadOnlySpan<double> values, bool accumulate)
    {
        if (t is null)
        {
            return;
        }

        var d = D(t);
        for (int i = 0; i < values.Length; i++)
        {
            d[i] = accumulate ? d[i] + (float)values[i] : (float)values[i];
        }
    }

    // ---------------------------------------------------------------- activations and pools

    /// <inheritdoc/>
    protected override void EluCore(Tensor x, Tensor y) => ForChunks(x.Length, new EluChunk(D(x), D(y)));

    /// <inheritdoc/>
    protected override void EluBackwardCore(Tensor x, Tensor dy, Tensor dx, bool accumulate) =>
        ForChunks(x.Length, new EluBackwardChunk(D(x), D(dy), D(dx), accumulate));

    /// <summary>y = ELU(x) on [start, start + length).</summary>
    private readonly struct EluChunk(float[] xd, float[] yd) : IChunkBody
    {
        public void Run(int start, int len) => EluSpan(xd.AsSpan(start, len), yd.AsSpan(start, len));
    }

    /// <summary>y = ELU(x) (y may be x): 512-bit vectors and <see cref="SimdExp"/> where accelerated, then <see cref="Vector{T}"/>, then scalars.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void EluSpan(ReadOnlySpan<float> x, Span<float> y)
    {
        int done = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var xw = MemoryMarshal.Cast<float, Vector512<float>>(x);
            var yw = MemoryMarshal.Cast<float, Vector512<float>>(y);
            for (int i = 0; i < xw.Length; i++)
            {
                var v = xw[i];
                yw[i] = Vector512.ConditionalSelect(Vector512.GreaterThan(v, Vector512<float>.Zero), v, SimdExp.NonPositive(v) - Vector512<float>.One);
            }

            done = xw.Length * Vector512<float>.Count;
        }

        var xv = MemoryMarshal.Cast<float, Vector<float>>(x[done..]);
        var yv = MemoryMarshal.Cast<float, Vector<float>>(y[done..]);
        for (int i = 0; i < xv.Length; i++)
        {
            var v = xv[i];
            yv[i] = Vector.ConditionalSelect(Vector.GreaterThan(v, Vector<float>.Zero), v, Vector.Exp(Vector.Min(v, Vector<float>.Zero)) - Vector<float>.One);
        }

        for (int i = done + xv.Length * Vector<float>.Count; i < x.Length; i++)
        {
            float v = x[i];
            y[i] = v > 0f ? v : MathF.Exp(v) - 1f;
        }
    }

    /// <summary>dx (+)= dy·ELU'(x) on [start, start + length); 512-bit vectors where accelerated.</summary>
    private readonly struct EluBackwardChunk(float[] xd, float[] g, float[] o, bool accumulate) : IChunkBody
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int len)
        {
            int done = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var xw = MemoryMarshal.Cast<float, Vector512<float>>(xd.AsSpan(start, len));
                var gw = MemoryMarshal.Cast<float, Vector512<float>>(g.AsSpan(start, len));
                var ow = MemoryMarshal.Cast<float, Vector512<float>>(o.AsSpan(start, len));
                for (int i = 0; i < xw.Length; i++)
                {
                    var v = xw[i];
                    var d = Vector512.ConditionalSelect(Vector512.GreaterThan(v, Vector512<float>.Zero), gw[i], gw[i] * SimdExp.NonPositive(v));
                    ow[i] = accumulate ? ow[i] + d : d;
                }

                done = xw.Length * Vector512<float>.Count;
            }

            var xv = MemoryMarshal.Cast<float, Vector<float>>(xd.AsSpan(start + done, len - done));
            var gv = MemoryMarshal.Cast<float, Vector<float>>(g.AsSpan(start + done, len - done));
            var ov = MemoryMarshal.Cast<float, Vector<float>>(o.AsSpan(start + done, len - done));
            for (int i = 0; i < xv.Length; i++)
            {
                var v = xv[i];
                var d = Vector.ConditionalSelect(Vector.GreaterThan(v, Vector<float>.Zero), gv[i], gv[i] * Vector.Exp(Vector.Min(v, Vector<float>.Zero)));
                ov[i] = accumulate ? ov[i] + d : d;
            }

            for (int i = start + done + xv.Length * Vector<float>.Count; i < start + len; i++)
            {
                float v = xd[i];
                float d = v > 0f ? g[i] : g[i] * MathF.Exp(v);
                o[i] = accumulate ? o[i] + d : d;
            }
        }
    }

    /// <inheritdoc/>
    protected override void EluBackwardFromOutputCore(Tensor y, Tensor dy, Tensor dx, bool accumulate) =>
        ForChunks(y.Length, new EluBackwardFromOutputChunk(D(y), D(dy), D(dx), accumulate));

    /// <summary>
    /// dx (+)= dy·ELU'(x) on [start, start + length) from y = ELU(x): dy where y &gt; 0, else dy·(y + 1); 512-bit vectors
    /// where accelerated. A NaN y fails the comparison and gives dy·NaN.
    /// </summary>
    private readonly struct EluBackwardFromOutputChunk(float[] yd, float[] g, float[] o, bool accumulate) : IChunkBody
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int len)
        {
            int done = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var yw = MemoryMarshal.Cast<float, Vector512<float>>(yd.AsSpan(start, len));
                var gw = MemoryMarshal.Cast<float, Vector512<float>>(g.AsSpan(start, len));
                var ow = MemoryMarshal.Cast<float, Vector512<float>>(o.AsSpan(start, len));
                for (int i = 0; i < yw.Length; i++)
                {
                    var v = yw[i];
                    var d = Vector512.ConditionalSelect(Vector512.GreaterThan(v, Vector512<float>.Zero), gw[i], gw[i] * (v + Vector512<float>.One));
                    ow[i] = accumulate ? ow[i] + d : d;
                }

                done = yw.Length * Vector512<float>.Count;
            }

            var yv = MemoryMarshal.Cast<float, Vector<float>>(yd.AsSpan(start + done, len - done));
            var gv = MemoryMarshal.Cast<float, Vector<float>>(g.AsSpan(start + done, len - done));
            var ov = MemoryMarshal.Cast<float, Vector<float>>(o.AsSpan(start + done, len - done));
            for (int i = 0; i < yv.Length; i++)
            {
                var v = yv[i];
                var d = Vector.ConditionalSelect(Vector.GreaterThan(v, Vector<float>.Zero), gv[i], gv[i] * (v + Vector<float>.One));
                ov[i] = accumulate ? ov[i] + d : d;
            }

            for (int i = start + done + yv.Length * Vector<float>.Count; i < start + len; i++)
            {
                float v = yd[i];
                float d = v > 0f ? g[i] : g[i] * (v + 1f);
                o[i] = accumulate ? o[i] + d : d;
            }
        }
    }

    /// <inheritdoc/>
    protected override void MeanPool2x2Core(Tensor x, Tensor y)
    {
        var s = x.Shape;
        ForPlanes(s.N * s.C, new MeanPoolPlane(D(x), D(y), s.H, s.W));
    }

    /// <inheritdoc/>
    protected override void MeanPool2x2BackwardCore(Tensor dy, Tensor dx, bool accumulate)
    {
        var s = dx.Shape;
        ForPlanes(s.N * s.C, new MeanPoolBackwardPlane(D(dy), D(dx), s.H, s.W, accumulate));
    }

    /// <summary>
    /// One plane of the 2×2 mean pool: 16 outputs at a time on AVX-512 (two 16-float input vectors split into even
    /// and odd columns), the rest scalar; the same sums in the same order either way.
    /// </summary>
    private readonly struct MeanPoolPlane(float[] xd, float[] yd, int h, int w) : IParallelBody
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int plane)
        {
            int ho = h / 2, wo = w / 2;
            ref float x0 = ref MemoryMarshal.GetArrayDataReference(xd);
            ref float y0 = ref MemoryMarshal.GetArrayDataReference(yd);
            var quarter = Vector512.Create(0.25f);
            for (int i = 0; i < ho; i++)
            {
                ref float top = ref Unsafe.Add(ref x0, (nint)plane * h * w + 2 * i * w);
                ref float bottom = ref Unsafe.Add(ref top, w);
                ref float y = ref Unsafe.Add(ref y0, (nint)plane * ho * wo + i * wo);
                int j = 0;
                if (Avx512F.IsSupported)
                {
                    for (; j + 16 <= wo; j += 16)
                    {
                        var (t0, t1) = (Vector512.LoadUnsafe(ref top, (nuint)(2 * j)), Vector512.LoadUnsafe(ref top, (nuint)(2 * j + 16)));
                        var (b0, b1) = (Vector512.LoadUnsafe(ref bottom, (nuint)(2 * j)), Vector512.LoadUnsafe(ref bottom, (nuint)(2 * j + 16)));
                        var (tEven, tOdd) = (Avx512F.PermuteVar16x32x2(t0, EvenColumns, t1), Avx512F.PermuteVar16x32x2(t0, OddColumns, t1));
                        var (bEven, bOdd) = (Avx512F.PermuteVar16x32x2(b0, EvenColumns, b1), Avx512F.PermuteVar16x32x2(b0, OddColumns, b1));
                        // Summed in PyTorch NCSNv2's order: [::2,::2] + [1::2,::2] + [::2,1::2] + [1::2,1::2].
                        ((tEven + bEven + tOdd + bOdd) * quarter).StoreUnsafe(ref y, (nuint)j);
                    }
                }

                for (; j < wo; j++)
                {
                    Unsafe.Add(ref y, j) = (Unsafe.Add(ref top, 2 * j) + Unsafe.Add(ref bottom, 2 * j) + Unsafe.Add(ref top, 2 * j + 1)
                        + Unsafe.Add(ref bottom, 2 * j + 1)) / 4f;
                }
            }
        }
    }

    /// <summary>Indices of the even columns of two concatenated 16-float rows.</summary>
    private static readonly Vector512<int> EvenColumns = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);

    /// <summary>Indices of the odd columns of two concatenated 16-float rows.</summary>
    private static readonly Vector512<int> OddColumns = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);

    /// <summary>Each of 16 values twice, for the first (low) and second (high) halves of a 32-float row.</summary>
    private static readonly Vector512<int> RepeatLow = Vector512.Create(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);

    private static readonly Vector512<int> RepeatHigh = Vector512.Create(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);

    /// <summary>One plane of the 2×2 mean pool's backward: dx (+)= dy/4 over each window; 16 dy values at a time on AVX-512.</summary>
    private readonly struct MeanPoolBackwardPlane(float[] g, float[] o, int h, int w, bool accumulate) : IParallelBody
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int plane)
        {
            int ho = h / 2, wo = w / 2;
            ref float g0 = ref MemoryMarshal.GetArrayDataReference(g);
            ref float o0 = ref MemoryMarshal.GetArrayDataReference(o);
            var quarter = Vector512.Create(0.25f);
            for (int i = 0; i < h; i++)
            {
                ref float gy = ref Unsafe.Add(ref g0, (nint)plane * ho * wo + (i / 2) * wo);
                ref float dx = ref Unsafe.Add(ref o0, (nint)plane * h * w + i * w);
                int j = 0;
                if (Avx512F.IsSupported)
                {
                    for (; j + 16 <= wo; j += 16)
                    {
                        var v = Vector512.LoadUnsafe(ref gy, (nuint)j) * quarter;
                        var (low, high) = (Vector512.Shuffle(v, RepeatLow), Vector512.Shuffle(v, RepeatHigh));
                        if (accumulate)
                        {
                            low += Vector512.LoadUnsafe(ref dx, (nuint)(2 * j));
                            high += Vector512.LoadUnsafe(ref dx, (nuint)(2 * j + 16));
                        }

                        low.StoreUnsafe(ref dx, (nuint)(2 * j));
                        high.StoreUnsafe(ref dx, (nuint)(2 * j + 16));
                    }
                }

                for (; j < wo; j++)
                {
                    float v = 0.25f * Unsafe.Add(ref gy, j);
                    ref float a = ref Unsafe.Add(ref dx, 2 * j);
                    ref float b = ref Unsafe.Add(ref dx, 2 * j + 1);
                    (a, b) = accumulate ? (a + v, b + v) : (v, v);
                }
            }
        }
    }

    /// <inheritdoc/>
    protected override void MaxPool2dCore(Tensor x, Tensor y, int kernel)
    {
        var s = x.Shape;
        SimdMaxPool.Forward(D(x), D(y), s.N * s.C, s.H, s.W, kernel / 2);
    }

    /// <inheritdoc/>
    protected override void MaxPool2dBackwardCore(Tensor x, Tensor dy, Tensor dx, int kernel, bool accumulate)
    {
        var s = x.Shape;
        SimdMaxPool.Backward(D(x), D(dy), D(dx), s.N * s.C, s.H, s.W, kernel / 2, accumulate);
    }

    /// <inheritdoc/>
    protected override void BilinearResizeCore(Tensor x, Tensor y)
    {
        var (xs, ys) = (x.Shape, y.Shape);
        ForPlanes(xs.N * xs.C, new BilinearPlane(D(x), D(y), xs.H, xs.W, ys.H, ys.W));
    }

    /// <inheritdoc/>
    protected override void BilinearResizeBackwardCore(Tensor dy, Tensor dx, bool accumulate)
    {
        var (xs, ys) = (dx.Shape, dy.Shape);
        ForPlanes(xs.N * xs.C, new BilinearBackwardPlane(D(dy), D(dx), xs.H, xs.W, ys.H, ys.W, accumulate));
    }

    /// <summary>Largest per-plane scratch (floats) of the bilinear resize kept on the stack; larger planes rent it.</summary>
    private const int BilinearStackFloats = 4096;

    /// <summary>
    /// One plane of the align_corners bilinear resize from hi×wi to ho×wo, separably: each input row interpolated
    /// along the width into rows[r, ·] = (1 − λj)·x[r, j0] + λj·x[r, j1], then each output row y[i, ·] = (1 − λi)·rows[i0, ·]
    /// + λi·rows[i1, ·] with vectors: the same operations, in the same order, as interpolating each output directly.
    /// </summary>
    private readonly struct BilinearPlane(float[] xd, float[] yd, int hi, int wi, int ho, int wo) : IParallelBody
    {
        [SkipLocalsInit]
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int plane)
        {
            int length = hi * wo + 3 * wo;
            float[]? rented = length > BilinearStackFloats ? SimdScratch.Floats.Rent(length) : null;
            Span<float> scratch = rented is null ? stackalloc float[BilinearStackFloats] : rented;
            try
            {
                var rows = scratch[..(hi * wo)];
                var taps = new BilinearColumns(scratch.Slice(hi * wo, 3 * wo), wi, wo);
                var x = xd.AsSpan(plane * hi * wi, hi * wi);
                for (int r = 0; r < hi; r++)
                {
                    var row = x.Slice(r * wi, wi);
                    var destination = rows.Slice(r * wo, wo);
                    for (int j = 0; j < wo; j++)
                    {
                        var (j0, j1, lj) = taps[j];
                        destination[j] = (1f - lj) * row[j0] + lj * row[j1];
                    }
                }

                float sh = BilinearScale(hi, ho);
                var y = yd.AsSpan(plane * ho * wo, ho * wo);
                for (int i = 0; i < ho; i++)
                {
                    BilinearTap(i, sh, hi, out int i0, out int i1, out float li);
                    Blend(1f - li, rows.Slice(i0 * wo, wo), li, rows.Slice(i1 * wo, wo), y.Slice(i * wo, wo));
                }
            }
            finally
            {
                if (rented is not null)
                {
                    SimdScratch.Floats.Return(rented);
                }
            }
        }

        /// <summary>y = a·u + b·v.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Blend(float a, ReadOnlySpan<float> u, float b, ReadOnlySpan<float> v, Span<float> y)
        {
            int j = 0;
            if (Vector.IsHardwareAccelerated)
            {
                var (va, vb) = (new Vector<float>(a), new Vector<float>(b));
                for (; j + Vector<float>.Count <= y.Length; j += Vector<float>.Count)
                {
                    (va * new Vector<float>(u[j..]) + vb * new Vector<float>(v[j..])).CopyTo(y[j..]);
                }
            }

            for (; j < y.Length; j++)
            {
                y[j] = a * u[j] + b * v[j];
            }
        }
    }

    /// <summary>
    /// One plane of the resize's adjoint, dx (+)= Rhᵀ·dy·Rw: the output-gradient rows combined into input rows first,
    /// v[r, ·] = Σ over output rows i reading r of their weight·dy[i, ·] (vectors), then each of those rows scattered
    /// along the width, dx[r, j0] += (1 − λj)·v[r, j], dx[r, j1] += λj·v[r, j].
    /// </summary>
    private readonly struct BilinearBackwardPlane(float[] g, float[] o, int hi, int wi, int ho, int wo, bool accumulate) : IParallelBody
    {
        [SkipLocalsInit]
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int plane)
        {
            int length = hi * wo + 3 * wo;
            float[]? rented = length > BilinearStackFloats ? SimdScratch.Floats.Rent(length) : null;
            Span<float> scratch = rented is null ? stackalloc float[BilinearStackFloats] : rented;
            try
            {
                var rows = scratch[..(hi * wo)];
                rows.Clear();
                var taps = new BilinearColumns(scratch.Slice(hi * wo, 3 * wo), wi, wo);
                float sh = BilinearScale(hi, ho);
                var dy = g.AsSpan(plane * ho * wo, ho * wo);
                for (int i = 0; i < ho; i++)
                {
                    BilinearTap(i, sh, hi, out int i0, out int i1, out float li);
                    AddScaled(1f - li, dy.Slice(i * wo, wo), rows.Slice(i0 * wo, wo));
                    AddScaled(li, dy.Slice(i * wo, wo), rows.Slice(i1 * wo, wo));
                }

                var dx = o.AsSpan(plane * hi * wi, hi * wi);
                if (!accumulate)
                {
                    dx.Clear();
                }

                for (int r = 0; r < hi; r++)
                {
                    var source = rows.Slice(r * wo, wo);
                    var destination = dx.Slice(r * wi, wi);
                    for (int j = 0; j < wo; j++)
                    {
                        var (j0, j1, lj) = taps[j];
                        destination[j0] += (1f - lj) * source[j];
                        destination[j1] += lj * source[j];
                    }
                }
            }
            finally
            {
                if (rented is not null)
                {
                    SimdScratch.Floats.Return(rented);
                }
            }
        }

        /// <summary>y += a·x.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void AddScaled(float a, ReadOnlySpan<float> x, Span<float> y)
        {
            int j = 0;
            if (Vector.IsHardwareAccelerated)
            {
                var va = new Vector<float>(a);
                for (; j + Vector<float>.Count <= y.Length; j += Vector<float>.Count)
                {
                    (new Vector<float>(y[j..]) + va * new Vector<float>(x[j..])).CopyTo(y[j..]);
                }
            }

            for (; j < y.Length; j++)
            {
                y[j] += a * x[j];
            }
        }
    }

    /// <summary>The width taps of a resize from wi to wo columns, (j0, j1, λj) per output column, kept in a span of 3·wo floats.</summary>
    private readonly ref struct BilinearColumns
    {
        private readonly Span<float> _taps;

        public BilinearColumns(Span<float> taps, int wi, int wo)
        {
            _taps = taps;
            float sw = BilinearScale(wi, wo);
            for (int j = 0; j < wo; j++)
            {
                BilinearTap(j, sw, wi, out int j0, out int j1, out float lj);
                (taps[3 * j], taps[3 * j + 1], taps[3 * j + 2]) = (BitConverter.Int32BitsToSingle(j0), BitConverter.Int32BitsToSingle(j1), lj);
            }
        }

        public (int J0, int J1, float Lambda) this[int j] =>
            (BitConverter.SingleToInt32Bits(_taps[3 * j]), BitConverter.SingleToInt32Bits(_taps[3 * j + 1]), _taps[3 * j + 2]);
    }

    /// <summary>align_corners = true: source = dst·(in − 1)/(out − 1), and 0 when out = 1 (as PyTorch).</summary>
    private static float BilinearScale(int input, int output) => output > 1 ? (input - 1f) / (output - 1f) : 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BilinearTap(int dst, float scale, int input, out int i0, out int i1, out float lambda)
    {
        float src = scale * dst;
        i0 = Math.Min((int)src, input - 1);
        i1 = Math.Min(i0 + 1, input - 1);
        lambda = src - i0;
    }

    // ---------------------------------------------------------------- elementwise

    /// <inheritdoc/>
    protected override void MultiplyBroadcastCore(Tensor x, Tensor w, Tensor y) =>
        ForChunks(x.Length, new BroadcastSegments<MultiplySegment>(new MultiplySegment(D(x), D(w), D(y)), D(w).Length));

    /// <inheritdoc/>
    protected override void AddBroadcastCore(Tensor x, float alpha, Tensor w, Tensor y) =>
        ForChunks(x.Length, new BroadcastSegments<AddScaledSegment>(new AddScaledSegment(D(x), alpha, D(w), D(y)), D(w).Length));

    /// <summary>y[i] = x[i]·w[i mod period] on a segment that meets one contiguous piece of w.</summary>
    private readonly struct MultiplySegment(float[] xd, float[] wd, float[] yd) : ISegmentBody
    {
        public void Run(int start, int wStart, int len) => MultiplySpan(xd.AsSpan(start, len), wd.AsSpan(wStart, len), yd.AsSpan(start, len));
    }

    /// <summary>y[i] = x[i] + alpha·w[i mod period] on a segment that meets one contiguous piece of w.</summary>
    private readonly struct AddScaledSegment(float[] xd, float alpha, float[] wd, float[] yd) : ISegmentBody
    {
        public void Run(int start, int wStart, int len) => AddScaledSpan(xd.AsSpan(start, len), alpha, wd.AsSpan(wStart, len), yd.AsSpan(start, len));
    }

    /// <inheritdoc/>
    protected override void MatVecCore(Tensor matrix, Tensor x, Tensor y, bool transpose)
    {
        int rows = matrix.Shape[0], cols = matrix.Shape[1];
        if (transpose)
        {
            MatVecTransposed(D(matrix), D(x), D(y), y.Shape.N, rows, cols);
        }
        else
        {
            MatVecRows(D(matrix), D(x), D(y), y.Shape.N, rows, cols);
        }
    }

    /// <inheritdoc/>
    protected override void AdamUpdateCore(Tensor parameter, Tensor gradient, Tensor m, Tensor v, AdamStep step) =>
        ForChunks(parameter.Length, new AdamChunk(D(parameter), D(gradient), D(m), D(v), step));

    /// <summary>
    /// The fused Adam step on [start, start + length): vectors, then a scalar tail, both with the kernel's arithmetic
    /// in the same order (division and square root are correctly rounded either way, so the two agree bit for bit).
    /// </summary>
    private readonly struct AdamChunk(float[] p, float[] g, float[] md, float[] vd, AdamStep step) : IChunkBody
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int len)
        {
            var pv = MemoryMarshal.Cast<float, Vector<float>>(p.AsSpan(start, len));
            var gv = MemoryMarshal.Cast<float, Vector<float>>(g.AsSpan(start, len));
            var mv = MemoryMarshal.Cast<float, Vector<float>>(md.AsSpan(start, len));
            var vv = MemoryMarshal.Cast<float, Vector<float>>(vd.AsSpan(start, len));
            var (beta1, oneMinusBeta1) = (new Vector<float>(step.Beta1), new Vector<float>(1f - step.Beta1));
            var (beta2, oneMinusBeta2) = (new Vector<float>(step.Beta2), new Vector<float>(1f - step.Beta2));
            var (rate, c1, c2, eps) = (new Vector<float>(step.LearningRate), new Vector<float>(step.Correction1),
                new Vector<float>(step.Correction2), new Vector<float>(step.Epsilon));
            for (int k = 0; k < pv.Length; k++)
            {
                var gk = gv[k];
                var mk = beta1 * mv[k] + oneMinusBeta1 * gk;
                var vk = beta2 * vv[k] + oneMinusBeta2 * gk * gk;
                mv[k] = mk;
                vv[k] = vk;
                pv[k] -= rate * (mk / c1) / (Vector.SquareRoot(vk / c2) + eps);
            }

            for (int i = start + pv.Length * Vector<float>.Count; i < start + len; i++)
            {
                // The kernel's arithmetic, in the same order (OptimizerKernels.AdamUpdate).
                float gi = g[i];
                float mi = step.Beta1 * md[i] + (1f - step.Beta1) * gi;
                float vi = step.Beta2 * vd[i] + (1f - step.Beta2) * gi * gi;
                md[i] = mi;
                vd[i] = vi;
                p[i] -= step.LearningRate * (mi / step.Correction1) / (MathF.Sqrt(vi / step.Correction2) + step.Epsilon);
            }
        }
    }

    /// <inheritdoc/>
    protected override void FillCore(Tensor y, float value) => Array.Fill(D(y), value);

    /// <inheritdoc/>
    protected override void CopyCore(Tensor x, Tensor y) => D(x).AsSpan().CopyTo(D(y));

    /// <inheritdoc/>
    protected override void AddCore(Tensor a, Tensor b, Tensor y) => ForChunks(a.Length, new AddChunk(D(a), D(b), D(y)));

    /// <summary>y = a + b on [start, start + length).</summary>
    private readonly struct AddChunk(float[] ad, float[] bd, float[] yd) : IChunkBody
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int len)
        {
            var av = MemoryMarshal.Cast<float, Vector<float>>(ad.AsSpan(start, len));
            var bv = MemoryMarshal.Cast<float, Vector<float>>(bd.AsSpan(start, len));
            var yv = MemoryMarshal.Cast<float, Vector<float>>(yd.AsSpan(start, len));
            for (int i = 0; i < yv.Length; i++)
            {
                yv[i] = av[i] + bv[i];
            }

            for (int i = start + yv.Length * Vector<float>.Count; i < start + len; i++)
            {
                yd[i] = ad[i] + bd[i];
            }
        }
    }

    /// <inheritdoc/>
    protected override void AffineCore(Tensor x, float scale, float shift, Tensor y) =>
        ForChunks(x.Length, new AffineChunk(D(x), scale, shift, D(y)));

    /// <inheritdoc/>
    protected override void ReciprocalOrZeroCore(Tensor x, Tensor y, float threshold)
    {
        // Per-sample vectors or an operator's weights (a few thousand values at most): one thread.
        float[] xd = D(x), yd = D(y);
        for (int i = 0; i < x.Length; i++)
        {
            yd[i] = xd[i] > threshold ? 1f / xd[i] : 0f;
        }
    }

    /// <summary>y = scale·x + shift on [start, start + length).</summary>
    private readonly struct AffineChunk(float[] xd, float scale, float shift, float[] yd) : IChunkBody
    {
        public void Run(int start, int len) => AffineSpan(xd.AsSpan(start, len), scale, shift, yd.AsSpan(start, len));
    }

    /// <inheritdoc/>
    protected override void AxpyCore(float alpha, Tensor x, Tensor y) => ForChunks(x.Length, new AxpyChunk(alpha, D(x), D(y)));

    /// <summary>y += alpha·x on [start, start + length).</summary>
    private readonly struct AxpyChunk(float alpha, float[] xd, float[] yd) : IChunkBody
    {
        public void Run(int start, int len) => AxpySpan(alpha, xd.AsSpan(start, len), yd.AsSpan(start, len));
    }

    /// <inheritdoc/>
    protected override void ScalePerSampleCore(Tensor x, Tensor s, Tensor y) =>
        SimdWorkers.Shared.For(x.Shape.N, new PerSampleAxpy(D(x), D(s), D(y), x.Shape.PerSample, 1f, Accumulate: false));

    /// <inheritdoc/>
    protected override void AxpyPerSampleCore(float alpha, Tensor s, Tensor x, Tensor y) =>
        SimdWorkers.Shared.For(x.Shape.N, new PerSampleAxpy(D(x), D(s), D(y), x.Shape.PerSample, alpha, Accumulate: true));

    /// <summary>Sample n: y[n] = s[n]·x[n], or with <paramref name="Accumulate"/> y[n] += alpha·s[n]·x[n].</summary>
    private readonly record struct PerSampleAxpy(float[] X, float[] S, float[] Y, int PerSample, float Alpha, bool Accumulate) : IParallelBody
    {
        public void Run(int n)
        {
            var x = X.AsSpan(n * PerSample, PerSample);
            var y = Y.AsSpan(n * PerSample, PerSample);
            if (Accumulate)
            {
                AxpySpan(Alpha * S[n], x, y);
            }
            else
            {
                AffineSpan(x, S[n], 0f, y);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AffineSpan(ReadOnlySpan<float> x, float scale, float shift, Span<float> y)
    {
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        var yv = MemoryMarshal.Cast<float, Vector<float>>(y);
        var sv = new Vector<float>(scale);
        var tv = new Vector<float>(shift);
        for (int i = 0; i < yv.Length; i++)
        {
            yv[i] = xv[i] * sv + tv;
        }

        for (int i = yv.Length * Vector<float>.Count; i < y.Length; i++)
        {
            y[i] = x[i] * scale + shift;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AxpySpan(float alpha, ReadOnlySpan<float> x, Span<float> y)
    {
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        var yv = MemoryMarshal.Cast<float, Vector<float>>(y);
        var av = new Vector<float>(alpha);
        for (int i = 0; i < yv.Length; i++)
        {
            yv[i] += av * xv[i];
        }

        for (int i = yv.Length * Vector<float>.Count; i < y.Length; i++)
        {
            y[i] += alpha * x[i];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MultiplySpan(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y)
    {
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        var wv = MemoryMarshal.Cast<float, Vector<float>>(w);
        var yv = MemoryMarshal.Cast<float, Vector<float>>(y);
        for (int i = 0; i < yv.Length; i++)
        {
            yv[i] = xv[i] * wv[i];
        }

        for (int i = yv.Length * Vector<float>.Count; i < y.Length; i++)
        {
            y[i] = x[i] * w[i];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddScaledSpan(ReadOnlySpan<float> x, float alpha, ReadOnlySpan<float> w, Span<float> y)
    {
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        var wv = MemoryMarshal.Cast<float, Vector<float>>(w);
        var yv = MemoryMarshal.Cast<float, Vector<float>>(y);
        var av = new Vector<float>(alpha);
        for (int i = 0; i < yv.Length; i++)
        {
            yv[i] = xv[i] + av * wv[i];
        }

        for (int i = yv.Length * Vector<float>.Count; i < y.Length; i++)
        {
            y[i] = x[i] + alpha * w[i];
        }
    }

    /// <summary>A piece of a broadcast op: x from <c>start</c>, the weight from <c>wStart</c>, <c>length</c> elements.</summary>
    private interface ISegmentBody
    {
        void Run(int start, int wStart, int length);
    }

    /// <summary>
    /// Runs the segment body over a chunk in pieces that never cross a multiple of <paramref name="period"/>, so that
    /// each piece of x meets one contiguous piece of a broadcast weight.
    /// </summary>
    private readonly struct BroadcastSegments<TBody>(TBody body, int period) : IChunkBody
        where TBody : struct, ISegmentBody
    {
        public void Run(int start, int len)
        {
            for (int i = start, end = start + len; i < end;)
            {
                int offset = i % period, piece = Math.Min(end - i, period - offset);
                body.Run(i, offset, piece);
                i += piece;
            }
        }
    }

    // ---------------------------------------------------------------- matrix–vector products

    /// <summary>Floats of A one work item of a matrix–vector product reads repeatedly: 64 KiB, which stays in a core's L2.</summary>
    private const int MatVecBlockFloats = 1 << 14;

    /// <summary>
    /// y[b, r] = A[r, :]·x[b, :]. A work item is a block of rows of A times a chunk of the batch; it walks its
    /// samples over the same block, so the block is read from memory once and from cache by the other samples.
    /// Every output is one <see cref="DotProduct"/> in a fixed order, so results do not depend on the thread count.
    /// </summary>
    private static void MatVecRows(float[] a, float[] x, float[] y, int batch, int rows, int cols)
    {
        int rowBlock = MatVecBlock(rows, Math.Max(1, MatVecBlockFloats / cols), 1);
        ForMatVecTiles(rows, rowBlock, batch, (long)batch * rows * cols, new MatVecRowTile(a, x, y, rows, cols));
    }

    /// <summary>Rows r0 … r1−1 of A times samples b0 … b1−1.</summary>
    private readonly struct MatVecRowTile(float[] a, float[] x, float[] y, int rows, int cols) : IMatVecTile
    {
        public void Run(int r0, int r1, int b0, int b1)
        {
            for (int b = b0; b < b1; b++)
            {
                var xb = new ReadOnlySpan<float>(x, b * cols, cols);
                for (int r = r0; r < r1; r++)
                {
                    y[b * rows + r] = DotProduct(new ReadOnlySpan<float>(a, r * cols, cols), xb);
                }
            }
        }
    }

    /// <summary>
    /// y[b, :] = Σ_r x[b, r]·A[r, :], as vector axpys of the rows of A into y. A work item owns a block of columns
    /// (of every sample in its batch chunk) and runs over all rows in order, so no two threads write one output and
    /// each output sums its terms in row order whatever the thread count. The four row segments it reads at a time
    /// stay in L1 while the item's samples use them.
    /// </summary>
    private static void MatVecTransposed(float[] a, float[] x, float[] y, int batch, int rows, int cols)
    {
        // Segments of at least 128 floats (512 B) keep the per-call overhead small; at most 1024 (4 KiB, 16 KiB for four rows) keep them in L1.
        int colBlock = MatVecBlock(cols, 1024, 128);
        ForMatVecTiles(cols, colBlock, batch, (long)batch * rows * cols, new MatVecColumnTile(a, x, y, rows, cols));
    }

    /// <summary>Columns c0 … c1−1 of Aᵀx for samples b0 … b1−1.</summary>
    private readonly struct MatVecColumnTile(float[] a, float[] x, float[] y, int rows, int cols) : IMatVecTile
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int c0, int c1, int b0, int b1)
        {
            int width = c1 - c0;
            for (int b = b0; b < b1; b++)
            {
                y.AsSpan(b * cols + c0, width).Clear();
            }

            int r = 0;
            for (; r + 3 < rows; r += 4)
            {
                var a0 = new ReadOnlySpan<float>(a, r * cols + c0, width);
                var a1 = new ReadOnlySpan<float>(a, (r + 1) * cols + c0, width);
                var a2 = new ReadOnlySpan<float>(a, (r + 2) * cols + c0, width);
                var a3 = new ReadOnlySpan<float>(a, (r + 3) * cols + c0, width);
                for (int b = b0; b < b1; b++)
                {
                    int xi = b * rows + r;
                    AxpyFourRows(x[xi], x[xi + 1], x[xi + 2], x[xi + 3], a0, a1, a2, a3, y.AsSpan(b * cols + c0, width));
                }
            }

            for (; r < rows; r++)
            {
                var segment = new ReadOnlySpan<float>(a, r * cols + c0, width);
                for (int b = b0; b < b1; b++)
                {
                    AxpySpan(x[b * rows + r], segment, y.AsSpan(b * cols + c0, width));
                }
            }
        }
    }

    /// <summary>
    /// y += x0·a0 + x1·a1 + x2·a2 + x3·a3, added one row after the other, so that each element rounds exactly as
    /// after four <see cref="AxpySpan"/> calls, but with y loaded and stored once per four rows instead of four times.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AxpyFourRows(float x0, float x1, float x2, float x3,
        ReadOnlySpan<float> a0, ReadOnlySpan<float> a1, ReadOnlySpan<float> a2, ReadOnlySpan<float> a3, Span<float> y)
    {
        var v0 = MemoryMarshal.Cast<float, Vector<float>>(a0);
        var v1 = MemoryMarshal.Cast<float, Vector<float>>(a1);
        var v2 = MemoryMarshal.Cast<float, Vector<float>>(a2);
        var v3 = MemoryMarshal.Cast<float, Vector<float>>(a3);
        var yv = MemoryMarshal.Cast<float, Vector<float>>(y);
        Vector<float> s0 = new(x0), s1 = new(x1), s2 = new(x2), s3 = new(x3);
        for (int i = 0; i < yv.Length; i++)
        {
            yv[i] = yv[i] + s0 * v0[i] + s1 * v1[i] + s2 * v2[i] + s3 * v3[i];
        }

        for (int i = yv.Length * Vector<float>.Count; i < y.Length; i++)
        {
            y[i] = y[i] + x0 * a0[i] + x1 * a1[i] + x2 * a2[i] + x3 * a3[i];
        }
    }

    /// <summary>
    /// A block of an extent of <paramref name="extent"/> rows or columns: at most <paramref name="largest"/>, and
    /// smaller (down to <paramref name="smallest"/>) when that gives every thread a few blocks.
    /// </summary>
    private static int MatVecBlock(int extent, int largest, int smallest)
    {
        int threads = SimdWorkers.Shared.Concurrency;
        int spread = (extent + 4 * threads - 1) / (4 * threads);
        return Math.Clamp(Math.Min(largest, Math.Max(smallest, spread)), 1, extent);
    }

    /// <summary>
    /// Runs <paramref name="tile"/>(first, end, firstSample, endSample) over blocks of <paramref name="extent"/> times
    /// chunks of the batch, in parallel when the product has at least <see cref="ParallelThreshold"/> multiply-adds.
    /// The batch is split only as far as needed to give every thread a few items.
    /// </summary>
    private static void ForMatVecTiles<TTile>(int extent, int block, int batch, long multiplyAdds, in TTile tile)
        where TTile : struct, IMatVecTile
    {
        if (multiplyAdds < ParallelThreshold)
        {
            tile.Run(0, extent, 0, batch);
            return;
        }

        int blocks = (extent + block - 1) / block;
        int chunksWanted = Math.Clamp((4 * SimdWorkers.Shared.Concurrency + blocks - 1) / blocks, 1, batch);
        int perChunk = (batch + chunksWanted - 1) / chunksWanted;
        int chunks = (batch + perChunk - 1) / perChunk;
        SimdWorkers.Shared.For(blocks * chunks, new MatVecTiles<TTile>(tile, extent, block, blocks, batch, perChunk));
    }

    /// <summary>A block of rows or columns times a chunk of the batch: (first, end, firstSample, endSample).</summary>
    private interface IMatVecTile
    {
        void Run(int first, int end, int firstSample, int endSample);
    }

    /// <summary>Item = block + blocks·chunk.</summary>
    private readonly struct MatVecTiles<TTile>(TTile tile, int extent, int block, int blocks, int batch, int perChunk) : IParallelBody
        where TTile : struct, IMatVecTile
    {
        public void Run(int item)
        {
            int blk = item % blocks, chunk = item / blocks;
            tile.Run(blk * block, Math.Min(extent, (blk + 1) * block), chunk * perChunk, Math.Min(batch, (chunk + 1) * perChunk));
        }
    }

    /// <summary>
    /// Σ a[i]·b[i] in float with four independent vector accumulators, which hide the latency of the vector add
    /// (one accumulator would serialise every iteration on it), then the scalar tail.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotProduct(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        b = b[..a.Length];
        int width = Vector<float>.Count, vectors = a.Length / width;
        ref float ra = ref MemoryMarshal.GetReference(a);
        ref float rb = ref MemoryMarshal.GetReference(b);
        Vector<float> s0 = Vector<float>.Zero, s1 = Vector<float>.Zero, s2 = Vector<float>.Zero, s3 = Vector<float>.Zero;
        int v = 0;
        // Unchecked loads: v + 3 < vectors keeps every load inside a, and b has a's length.
        for (; v + 3 < vectors; v += 4)
        {
            nuint i = (nuint)(v * width);
            s0 += Vector.LoadUnsafe(ref ra, i) * Vector.LoadUnsafe(ref rb, i);
            s1 += Vector.LoadUnsafe(ref ra, i + (nuint)width) * Vector.LoadUnsafe(ref rb, i + (nuint)width);
            s2 += Vector.LoadUnsafe(ref ra, i + (nuint)(2 * width)) * Vector.LoadUnsafe(ref rb, i + (nuint)(2 * width));
            s3 += Vector.LoadUnsafe(ref ra, i + (nuint)(3 * width)) * Vector.LoadUnsafe(ref rb, i + (nuint)(3 * width));
        }

        for (; v < vectors; v++)
        {
            nuint i = (nuint)(v * width);
            s0 += Vector.LoadUnsafe(ref ra, i) * Vector.LoadUnsafe(ref rb, i);
        }

        float sum = Vector.Sum((s0 + s1) + (s2 + s3));
        for (int i = vectors * width; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }

        return sum;
    }

    // ---------------------------------------------------------------- reductions

    /// <inheritdoc/>
    protected override void SumCore(Tensor x, Tensor result) => D(result)[0] = (float)SumDouble(D(x));

    /// <inheritdoc/>
    protected override void DotCore(Tensor a, Tensor b, Tensor result)
    {
        float[] ad = D(a), bd = D(b);
        double total = 0;
        const int block = 4096;
        for (int start = 0; start < ad.Length; start += block)
        {
            int len = Math.Min(block, ad.Length - start);
            var av = MemoryMarshal.Cast<float, Vector<float>>(ad.AsSpan(start, len));
            var bv = MemoryMarshal.Cast<float, Vector<float>>(bd.AsSpan(start, len));
            var acc = Vector<float>.Zero;
            for (int i = 0; i < av.Length; i++)
            {
                acc += av[i] * bv[i];
            }

            double part = Vector.Sum(acc);
            for (int i = start + av.Length * Vector<float>.Count; i < start + len; i++)
            {
                part += (double)ad[i] * bd[i];
            }

            total += part;
        }

        D(result)[0] = (float)total;
    }

    /// <inheritdoc/>
    protected override void NormPerSampleCore(Tensor x, Tensor result)
    {
        float[] xd = D(x), r = D(result);
        int per = x.Shape.PerSample;
        for (int n = 0; n < x.Shape.N; n++)
        {
            var span = new ReadOnlySpan<float>(xd, n * per, per);
            double sq = 0;
            foreach (float v in span)
            {
                sq += (double)v * v;
            }

            r[n] = (float)Math.Sqrt(sq);
        }
    }

    /// <summary>Sum in float vector blocks of 4096, accumulated across blocks in double.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double SumDouble(ReadOnlySpan<float> x)
    {
        double total = 0;
        for (int start = 0; start < x.Length; start += SumBlock)
        {
            var part = x.Slice(start, Math.Min(SumBlock, x.Length - start));
            var v = MemoryMarshal.Cast<float, Vector<float>>(part);
            var acc = Vector<float>.Zero;
            for (int i = 0; i < v.Length; i++)
            {
                acc += v[i];
            }

            double s = Vector.Sum(acc);
            for (int i = v.Length * Vector<float>.Count; i < part.Length; i++)
            {
                s += part[i];
            }

            total += s;
        }

        return total;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double SumSquaredDeviation(ReadOnlySpan<float> x, float mean)
    {
        double total = 0;
        var meanV = new Vector<float>(mean);
        for (int start = 0; start < x.Length; start += SumBlock)
        {
            var part = x.Slice(start, Math.Min(SumBlock, x.Length - start));
            var v = MemoryMarshal.Cast<float, Vector<float>>(part);
            var acc = Vector<float>.Zero;
            for (int i = 0; i < v.Length; i++)
            {
                var d = v[i] - meanV;
                acc += d * d;
            }

            double s = Vector.Sum(acc);
            for (int i = v.Length * Vector<float>.Count; i < part.Length; i++)
            {
                double d = part[i] - mean;
                s += d * d;
            }

            total += s;
        }

        return total;
    }

    // ---------------------------------------------------------------- random numbers

    /// <inheritdoc/>
    protected override void FillGaussianCore(Tensor y, ulong seed, ulong offset) => ForChunks(y.Length, new GaussianChunk(D(y), seed, offset));

    /// <inheritdoc/>
    protected override void FillGaussianBlocksCore(Tensor y, Tensor seeds, int block, ulong offset) =>
        ForChunks(y.Length, new GaussianBlocksChunk(D(y), D(seeds), block, offset));

    /// <summary>y[i] = Philox Gaussian (seed of block i / block, offset + i mod block) on [start, start + length).</summary>
    private readonly struct GaussianBlocksChunk(float[] yd, float[] seeds, int block, ulong offset) : IChunkBody
    {
        public void Run(int start, int len)
        {
            for (int i = start; i < start + len; i++)
            {
                int o = i / block;
                ulong seed = (uint)BitConverter.SingleToInt32Bits(seeds[2 * o]) | ((ulong)(uint)BitConverter.SingleToInt32Bits(seeds[2 * o + 1]) << 32);
                yd[i] = Philox.Gaussian(seed, offset + (ulong)(i - o * block));
            }
        }
    }

    /// <summary>y[i] = Philox Gaussian (seed, offset + i) on [start, start + length).</summary>
    private readonly struct GaussianChunk(float[] yd, ulong seed, ulong offset) : IChunkBody
    {
        public void Run(int start, int len)
        {
            for (int i = start; i < start + len; i++)
            {
                yd[i] = Philox.Gaussian(seed, offset + (ulong)i);
            }
        }
    }

    // ---------------------------------------------------------------- parallel loops

    /// <summary>A piece [start, start + length) of an elementwise op.</summary>
    private interface IChunkBody
    {
        void Run(int start, int length);
    }

    /// <summary>Runs <paramref name="body"/> over [0, total) in chunks, in parallel when large.</summary>
    private static void ForChunks<TBody>(int total, in TBody body)
        where TBody : struct, IChunkBody
    {
        if (total < ParallelThreshold)
        {
            body.Run(0, total);
            return;
        }

        int chunks = Math.Min(SimdWorkers.Shared.Concurrency * 4, (total + ParallelThreshold - 1) / ParallelThreshold);
        int size = (total + chunks - 1) / chunks;
        size = (size + 15) & ~15;
        SimdWorkers.Shared.For((total + size - 1) / size, new Chunks<TBody>(body, total, size));
    }

    /// <summary>
    /// Runs <paramref name="body"/> for every plane, in parallel, a few runs of consecutive planes per thread: as
    /// <see cref="ForChunks"/> splits an elementwise op, so that the op after this one finds more of its input in the
    /// cache of the core that wrote it (one plane per item scatters every region over both cores).
    /// </summary>
    private static void ForPlanes<TBody>(int planes, in TBody body)
        where TBody : struct, IParallelBody
    {
        int items = Math.Min(planes, 4 * SimdWorkers.Shared.Concurrency);
        SimdWorkers.Shared.For(items, new PlaneRuns<TBody>(body, planes, items));
    }

    /// <summary>Item i of a <see cref="ForPlanes"/> loop: planes i·planes/items … (i + 1)·planes/items − 1.</summary>
    private readonly struct PlaneRuns<TBody>(TBody body, int planes, int items) : IParallelBody
        where TBody : struct, IParallelBody
    {
        public void Run(int item)
        {
            for (int plane = (int)((long)item * planes / items), end = (int)((long)(item + 1) * planes / items); plane < end; plane++)
            {
                body.Run(plane);
            }
        }
    }

    /// <summary>Chunk c of a <see cref="ForChunks"/> loop.</summary>
    private readonly struct Chunks<TBody>(TBody body, int total, int size) : IParallelBody
        where TBody : struct, IChunkBody
    {
        public void Run(int c)
        {
            int start = c * size;
            body.Run(start, Math.Min(size, total - start));
        }
    }
}
