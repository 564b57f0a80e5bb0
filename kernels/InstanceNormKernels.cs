using ILGPU;

namespace JointDiffusion.Kernels;

/// <summary>
/// InstanceNorm2dPlus (NCSNv2's "InstanceNorm++"), forward and backward. Per sample b and channel c,
/// y = γ_c·((x − μ_c)·r_c + α_c·(μ_c − m)·ρ) + β_c with r_c = 1/√(s²_c + ε), m = mean_c μ_c and
/// ρ = 1/√(v + ε), v the unbiased variance of the channel means. Statistics layout [N, 2C + 2]:
/// μ_0..μ_{C−1}, r_0..r_{C−1}, m, ρ. Plane reductions use one group per (sample, channel) plane and a
/// deterministic group sum (<see cref="GroupReduction"/>: warp shuffles, one shared slot per warp, then the
/// first warp; a shared-memory tree on OpenCL). Launch them with a power-of-two group of at most
/// <see cref="ReductionKernels.MaxGroupSize"/> threads; the small per-sample and per-channel loops over C
/// or N run one thread each.
/// </summary>
public static class InstanceNormKernels
{
    /// <summary>Bit of <see cref="Geometry.Flags"/>: add into the outputs instead of overwriting them.</summary>
    public const int Accumulate = 1;

    /// <summary>Bit of <see cref="Geometry.Flags"/>: write dα.</summary>
    public const int WantAlpha = 2;

    /// <summary>Bit of <see cref="Geometry.Flags"/>: write dγ.</summary>
    public const int WantGamma = 4;

    /// <summary>Bit of <see cref="Geometry.Flags"/>: write dβ.</summary>
    public const int WantBeta = 8;

    /// <summary>Bit of <see cref="Geometry.Flags"/> for <see cref="Forward"/>: write ELU(y) instead of y.</summary>
    public const int Elu = 16;

    /// <summary>Batch, channels, plane size, ε and the flags (the forward's ELU, the backward's outputs).</summary>
    public readonly struct Geometry
    {
        /// <summary>Batch size N.</summary>
        public readonly int Batch;

        /// <summary>Channels C (≥ 2).</summary>
        public readonly int Channels;

        /// <summary>H·W.</summary>
        public readonly int PlaneSize;

        /// <summary>ε of both normalisations.</summary>
        public readonly float Epsilon;

        /// <summary>
        /// Combination of <see cref="Accumulate"/>, <see cref="WantAlpha"/>, <see cref="WantGamma"/>, <see cref="WantBeta"/>
        /// (backward) or <see cref="Elu"/> (forward).
        /// </summary>
        public readonly int Flags;

        /// <summary>Creates the geometry.</summary>
        public Geometry(int batch, int channels, int planeSize, float epsilon, int flags)
        {
            Batch = batch;
            Channels = channels;
            PlaneSize = planeSize;
            Epsilon = epsilon;
            Flags = flags;
        }

        /// <summary>Floats of statistics per sample: 2C + 2.</summary>
        public int StatsPerSample => 2 * Channels + 2;
    }

    // ---------------------------------------------------------------- forward

    /// <summary>
    /// μ_c and r_c of every plane, one group per plane (grid = N·C). Two passes (mean, then squared deviations)
    /// so that a large mean does not cancel the variance; s² is the biased variance, as in instance norm.
    /// </summary>
    public static void PlaneStatistics(ArrayView<float> x, ArrayView<float> stats, Geometry g)
    {
        var shared = SharedMemory.Allocate<float>(ReductionKernels.MaxGroupSize);
        int plane = Grid.IdxX;
        if (plane >= g.Batch * g.Channels)
        {
            return; // uniform over the group, so no thread misses a barrier
        }

        int offset = plane * g.PlaneSize;
        float s = 0f;
        for (int i = Group.IdxX; i < g.PlaneSize; i += Group.DimX)
        {
            s += x[offset + i];
        }

        float mean = GroupReduction.Sum(s, shared) / g.PlaneSize;
        float q = 0f;
        for (int i = Group.IdxX; i < g.PlaneSize; i += Group.DimX)
        {
            float d = x[offset + i] - mean;
            q += d * d;
        }

        float variance = GroupReduction.Sum(q, shared) / g.PlaneSize;
        if (Group.IdxX == 0)
        {
            int n = plane / g.Channels, c = plane % g.Channels, o = n * g.StatsPerSample;
            stats[o + c] = mean;
            stats[o + g.Channels + c] = 1f / MathF.Sqrt(variance + g.Epsilon);
        }
    }

