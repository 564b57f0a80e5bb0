using System.Runtime.CompilerServices;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// Layout of one stride-1 convolution as the micro-kernels see it: the source planes copied with zero
/// padding into planes of <see cref="PaddedHeight"/>×<see cref="PaddedWidth"/>, and the output pixels grouped
/// into vectors of <see cref="Lanes"/> consecutive positions of that padded plane.
/// </summary>
/// <remarks>
/// Output (i, j) with tap (ki, kj) reads padded position (i + ki·dil, j + kj·dil), i.e. flat index
/// q + ki·dil·Wp + kj·dil with q = i·Wp + j. So a vector of outputs that starts at q reads, for every tap, one
/// contiguous run of inputs, an unaligned load. Two ways to cut the outputs into vectors:
/// <list type="bullet">
/// <item>flat: vectors at q = 0, L, 2L, … run across rows; lanes that land in the columns j ≥ wo are
/// computed and dropped (a waste of (Wp − wo)/Wp), no lane is lost at row ends;</item>
/// <item>by row: ⌈wo/L⌉ vectors per output row, starting at j = 0, L, …; no waste when L divides wo.</item>
/// </list>
/// The one with fewer vectors is used. A negative padding crops the source, as backward-data needs when
/// pad &gt; dil·(k−1).
/// </remarks>
internal readonly struct SimdConvGeometry
{
    public SimdConvGeometry(int height, int width, int pad, int kernel, int dilation, int lanes)
    {
        Height = height;
        Width = width;
        Pad = pad;
        PaddedHeight = height + 2 * pad;
        PaddedWidth = width + 2 * pad;
        PlaneStride = PaddedHeight * PaddedWidth;
        int reach = dilation * (kernel - 1);
        OutHeight = PaddedHeight - reach;
        OutWidth = PaddedWidth - reach;
        Lanes = lanes;
        VectorsPerRow = (OutWidth + lanes - 1) / lanes;
        int flatVectors = ((OutHeight - 1) * PaddedWidth + OutWidth + lanes - 1) / lanes;
        Flat = flatVectors < OutHeight * VectorsPerRow;
        VectorCount = Flat ? flatVectors : OutHeight * VectorsPerRow;

        // The last vector's farthest tap reads Lanes floats from VectorStart(last) + reach·(Wp + 1); past the
        // last plane that needs this many zeroed floats so every load stays inside the buffer.
        Slack = Math.Max(0, VectorStart(VectorCount - 1) + lanes + reach * (PaddedWidth + 1) - PlaneStride);
    }

    /// <summary>Source plane height (unpadded).</summary>
    public int Height { get; }

    /// <summary>Source plane width (unpadded).</summary>
    public int Width { get; }

    /// <summary>Zero padding on each side; negative crops.</summary>
    public int Pad { get; }

    /// <summary>Hp = H + 2·pad.</summary>
    public int PaddedHeight { get; }

    /// <summary>Wp = W + 2·pad, the row stride of the padded planes.</summary>
    public int PaddedWidth { get; }

    /// <summary>Hp·Wp, the distance between padded planes.</summary>
    public int PlaneStride { get; }

    /// <summary>ho = Hp − dil·(k−1).</summary>
    public int OutHeight { get; }

    /// <summary>wo = Wp − dil·(k−1).</summary>
    public int OutWidth { get; }

    /// <summary>Floats per vector.</summary>
    public int Lanes { get; }

    /// <summary>Whether vectors run across rows (else they are cut by row).</summary>
    public bool Flat { get; }

    /// <summary>Vectors per output row when cut by row.</summary>
    public int VectorsPerRow { get; }

    /// <summary>Vectors per output plane.</summary>
    public int VectorCount { get; }

    /// <summary>Zeroed floats needed after the last padded plane.</summary>
    public int Slack { get; }

    /// <summary>Length of a buffer of <paramref name="planes"/> padded planes plus the slack.</summary>
    public int BufferLength(int planes) => planes * PlaneStride + Slack;

    /// <summary>Flat padded index of the first output of vector <paramref name="t"/> (tap (0,0) reads there).</summary>
    public int VectorStart(int t) => Flat ? t * Lanes : t / VectorsPerRow * PaddedWidth + t % VectorsPerRow * Lanes;

    /// <summary>
    /// Fills table[2t] = <see cref="VectorStart"/>(t) and table[2t+1] = the output index i·wo + j of vector t's
    /// first lane when all its lanes are outputs of one row, else −1, for t &lt; <see cref="VectorCount"/>, so
    /// the inner loops need no divisions.
    /// </summary>
    public void FillVectorTable(Span<int> table)
    {
        for (int t = 0; t < VectorCount; t++)
        {
            table[2 * t] = VectorStart(t);
            int j0 = t % VectorsPerRow * Lanes;
            table[2 * t + 1] = !Flat && j0 + Lanes <= OutWidth ? t / VectorsPerRow * OutWidth + j0 : -1;
        }
    }

    /// <summary>Copies one source plane [H,W] into a padded plane [Hp,Wp]: zeros around, cropped if pad &lt; 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void PadPlane(ReadOnlySpan<float> source, Span<float> padded)
    {
        int p = Pad;
        int colStart = Math.Max(0, p), colEnd = Math.Min(PaddedWidth, Width + p);
        for (int r = 0; r < PaddedHeight; r++)
        {
            var row = padded.Slice(r * PaddedWidth, PaddedWidth);
            int sr = r - p;
            if (sr < 0 || sr >= Height || colEnd <= colStart)
            {
                row.Clear();
                continue;
            }

            row[..colStart].Clear();
            source.Slice(sr * Width + colStart - p, colEnd - colStart).CopyTo(row[colStart..colEnd]);
            row[colEnd..].Clear();
        }
    }

    /// <summary>
    /// The output pixels of vector <paramref name="t"/> as runs of lanes: calls <paramref name="run"/> with
    /// (first lane, output index i·wo + j, length) for each run of lanes that are real outputs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ForEachRun<TRun>(int t, ref TRun run)
        where TRun : struct, IVectorRun, allows ref struct
    {
        if (!Flat)
        {
            int i = t / VectorsPerRow, j0 = t % VectorsPerRow * Lanes;
            run.Run(0, i * OutWidth + j0, Math.Min(Lanes, OutWidth - j0));
            return;
        }

        int q = t * Lanes;
        int row = q / PaddedWidth, col = q - row * PaddedWidth;
        int lane = 0;
        while (lane < Lanes && row < OutHeight)
        {
            int step;
            if (col < OutWidth)
            {
                step = Math.Min(OutWidth - col, Lanes - lane);
                run.Run(lane, row * OutWidth + col, step);
            }
            else
            {
                step = Math.Min(PaddedWidth - col, Lanes - lane);
            }

            lane += step;
            col += step;
            if (col == PaddedWidth)
            {
                row++;
                col = 0;
            }
        }
    }

    /// <summary>A consumer of the runs of <see cref="ForEachRun"/>.</summary>
    public interface IVectorRun
    {
        /// <summary>Lanes [lane, lane+length) are outputs [output, output+length) of the plane.</summary>
        void Run(int lane, int output, int length);
    }
}
