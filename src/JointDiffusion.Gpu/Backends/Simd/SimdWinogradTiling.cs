namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// How a stride-1 3x3 correlation with dilation d is cut into Winograd F(4x4, 3x3) tiles. A tile's 4x4 outputs are
/// d apart ((r0 + i·d, c0 + j·d), i, j &lt; 4) and read the 6x6 padded inputs (r0 + a·d, c0 + b·d): the
/// algorithm runs on the sub-grid of one residue class mod d. So each axis has, for every residue ρ &lt; d,
/// ⌈n_ρ / 4⌉ tiles at ρ + 4·d·τ, n_ρ = ⌈(out − ρ) / d⌉ outputs of that class; tiles never overlap, and a tile
/// that runs past the output edge computes the missing outputs and drops them.
/// </summary>
/// <remarks>
/// Inputs live in a padded NHWC buffer of <see cref="BufferHeight"/> × <see cref="BufferWidth"/> pixels: the
/// source at offset (pad, pad) inside the padded plane Hp × Wp, zeros around it and beyond it up to the farthest
/// input a ragged tile reads. Outside the Hp × Wp plane the values only feed dropped outputs, so zeros are as good
/// as any.
/// </remarks>
internal readonly struct SimdWinogradTiling
{
    /// <summary>Outputs per tile side.</summary>
    public const int Outputs = 4;

    /// <summary>Inputs per tile side.</summary>
    public const int Inputs = 6;

    /// <summary>Points of the transformed 6x6 tile.</summary>
    public const int Points = Inputs * Inputs;

    public SimdWinogradTiling(int samples, int height, int width, int pad, int dilation)
    {
        Samples = samples;
        Height = height;
        Width = width;
        Pad = pad;
        Dilation = dilation;
        PaddedHeight = height + 2 * pad;
        PaddedWidth = width + 2 * pad;
        OutHeight = PaddedHeight - 2 * dilation;
        OutWidth = PaddedWidth - 2 * dilation;
        RowTiles = TileCount(OutHeight, dilation);
        ColumnTiles = TileCount(OutWidth, dilation);
        BufferHeight = Math.Max(PaddedHeight, FarthestRead(OutHeight, dilation) + 1);
        BufferWidth = Math.Max(PaddedWidth, FarthestRead(OutWidth, dilation) + 1);
        TilesPerSample = RowTiles * ColumnTiles;
        Tiles = samples * TilesPerSample;
    }

    public int Samples { get; }

    /// <summary>Source height (unpadded).</summary>
    public int Height { get; }

    /// <summary>Source width (unpadded).</summary>
    public int Width { get; }

    /// <summary>Zero padding per side; negative crops.</summary>
    public int Pad { get; }

    public int Dilation { get; }

    /// <summary>Hp = H + 2·pad.</summary>
    public int PaddedHeight { get; }

    /// <summary>Wp = W + 2·pad.</summary>
    public int PaddedWidth { get; }

    /// <summary>Hp − 2·d.</summary>
    public int OutHeight { get; }

    /// <summary>Wp − 2·d.</summary>
    public int OutWidth { get; }

    /// <summary>Tiles down one sample.</summary>
    public int RowTiles { get; }

    /// <summary>Tiles across one sample.</summary>
    public int ColumnTiles { get; }

    /// <summary>Rows of the padded input buffer.</summary>
    public int BufferHeight { get; }

    /// <summary>Columns of the padded input buffer.</summary>
    public int BufferWidth { get; }

    public int TilesPerSample { get; }

    /// <summary>Tiles of the whole batch.</summary>
    public int Tiles { get; }

    /// <summary>The tiles' first output rows (or columns), in tile order: residue by residue, then along the class.</summary>
    public static void FillOrigins(int outputs, int dilation, Span<int> origins)
    {
        int t = 0;
        for (int rho = 0; rho < Math.Min(dilation, outputs); rho++)
        {
            int count = CeilDiv(outputs - rho, dilation);
            for (int tau = 0; tau < CeilDiv(count, Outputs); tau++)
            {
                origins[t++] = rho + Outputs * dilation * tau;
            }
        }
    }

    /// <summary>Tiles along an axis of <paramref name="outputs"/> outputs.</summary>
    public static int TileCount(int outputs, int dilation)
    {
        int tiles = 0;
        for (int rho = 0; rho < Math.Min(dilation, outputs); rho++)
        {
            tiles += CeilDiv(CeilDiv(outputs - rho, dilation), Outputs);
        }

        return tiles;
    }

    /// <summary>The farthest padded input index any tile along the axis reads.</summary>
    private static int FarthestRead(int outputs, int dilation)
    {
        int farthest = 0;
        for (int rho = 0; rho < Math.Min(dilation, outputs); rho++)
        {
            int tiles = CeilDiv(CeilDiv(outputs - rho, dilation), Outputs);
            farthest = Math.Max(farthest, rho + Outputs * dilation * (tiles - 1) + (Inputs - 1) * dilation);
        }

        return farthest;
    }

    private static int CeilDiv(int a, int b) => (a + b - 1) / b;
}