    /// <summary>m and ρ of every sample from its channel means, one thread per sample (v divides by C − 1, as torch.var).</summary>
    public static void SampleStatistics(Index1D index, ArrayView<float> stats, Geometry g)
    {
        int n = index;
        if (n >= g.Batch)
        {
            return;
        }

        int o = n * g.StatsPerSample, c = g.Channels;
        float m = 0f;
        for (int ch = 0; ch < c; ch++)
        {
            m += stats[o + ch];
        }

        m /= c;
        float v = 0f;
        for (int ch = 0; ch < c; ch++)
        {
            float d = stats[o + ch] - m;
            v += d * d;
        }

        v /= c - 1;
        stats[o + 2 * c] = m;
        stats[o + 2 * c + 1] = 1f / MathF.Sqrt(v + g.Epsilon);
    }

    /// <summary>
    /// y = γ·r·x + (β + γ·(α·(μ − m)·ρ − r·μ)), one thread per element; with <see cref="Elu"/> in the flags, ELU of it
    /// (as <see cref="EluKernels.Forward"/>), so NCSNv2's norm-then-ELU reads and writes the tensor once.
    /// </summary>
    public static void Forward(Index1D index, ArrayView<float> x, ArrayView<float> alpha, ArrayView<float> gamma, ArrayView<float> beta,
        ArrayView<float> stats, ArrayView<float> y, Geometry g)
    {
        int e = index;
        if (e >= y.IntLength)
        {
            return;
        }

        int plane = e / g.PlaneSize;
        int n = plane / g.Channels, c = plane % g.Channels, o = n * g.StatsPerSample;
        float mu = stats[o + c], rstd = stats[o + g.Channels + c];
        float mhat = (mu - stats[o + 2 * g.Channels]) * stats[o + 2 * g.Channels + 1];
        float scale = gamma[c] * rstd;
        float shift = beta[c] + gamma[c] * (alpha[c] * mhat - rstd * mu);
        float v = x[e] * scale + shift;
        // ELU as EluKernels.Forward computes it: a NaN fails v > 0 and stays NaN through exp.
        y[e] = (g.Flags & Elu) != 0 && !(v > 0f) ? MathF.Exp(v) - 1f : v;
    }

    // ---------------------------------------------------------------- backward

    /// <summary>
    /// sums[2p] = Σ dy and sums[2p + 1] = Σ dy·h over plane p, with h = (x − μ)·r; one group per plane.
    /// </summary>
    public static void PlaneGradientSums(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> stats, ArrayView<float> sums, Geometry g)
    {
        // Two slots per thread: both sums go through one reduction (GroupReduction.SumPair).
        var shared = SharedMemory.Allocate<float>(2 * ReductionKernels.MaxGroupSize);
        int plane = Grid.IdxX;
        if (plane >= g.Batch * g.Channels)
        {
            return; // uniform over the group
        }

        int n = plane / g.Channels, c = plane % g.Channels, o = n * g.StatsPerSample;
        float mu = stats[o + c], rstd = stats[o + g.Channels + c];
        int offset = plane * g.PlaneSize;
        float a = 0f, b = 0f;
        for (int i = Group.IdxX; i < g.PlaneSize; i += Group.DimX)
        {
            float d = dy[offset + i];
            a += d;
            b += d * (x[offset + i] - mu) * rstd;
        }

        var (sumDy, sumDyH) = GroupReduction.SumPair(a, b, shared);
        if (Group.IdxX == 0)
        {
            sums[2 * plane] = sumDy;
            sums[2 * plane + 1] = sumDyH;
        }
    }

