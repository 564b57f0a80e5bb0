using JointDiffusion.Kernels;

namespace JointDiffusion.Gpu.Tests.Reference;

/// <summary>
/// Plain double-precision reference of every op in <c>ComputeBackend</c>, forward and backward, written for
/// obviousness rather than speed: loops that read like the formulas in NCSNV2.md §1. Arrays are NCHW row-major
/// with explicit shapes. Every function returns a fresh array; a backend's <c>accumulate = true</c> is checked
/// against <c>initial + reference</c> by the tests.
/// </summary>
/// <remarks>
/// The backward functions are derived independently of the backends (chain rule on the forward written here)
/// and are themselves checked against central differences in <c>ReferenceOpsTests</c>.
/// </remarks>
public static class ReferenceOps
{
    /// <summary>ε of both InstanceNorm++ normalisations (PyTorch's default).</summary>
    public const double InstanceNormEpsilon = 1e-5;

    // ---------------------------------------------------------------- convolution

    /// <summary>Output extent of a stride-1 convolution: in + 2·pad − dil·(k − 1).</summary>
    public static int ConvOutputSize(int input, int k, int pad, int dil) => input + 2 * pad - dil * (k - 1);

    /// <summary>
    /// y[n,o,i,j] = b[o] + Σ_{c,p,q} w[o,c,p,q]·x[n,c, i − pad + dil·p, j − pad + dil·q] (zero outside x).
    /// x [n,cin,h,w], w [cout,cin,k,k], b [cout] or null; returns y [n,cout,ho,wo].
    /// </summary>
    public static double[] Conv2d(double[] x, double[] w, double[]? b, int n, int cin, int h, int wd, int cout, int k, int pad, int dil)
    {
        int ho = ConvOutputSize(h, k, pad, dil), wo = ConvOutputSize(wd, k, pad, dil);
        var y = new double[n * cout * ho * wo];
        for (int bn = 0; bn < n; bn++)
        {
            for (int o = 0; o < cout; o++)
            {
                for (int i = 0; i < ho; i++)
                {
                    for (int j = 0; j < wo; j++)
                    {
                        double acc = b is null ? 0.0 : b[o];
                        for (int c = 0; c < cin; c++)
                        {
                            for (int p = 0; p < k; p++)
                            {
                                for (int q = 0; q < k; q++)
                                {
                                    int si = i - pad + dil * p, sj = j - pad + dil * q;
                                    if (si >= 0 && si < h && sj >= 0 && sj < wd)
                                    {
                                        acc += w[((o * cin + c) * k + p) * k + q] * x[((bn * cin + c) * h + si) * wd + sj];
                                    }
                                }
                            }
                        }

                        y[((bn * cout + o) * ho + i) * wo + j] = acc;
                    }
                }
            }
        }

        return y;
    }

