using JointDiffusion.Gpu.IO;

namespace JointDiffusion.Gpu.Tests.IO;

public sealed class ImageGridTests
{
    // Distinct values per channel and pixel, so any misplaced copy shows.
    private static PlanarImage Cell(int channels, float offset)
    {
        var image = new PlanarImage(channels, 2, 3);
        for (int i = 0; i < image.Pixels.Length; i++)
        {
            image.Pixels[i] = offset + (i / 100f);
        }

        return image;
    }

    [Fact]
    public void Compose_PlacesScaledCellsBetweenPadding()
    {
        PlanarImage grey = Cell(1, 0.1f);
        PlanarImage rgb = Cell(3, 0.5f);
        PlanarImage lone = Cell(1, 0.3f);

        // Two rows, the second one cell short; 2 × 3 cells enlarged 2×, 1 pixel of padding at grey 0.9.
        PlanarImage grid = ImageGrid.Compose([[grey, rgb], [lone]], padding: 1, paddingGrey: 0.9f, scale: 2);

        // Height 2·(2·2) + 3·1 = 11, width 2·(3·2) + 3·1 = 15; RGB because one cell is.
        Assert.Equal((3, 11, 15), (grid.Channels, grid.Height, grid.Width));
        for (int c = 0; c < 3; c++)
        {
            foreach (int y in new[] { 0, 5, 10 })
            {
                Assert.All(Enumerable.Range(0, 15), x => Assert.Equal(0.9f, grid[c, y, x]));
            }

            foreach (int x in new[] { 0, 7, 14 })
            {
                Assert.All(Enumerable.Range(0, 11), y => Assert.Equal(0.9f, grid[c, y, x]));
            }

            for (int y = 0; y < 4; y++)
            {
                for (int x = 0; x < 6; x++)
                {
                    Assert.Equal(grey[0, y / 2, x / 2], grid[c, 1 + y, 1 + x]);   // grey cell on every channel
                    Assert.Equal(rgb[c, y / 2, x / 2], grid[c, 1 + y, 8 + x]);
                    Assert.Equal(lone[0, y / 2, x / 2], grid[c, 6 + y, 1 + x]);
                    Assert.Equal(0.9f, grid[c, 6 + y, 8 + x]);                    // the missing cell
                }
            }
        }
    }

    [Fact]
    public void Compose_OfGreyCellsIsGrey_AndWithoutPaddingTiles()
    {
        PlanarImage a = Cell(1, 0f);
        PlanarImage b = Cell(1, 0.5f);

        PlanarImage grid = ImageGrid.Compose([[a], [b]], padding: 0);

        Assert.Equal((1, 4, 3), (grid.Channels, grid.Height, grid.Width));
        Assert.Equal([.. a.Pixels, .. b.Pixels], grid.Pixels);
    }

    [Fact]
    public void SavePng_WritesTheComposedGrid()
    {
        DirectoryInfo directory = Directory.CreateTempSubdirectory("image-grid-tests-");
        try
        {
            string path = Path.Combine(directory.FullName, "grid.png");
            PlanarImage[][] rows = [[Cell(3, 0.2f), Cell(1, 0.6f)]];

            ImageGrid.SavePng(path, rows, padding: 2, paddingGrey: 0f, scale: 3);

            PlanarImage expected = ImageGrid.Compose(rows, padding: 2, paddingGrey: 0f, scale: 3);
            PlanarImage loaded = ImageFile.Load(path, 3);
            Assert.Equal(expected.Pixels.Select(v => MathF.Round(v * 255f) / 255f), loaded.Pixels);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void Compose_RefusesMixedSizesAndEmptyGrids()
    {
        var error = Assert.Throws<ArgumentException>(() => ImageGrid.Compose([[Cell(1, 0f), new PlanarImage(1, 3, 3)]]));
        Assert.Contains("cell [0][1] is 3 × 3", error.Message);
        Assert.Throws<ArgumentException>(() => ImageGrid.Compose([[]]));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageGrid.Compose([[Cell(1, 0f)]], scale: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageGrid.Compose([[Cell(1, 0f)]], paddingGrey: float.NaN));
    }
}