    /// <summary>
    /// dβ_c = Σ_n Σ dy, dγ_c = Σ_n (Σ dy·h + α_c·m̂·Σ dy), dα_c = Σ_n γ_c·m̂·Σ dy with m̂ = (μ_c − m)·ρ; one
    /// thread per channel looping over the batch. Outputs not flagged in <see cref="Geometry.Flags"/> are not touched.
    /// </summary>
    public static void ParameterGradients(Index1D index, ArrayView<float> alpha, ArrayView<float> gamma, ArrayView<float> stats,
        ArrayView<float> sums, ArrayView<float> dalpha, ArrayView<float> dgamma, ArrayView<float> dbeta, Geometry g)
    {
        int c = index;
        if (c >= g.Channels)
        {
            return;
        }

        int nc = g.Channels;
        float da = 0f, dg = 0f, db = 0f;
        for (int n = 0; n < g.Batch; n++)
        {
            int o = n * g.StatsPerSample, plane = n * nc + c;
            float mhat = (stats[o + c] - stats[o + 2 * nc]) * stats[o + 2 * nc + 1];
            float sumDy = sums[2 * plane], sumDyH = sums[2 * plane + 1];
            db += sumDy;
            dg += sumDyH + alpha[c] * mhat * sumDy;
            da += gamma[c] * mhat * sumDy;
        }

        bool accumulate = (g.Flags & Accumulate) != 0;
        if ((g.Flags & WantAlpha) != 0)
        {
            dalpha[c] = accumulate ? dalpha[c] + da : da;
        }

        if ((g.Flags & WantGamma) != 0)
        {
            dgamma[c] = accumulate ? dgamma[c] + dg : dg;
        }

        if ((g.Flags & WantBeta) != 0)
        {
            dbeta[c] = accumulate ? dbeta[c] + db : db;
        }
    }

    /// <summary>
    /// The gradient reaching each channel mean μ_c through m̂ = (μ_c − m)·ρ, one thread per sample:
    /// g_c = γ_c·α_c·Σ dy, then dμ_c = ρ·g_c + dv·2(μ_c − m)/(C − 1) with dv = −½ρ³·Σ_c g_c(μ_c − m), centred
    /// over c (the −1/C from m). Written to meanGrads[n·C + c].
    /// </summary>
    public static void MeanGradients(Index1D index, ArrayView<float> alpha, ArrayView<float> gamma, ArrayView<float> stats,
        ArrayView<float> sums, ArrayView<float> meanGrads, Geometry g)
    {
        int n = index;
        if (n >= g.Batch)
        {
            return;
        }

        int nc = g.Channels, o = n * g.StatsPerSample;
        float m = stats[o + 2 * nc], rsv = stats[o + 2 * nc + 1];
        float gu = 0f;
        for (int c = 0; c < nc; c++)
        {
            gu += gamma[c] * alpha[c] * sums[2 * (n * nc + c)] * (stats[o + c] - m);
        }

        // d ρ/d v = −½ρ³; d v/d μ_c = 2(μ_c − m)/(C − 1)
        float dv = -0.5f * rsv * rsv * rsv * gu;
        float mean = 0f;
        for (int c = 0; c < nc; c++)
        {
            float gm = gamma[c] * alpha[c] * sums[2 * (n * nc + c)];
            float du = rsv * gm + dv * 2f * (stats[o + c] - m) / (nc - 1);
            meanGrads[n * nc + c] = du;
            mean += du;
        }

        mean /= nc;
        for (int c = 0; c < nc; c++)
        {
            meanGrads[n * nc + c] -= mean;
        }
    }

    /// <summary>
    /// dx (+)= γ·r·(dy − mean(dy) − h·mean(dy·h)) + dμ/HW, one thread per element; <see cref="Accumulate"/> adds.
    /// </summary>
    public static void InputGradient(Index1D index, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> gamma, ArrayView<float> stats,
        ArrayView<float> sums, ArrayView<float> meanGrads, ArrayView<float> dx, Geometry g)
    {
        int e = index;
        if (e >= dx.IntLength)
        {
            return;
        }

        int plane = e / g.PlaneSize;
        int n = plane / g.Channels, c = plane % g.Channels, o = n * g.StatsPerSample;
        float mu = stats[o + c], rstd = stats[o + g.Channels + c];
        float meanDy = sums[2 * plane] / g.PlaneSize;
        float meanDyH = sums[2 * plane + 1] / g.PlaneSize;
        float add = meanGrads[plane] / g.PlaneSize;
        float h = (x[e] - mu) * rstd;
        float v = gamma[c] * rstd * (dy[e] - meanDy - h * meanDyH) + add;
        dx[e] = (g.Flags & Accumulate) != 0 ? dx[e] + v : v;
    }
}
