namespace JointDiffusion.Gpu.IO;

/// <summary>
/// Lays out same-size images in rows and columns, e.g. one row per test image with the columns observation |
/// estimate | noise | baseline | truth, or a sheet of samples. Every cell is surrounded by <c>padding</c> pixels
/// of a uniform grey (between cells and around the border, as torchvision's <c>make_grid</c>), and can be
/// enlarged by an integer factor with nearest-neighbour sampling so that 32 × 32 images stay visible and sharp.
/// </summary>
public static class ImageGrid
{
    /// <summary>
    /// Builds the grid image. Cell (r, c) occupies rows <c>padding + r·(H·scale + padding)</c> onwards and columns
    /// <c>padding + c·(W·scale + padding)</c> onwards; the grid is <c>R·H·scale + (R + 1)·padding</c> high and
    /// <c>K·W·scale + (K + 1)·padding</c> wide, with K the longest row's length. Shorter rows leave their missing
    /// cells in the padding grey. The grid is RGB when any cell is RGB (grey cells are repeated on the three
    /// channels), else grey. Values are copied as they are (no clamping; <see cref="ImageFile.SavePng"/> clamps).
    /// </summary>
    /// <param name="rows">The cells, row by row; all of the same height and width.</param>
    /// <param name="padding">Pixels of padding around each cell, ≥ 0.</param>
    /// <param name="paddingGrey">The padding's grey level, in [0, 1].</param>
    /// <param name="scale">Integer enlargement of each cell, ≥ 1.</param>
    /// <returns>The grid as one image.</returns>
    /// <exception cref="ArgumentException">When there are no cells, the cells differ in size, or a parameter is out of range.</exception>
    public static PlanarImage Compose(IReadOnlyList<IReadOnlyList<PlanarImage>> rows, int padding = 2, float paddingGrey = 1f, int scale = 1)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        ArgumentOutOfRangeException.ThrowIfLessThan(scale, 1);
        if (!(paddingGrey is >= 0f and <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(paddingGrey), paddingGrey, "The padding grey level must be in [0, 1].");
        }

        PlanarImage first = FirstCell(rows);
        int columns = rows.Max(row => row.Count);
        int channels = rows.Any(row => row.Any(cell => cell.Channels == 3)) ? 3 : 1;
        long cellHeight = (long)first.Height * scale;
        long cellWidth = (long)first.Width * scale;
        long height = (rows.Count * cellHeight) + ((rows.Count + 1L) * padding);
        long width = (columns * cellWidth) + ((columns + 1L) * padding);
        if (height > int.MaxValue || width > int.MaxValue || channels * height * width > Array.MaxLength)
        {
            throw new ArgumentException($"A {height} × {width} grid has more values than an array can hold.", nameof(rows));
        }

        var grid = new PlanarImage(channels, (int)height, (int)width);
        Array.Fill(grid.Pixels, paddingGrey);
        for (int r = 0; r < rows.Count; r++)
        {
            for (int c = 0; c < rows[r].Count; c++)
            {
                int top = padding + (int)(r * (cellHeight + padding));
                int left = padding + (int)(c * (cellWidth + padding));
                Paste(grid, rows[r][c], top, left, scale);
            }
        }

        return grid;
    }

    /// <summary>Builds the grid (see <see cref="Compose"/>) and writes it atomically as an 8-bit PNG (see <see cref="ImageFile.SavePng"/>).</summary>
    /// <param name="path">Destination file; its directory must exist.</param>
    /// <param name="rows">The cells, row by row; all of the same height and width.</param>
    /// <param name="padding">Pixels of padding around each cell, ≥ 0.</param>
    /// <param name="paddingGrey">The padding's grey level, in [0, 1].</param>
    /// <param name="scale">Integer enlargement of each cell, ≥ 1.</param>
    /// <exception cref="ArgumentException">When the cells are unusable (see <see cref="Compose"/>) or hold NaN or infinity.</exception>
    public static void SavePng(string path, IReadOnlyList<IReadOnlyList<PlanarImage>> rows, int padding = 2, float paddingGrey = 1f, int scale = 1) =>
        ImageFile.SavePng(path, Compose(rows, padding, paddingGrey, scale));

    private static PlanarImage FirstCell(IReadOnlyList<IReadOnlyList<PlanarImage>> rows)
    {
        PlanarImage? first = null;
        for (int r = 0; r < rows.Count; r++)
        {
            ArgumentNullException.ThrowIfNull(rows[r], $"{nameof(rows)}[{r}]");
            for (int c = 0; c < rows[r].Count; c++)
            {
                PlanarImage cell = rows[r][c] ?? throw new ArgumentNullException($"{nameof(rows)}[{r}][{c}]");
                first ??= cell;
                if (cell.Height != first.Height || cell.Width != first.Width)
                {
                    throw new ArgumentException(
                        $"Grid cells must share one size: cell [{r}][{c}] is {cell.Height} × {cell.Width}, the first is {first.Height} × {first.Width}.",
                        nameof(rows));
                }
            }
        }

        return first ?? throw new ArgumentException("A grid needs at least one image.", nameof(rows));
    }

    private static void Paste(PlanarImage grid, PlanarImage cell, int top, int left, int scale)
    {
        int gridPlane = grid.Height * grid.Width;
        int cellPlane = cell.Height * cell.Width;
        for (int channel = 0; channel < grid.Channels; channel++)
        {
            // A grey cell in an RGB grid feeds its single plane to all three channels.
            int cellOffset = cell.Channels == 1 ? 0 : channel * cellPlane;
            for (int y = 0; y < cell.Height * scale; y++)
            {
                int gridRow = (channel * gridPlane) + ((top + y) * grid.Width) + left;
                int cellRow = cellOffset + ((y / scale) * cell.Width);
                for (int x = 0; x < cell.Width * scale; x++)
                {
                    grid.Pixels[gridRow + x] = cell.Pixels[cellRow + (x / scale)];
                }
            }
        }
    }
}