    /// <summary>
    /// dx = ∂(Σ dy·y)/∂x for <see cref="Conv2d"/>: every output tap scatters dy·w back to the input pixel it read.
    /// dy [n,cout,ho,wo]; returns dx [n,cin,h,w].
    /// </summary>
    public static double[] Conv2dBackwardData(double[] dy, double[] w, int n, int cin, int h, int wd, int cout, int k, int pad, int dil)
    {
        int ho = ConvOutputSize(h, k, pad, dil), wo = ConvOutputSize(wd, k, pad, dil);
        var dx = new double[n * cin * h * wd];
        for (int bn = 0; bn < n; bn++)
        {
            for (int o = 0; o < cout; o++)
            {
                for (int i = 0; i < ho; i++)
                {
                    for (int j = 0; j < wo; j++)
                    {
                        double g = dy[((bn * cout + o) * ho + i) * wo + j];
                        for (int c = 0; c < cin; c++)
                        {
                            for (int p = 0; p < k; p++)
                            {
                                for (int q = 0; q < k; q++)
                                {
                                    int si = i - pad + dil * p, sj = j - pad + dil * q;
                                    if (si >= 0 && si < h && sj >= 0 && sj < wd)
                                    {
                                        dx[((bn * cin + c) * h + si) * wd + sj] += g * w[((o * cin + c) * k + p) * k + q];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        return dx;
    }

    /// <summary>dw[o,c,p,q] = Σ_{n,i,j} dy[n,o,i,j]·x[n,c, i − pad + dil·p, j − pad + dil·q]; returns dw [cout,cin,k,k].</summary>
    public static double[] Conv2dBackwardWeight(double[] x, double[] dy, int n, int cin, int h, int wd, int cout, int k, int pad, int dil)
    {
        int ho = ConvOutputSize(h, k, pad, dil), wo = ConvOutputSize(wd, k, pad, dil);
        var dw = new double[cout * cin * k * k];
        for (int bn = 0; bn < n; bn++)
        {
            for (int o = 0; o < cout; o++)
            {
                for (int i = 0; i < ho; i++)
                {
                    for (int j = 0; j < wo; j++)
                    {
                        double g = dy[((bn * cout + o) * ho + i) * wo + j];
                        for (int c = 0; c < cin; c++)
                        {
                            for (int p = 0; p < k; p++)
                            {
                                for (int q = 0; q < k; q++)
                                {
                                    int si = i - pad + dil * p, sj = j - pad + dil * q;
                                    if (si >= 0 && si < h && sj >= 0 && sj < wd)
                                    {
                                        dw[((o * cin + c) * k + p) * k + q] += g * x[((bn * cin + c) * h + si) * wd + sj];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        return dw;
    }

    /// <summary>db[o] = Σ_{n,i,j} dy[n,o,i,j]; dy [n,cout,ho,wo].</summary>
    public static double[] Conv2dBackwardBias(double[] dy, int n, int cout, int ho, int wo)
    {
        var db = new double[cout];
        for (int bn = 0; bn < n; bn++)
        {
            for (int o = 0; o < cout; o++)
            {
                for (int i = 0; i < ho * wo; i++)
                {
                    db[o] += dy[(bn * cout + o) * ho * wo + i];
                }
            }
        }

        return db;
    }

    // ---------------------------------------------------------------- InstanceNorm++

    /// <summary>
    /// The statistics of InstanceNorm++ in the layout of <c>InstanceNormStats</c>: per sample
    /// [μ_0..μ_{C−1}, 1/√(s²_0+ε)..1/√(s²_{C−1}+ε), m, 1/√(v+ε)], s² biased over H·W, v unbiased over channels.
    /// </summary>
    public static double[] InstanceNorm2dPlusStats(double[] x, int n, int c, int h, int wd)
    {
        int hw = h * wd, per = 2 * c + 2;
        var stats = new double[n * per];
        for (int b = 0; b < n; b++)
        {
            double m = 0;
            for (int ch = 0; ch < c; ch++)
            {
                int off = (b * c + ch) * hw;
                double mu = 0;
                for (int i = 0; i < hw; i++)
                {
                    mu += x[off + i];
                }

                mu /= hw;
                double s2 = 0;
                for (int i = 0; i < hw; i++)
                {
                    s2 += (x[off + i] - mu) * (x[off + i] - mu);
                }

                s2 /= hw;
                stats[b * per + ch] = mu;
                stats[b * per + c + ch] = 1.0 / Math.Sqrt(s2 + InstanceNormEpsilon);
                m += mu;
            }

            m /= c;
            double v = 0;
            for (int ch = 0; ch < c; ch++)
            {
                double d = stats[b * per + ch] - m;
                v += d * d;
            }

            v /= c - 1; // torch.var default: unbiased
            stats[b * per + 2 * c] = m;
            stats[b * per + 2 * c + 1] = 1.0 / Math.Sqrt(v + InstanceNormEpsilon);
        }

        return stats;
    }

    /// <summary>y = γ_c·((x − μ_c)/√(s²_c+ε) + α_c·(μ_c − m)/√(v+ε)) + β_c (NCSNV2.md §1).</summary>
    public static double[] InstanceNorm2dPlus(double[] x, double[] alpha, double[] gamma, double[] beta, int n, int c, int h, int wd)
    {
        int hw = h * wd, per = 2 * c + 2;
        var st = InstanceNorm2dPlusStats(x, n, c, h, wd);
        var y = new double[x.Length];
        for (int b = 0; b < n; b++)
        {
            for (int ch = 0; ch < c; ch++)
            {
                double mu = st[b * per + ch], rstd = st[b * per + c + ch];
                double mhat = (mu - st[b * per + 2 * c]) * st[b * per + 2 * c + 1];
                int off = (b * c + ch) * hw;
                for (int i = 0; i < hw; i++)
                {
                    y[off + i] = gamma[ch] * ((x[off + i] - mu) * rstd + alpha[ch] * mhat) + beta[ch];
                }
            }
        }

        return y;
    }

    /// <summary>
    /// Gradients of Σ dy·y for <see cref="InstanceNorm2dPlus"/> with respect to x, α, γ, β (parameters summed over
    /// the batch). x reaches y through h = (x − μ)·r (the usual instance-norm term) and through μ_c → mhat_j for
    /// every channel j; the second path is written as the explicit C×C Jacobian ∂mhat_j/∂μ_c.
    /// </summary>
    public static (double[] Dx, double[] Dalpha, double[] Dgamma, double[] Dbeta) InstanceNorm2dPlusBackward(
        double[] x, double[] dy, double[] alpha, double[] gamma, int n, int c, int h, int wd)
    {
        int hw = h * wd, per = 2 * c + 2;
        var st = InstanceNorm2dPlusStats(x, n, c, h, wd);
        var dx = new double[x.Length];
        var (dalpha, dgamma, dbeta) = (new double[c], new double[c], new double[c]);
        for (int b = 0; b < n; b++)
        {
            double m = st[b * per + 2 * c], q = st[b * per + 2 * c + 1];
            var mhat = new double[c];
            var dmhat = new double[c]; // ∂L/∂mhat_j = γ_j·α_j·Σ dy_j
            for (int ch = 0; ch < c; ch++)
            {
                double mu = st[b * per + ch], r = st[b * per + c + ch];
                mhat[ch] = (mu - m) * q;
                int off = (b * c + ch) * hw;
                double sumDy = 0, sumDyH = 0;
                for (int i = 0; i < hw; i++)
                {
                    sumDy += dy[off + i];
                    sumDyH += dy[off + i] * (x[off + i] - mu) * r;
                }

                dbeta[ch] += sumDy;
                dgamma[ch] += sumDyH + alpha[ch] * mhat[ch] * sumDy;
                dalpha[ch] += gamma[ch] * mhat[ch] * sumDy;
                dmhat[ch] = gamma[ch] * alpha[ch] * sumDy;

                // Instance-norm path: ∂L/∂x = r·(g − mean(g) − h·mean(g·h)) with g = γ·dy.
                double meanG = gamma[ch] * sumDy / hw, meanGh = gamma[ch] * sumDyH / hw;
                for (int i = 0; i < hw; i++)
                {
                    double hi = (x[off + i] - mu) * r;
                    dx[off + i] = r * (gamma[ch] * dy[off + i] - meanG - hi * meanGh);
                }
            }

            // Channel-mean path. mhat_j = (μ_j − m)·q, q = (v + ε)^(−1/2), v = Σ_j (μ_j − m)²/(C − 1), m = mean_j μ_j:
            // ∂mhat_j/∂μ_c = q·(δ_jc − 1/C) + (μ_j − m)·∂q/∂μ_c, ∂q/∂μ_c = −½·q³·2(μ_c − m)/(C − 1)
            // (the m-terms of ∂v/∂μ_c cancel because Σ_j (μ_j − m) = 0). Each x in plane c moves μ_c by 1/HW.
            for (int ch = 0; ch < c; ch++)
            {
                double uc = st[b * per + ch] - m;
                double dq = -q * q * q * uc / (c - 1);
                double dmu = 0;
                for (int j = 0; j < c; j++)
                {
                    double uj = st[b * per + j] - m;
                    double jacobian = q * ((j == ch ? 1.0 : 0.0) - 1.0 / c) + uj * dq;
                    dmu += dmhat[j] * jacobian;
                }

                int off = (b * c + ch) * hw;
                for (int i = 0; i < hw; i++)
                {
                    dx[off + i] += dmu / hw;
                }
            }
        }

        return (dx, dalpha, dgamma, dbeta);
    }

    // ---------------------------------------------------------------- activations and pools

    /// <summary>ELU(x) = x if x &gt; 0 else exp(x) − 1 (alpha = 1).</summary>
    public static double[] Elu(double[] x) => x.Select(v => v > 0 ? v : Math.Exp(v) - 1.0).ToArray();

    /// <summary>dx = dy·ELU'(x), ELU'(x) = 1 if x &gt; 0 else exp(x).</summary>
    public static double[] EluBackward(double[] x, double[] dy) => x.Select((v, i) => v > 0 ? dy[i] : dy[i] * Math.Exp(v)).ToArray();

    /// <summary>dx = dy·ELU'(x) from the output y = ELU(x): ELU'(x) = 1 if y &gt; 0 else y + 1 (= exp(x)).</summary>
    public static double[] EluBackwardFromOutput(double[] y, double[] dy) => y.Select((v, i) => v > 0 ? dy[i] : dy[i] * (v + 1.0)).ToArray();

    /// <summary>2×2 mean pool, summed in NCSNv2's order (x[2i,2j] + x[2i+1,2j] + x[2i,2j+1] + x[2i+1,2j+1]) / 4.</summary>
    public static double[] MeanPool2x2(double[] x, int n, int c, int h, int wd)
    {
        int ho = h / 2, wo = wd / 2;
        var y = new double[n * c * ho * wo];
        for (int plane = 0; plane < n * c; plane++)
        {
            for (int i = 0; i < ho; i++)
            {
                for (int j = 0; j < wo; j++)
                {
                    double X(int r, int s) => x[(plane * h + r) * wd + s];
                    y[(plane * ho + i) * wo + j] = (X(2 * i, 2 * j) + X(2 * i + 1, 2 * j) + X(2 * i, 2 * j + 1) + X(2 * i + 1, 2 * j + 1)) / 4.0;
                }
            }
        }

        return y;
    }

    /// <summary>dx[r,s] = dy[r/2, s/2]/4; dx has the pre-pool shape [n,c,h,w].</summary>
    public static double[] MeanPool2x2Backward(double[] dy, int n, int c, int h, int wd)
    {
        int ho = h / 2, wo = wd / 2;
        var dx = new double[n * c * h * wd];
        for (int plane = 0; plane < n * c; plane++)
        {
            for (int r = 0; r < h; r++)
            {
                for (int s = 0; s < wd; s++)
                {
                    dx[(plane * h + r) * wd + s] = dy[(plane * ho + r / 2) * wo + s / 2] / 4.0;
                }
            }
        }

        return dx;
    }

    /// <summary>
    /// Flat index of the maximum of the k×k window centred at (i, j) of a plane, padding −∞ (never chosen);
    /// ties go to the first element in row-major window order.
    /// </summary>
    public static int MaxPoolArgMax(double[] x, int planeOffset, int h, int wd, int i, int j, int k)
    {
        int r = k / 2, best = -1;
        for (int p = i - r; p <= i + r; p++)
        {
            for (int q = j - r; q <= j + r; q++)
            {
                if (p < 0 || p >= h || q < 0 || q >= wd)
                {
                    continue;
                }

                int idx = planeOffset + p * wd + q;
                if (best < 0 || x[idx] > x[best])
                {
                    best = idx;
                }
            }
        }

        return best;
    }

    /// <summary>k×k max pool, stride 1, padding k/2 with −∞: y has the shape of x.</summary>
    public static double[] MaxPool2d(double[] x, int n, int c, int h, int wd, int k)
    {
        var y = new double[x.Length];
        for (int plane = 0; plane < n * c; plane++)
        {
            for (int i = 0; i < h; i++)
            {
                for (int j = 0; j < wd; j++)
                {
                    y[plane * h * wd + i * wd + j] = x[MaxPoolArgMax(x, plane * h * wd, h, wd, i, j, k)];
                }
            }
        }

        return y;
    }

    /// <summary>dx = Σ over windows of dy routed to the window's (first) maximum.</summary>
    public static double[] MaxPool2dBackward(double[] x, double[] dy, int n, int c, int h, int wd, int k)
    {
        var dx = new double[x.Length];
        for (int plane = 0; plane < n * c; plane++)
        {
            for (int i = 0; i < h; i++)
            {
                for (int j = 0; j < wd; j++)
                {
                    dx[MaxPoolArgMax(x, plane * h * wd, h, wd, i, j, k)] += dy[plane * h * wd + i * wd + j];
                }
            }
        }

        return dx;
    }

    /// <summary>
    /// The two source taps and the weight of the second for output index <paramref name="dst"/> of an
    /// align_corners = true resize: src = dst·(in − 1)/(out − 1) (0 when out = 1).
    /// </summary>
    public static (int I0, int I1, double Lambda) BilinearTaps(int dst, int input, int output)
    {
        double src = output > 1 ? dst * (double)(input - 1) / (output - 1) : 0.0;
        int i0 = Math.Min((int)Math.Floor(src), input - 1);
        int i1 = Math.Min(i0 + 1, input - 1);
        return (i0, i1, src - i0);
    }

    /// <summary>Bilinear resize, align_corners = true, from [n,c,h,w] to [n,c,ho,wo].</summary>
    public static double[] BilinearResize(double[] x, int n, int c, int h, int wd, int ho, int wo)
    {
        var y = new double[n * c * ho * wo];
        for (int plane = 0; plane < n * c; plane++)
        {
            for (int i = 0; i < ho; i++)
            {
                var (i0, i1, li) = BilinearTaps(i, h, ho);
                for (int j = 0; j < wo; j++)
                {
                    var (j0, j1, lj) = BilinearTaps(j, wd, wo);
                    double X(int r, int s) => x[(plane * h + r) * wd + s];
                    y[(plane * ho + i) * wo + j] =
                        (1 - li) * (1 - lj) * X(i0, j0) + (1 - li) * lj * X(i0, j1) + li * (1 - lj) * X(i1, j0) + li * lj * X(i1, j1);
                }
            }
        }

        return y;
    }

    /// <summary>Adjoint of <see cref="BilinearResize"/>: each output's gradient goes back to its four taps with the same weights.</summary>
    public static double[] BilinearResizeBackward(double[] dy, int n, int c, int h, int wd, int ho, int wo)
    {
        var dx = new double[n * c * h * wd];
        for (int plane = 0; plane < n * c; plane++)
        {
            for (int i = 0; i < ho; i++)
            {
                var (i0, i1, li) = BilinearTaps(i, h, ho);
                for (int j = 0; j < wo; j++)
                {
                    var (j0, j1, lj) = BilinearTaps(j, wd, wo);
                    double g = dy[(plane * ho + i) * wo + j];
                    dx[(plane * h + i0) * wd + j0] += (1 - li) * (1 - lj) * g;
                    dx[(plane * h + i0) * wd + j1] += (1 - li) * lj * g;
                    dx[(plane * h + i1) * wd + j0] += li * (1 - lj) * g;
                    dx[(plane * h + i1) * wd + j1] += li * lj * g;
                }
            }
        }

        return dx;
    }

    // ---------------------------------------------------------------- elementwise

    /// <summary>y = a + b.</summary>
    public static double[] Add(double[] a, double[] b) => a.Select((v, i) => v + b[i]).ToArray();

    /// <summary>y = scale·x + shift.</summary>
    public static double[] Affine(double[] x, double scale, double shift) => x.Select(v => scale * v + shift).ToArray();

    /// <summary>Returns y + alpha·x.</summary>
    public static double[] Axpy(double alpha, double[] x, double[] y) => y.Select((v, i) => v + alpha * x[i]).ToArray();

    /// <summary>y[n] = s[n]·x[n] with <paramref name="perSample"/> elements per batch item.</summary>
    public static double[] ScalePerSample(double[] x, double[] s, int perSample) => x.Select((v, i) => s[i / perSample] * v).ToArray();

    /// <summary>Returns y[n] + alpha·s[n]·x[n].</summary>
    public static double[] AxpyPerSample(double alpha, double[] s, double[] x, double[] y, int perSample) =>
        y.Select((v, i) => v + alpha * s[i / perSample] * x[i]).ToArray();

    /// <summary>y[b, i] = x[b, i]·w[i], with w's length the per-sample length of x.</summary>
    public static double[] MultiplyBroadcast(double[] x, double[] w) => x.Select((v, i) => v * w[i % w.Length]).ToArray();

    /// <summary>y[b, i] = x[b, i] + alpha·w[i], with w's length the per-sample length of x.</summary>
    public static double[] AddBroadcast(double[] x, double alpha, double[] w) => x.Select((v, i) => v + alpha * w[i % w.Length]).ToArray();

    // ---------------------------------------------------------------- linear algebra

    /// <summary>
    /// y[b, r] = Σ_c A[r, c]·x[b, c] for A [rows, cols] row-major and x [batch, cols]; with <paramref name="transpose"/>
    /// y[b, c] = Σ_r A[r, c]·x[b, r] for x [batch, rows]. Returns y flattened to [batch, out].
    /// </summary>
    public static double[] MatVec(double[] a, int rows, int cols, double[] x, int batch, bool transpose)
    {
        int inLength = transpose ? rows : cols, outLength = transpose ? cols : rows;
        var y = new double[batch * outLength];
        for (int b = 0; b < batch; b++)
        {
            for (int o = 0; o < outLength; o++)
            {
                double acc = 0;
                for (int i = 0; i < inLength; i++)
                {
                    acc += (transpose ? a[i * cols + o] : a[o * cols + i]) * x[b * inLength + i];
                }

                y[b * outLength + o] = acc;
            }
        }

        return y;
    }

    // ---------------------------------------------------------------- reductions

    /// <summary>
    /// One Adam step (PyTorch's torch.optim.Adam, no weight decay) at 1-based step t: returns (p, m, v) after it.
    /// </summary>
    public static (double[] P, double[] M, double[] V) AdamUpdate(double[] p, double[] g, double[] m, double[] v,
        double lr, double beta1, double beta2, double eps, long t)
    {
        int len = p.Length;
        var (po, mo, vo) = (new double[len], new double[len], new double[len]);
        for (int i = 0; i < len; i++)
        {
            mo[i] = beta1 * m[i] + (1 - beta1) * g[i];
            vo[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
            double mHat = mo[i] / (1 - Math.Pow(beta1, t));
            double vHat = vo[i] / (1 - Math.Pow(beta2, t));
            po[i] = p[i] - lr * mHat / (Math.Sqrt(vHat) + eps);
        }

        return (po, mo, vo);
    }

    /// <summary>Σ x.</summary>
    public static double Sum(double[] x) => x.Sum();

    /// <summary>Σ a·b.</summary>
    public static double Dot(double[] a, double[] b) => a.Select((v, i) => v * b[i]).Sum();

    /// <summary>‖x[n]‖₂ for each batch item.</summary>
    public static double[] NormPerSample(double[] x, int n)
    {
        int per = x.Length / n;
        return Enumerable.Range(0, n).Select(b => Math.Sqrt(x.Skip(b * per).Take(per).Sum(v => v * v))).ToArray();
    }

    // ---------------------------------------------------------------- random numbers

    /// <summary>The Gaussian stream is defined by <see cref="Philox.Gaussian"/> itself: element i is Gaussian(seed, offset + i).</summary>
    public static double[] Gaussian(int length, ulong seed, ulong offset) =>
        Enumerable.Range(0, length).Select(i => (double)Philox.Gaussian(seed, offset + (ulong)i)).ToArray();
}
