using JointDiffusion.Gpu.Data;

namespace JointDiffusion.Gpu.Tests.Data;

/// <summary>
/// The rendering tests use the fonts Debian installs under /usr/share/fonts (fonts-dejavu-core is on every
/// machine of this project's kind). Where that folder holds no usable font they assert the documented
/// no-font error instead, so they check one of the two behaviours on every machine and never skip.
/// </summary>
public sealed class LetterNoiseGeneratorTests
{
    private static readonly Lazy<(LetterNoiseGenerator? Letters, Exception? Error)> SystemLetters = new(() =>
    {
        try
        {
            return (new LetterNoiseGenerator(LetterNoiseGenerator.SystemFontFolder), null);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return (null, e);
        }
    });

    [Fact]
    public void Letters_AreCentredAntiAliasedGlyphsFilling80PercentOfA28PixelBox_OrTheNoFontError()
    {
        if (SystemLetters.Value.Letters is not { } letters)
        {
            AssertNoFontError(SystemLetters.Value.Error);
            return;
        }

        Assert.Equal((1, 32, 32), (letters.Channels, letters.Height, letters.Width));
        Assert.Equal(letters.FontFiles.Count * 26, letters.Count);
        // All 26 letters of the first and last font, and every 7th image in between.
        int[] indices = [.. Enumerable.Range(0, 26), .. Enumerable.Range(0, letters.Count).Where(i => i % 7 == 3), .. Enumerable.Range(letters.Count - 26, 26)];
        foreach (int index in indices.Distinct())
        {
            float[] image = DigitNoiseGeneratorTests.Draw(letters, index);
            string glyph = $"image {index} ({letters.GlyphOf(index)})";
            Assert.All(image, v => Assert.InRange(v, 0f, 1f));
            Assert.True(image.Any(v => v is > 0.05f and < 0.95f), $"{glyph}: no partly covered pixel, so not anti-aliased");

            // Pixels at least half covered span the glyph's outline box to within a pixel: its larger side is
            // 0.8 · 28 = 22.4 pixels and its centre the image centre (16, 16).
            (int top, int bottom, int left, int right) = BoundingBox(image, 32, 0.5f);
            int side = Math.Max(bottom - top + 1, right - left + 1);
            Assert.True(side is >= 21 and <= 24, $"{glyph}: larger side {side} pixels, expected 22.4 ± 1.5");
            Assert.True(Math.Abs(((top + bottom + 1) / 2.0) - 16) <= 1.5, $"{glyph}: rows {top}..{bottom} are not centred");
            Assert.True(Math.Abs(((left + right + 1) / 2.0) - 16) <= 1.5, $"{glyph}: columns {left}..{right} are not centred");

            // The outline box is [4.8, 27.2]² so the 4-pixel frame, like MNIST's padding, stays black.
            for (int k = 0; k < 32; k++)
            {
                foreach (int edge in new[] { 0, 1, 2, 3, 28, 29, 30, 31 })
                {
                    Assert.Equal(0f, image[(edge * 32) + k]);
                    Assert.Equal(0f, image[(k * 32) + edge]);
                }
            }
        }
    }

    [Fact]
    public void Letters_AreFixedByIndex_AndTheLettersOfAFontDiffer_OrTheNoFontError()
    {
        if (SystemLetters.Value.Letters is not { } letters)
        {
            AssertNoFontError(SystemLetters.Value.Error);
            return;
        }

        var again = new LetterNoiseGenerator(LetterNoiseGenerator.SystemFontFolder);
        Assert.Equal(letters.FontFiles, again.FontFiles);
        int lastFont = letters.Count - 26;
        for (int letter = 0; letter < 26; letter++)
        {
            Assert.Equal((letters.FontFiles[^1], LetterNoiseGenerator.Alphabet[letter]), letters.GlyphOf(lastFont + letter));
            // A second read comes from the cache, the other instance renders afresh: all three agree.
            float[] image = DigitNoiseGeneratorTests.Draw(letters, lastFont + letter);
            Assert.Equal(image, DigitNoiseGeneratorTests.Draw(letters, lastFont + letter));
            Assert.Equal(image, DigitNoiseGeneratorTests.Draw(again, lastFont + letter));
        }

        var distinct = Enumerable.Range(lastFont, 26).Select(i => string.Join(',', DigitNoiseGeneratorTests.Draw(letters, i))).Distinct();
        Assert.Equal(26, distinct.Count());
    }

    [Fact]
    public void FolderWithoutUsableFonts_ThrowsTheNoFontError()
    {
        DirectoryInfo folder = Directory.CreateTempSubdirectory("letters-");
        try
        {
            var empty = Assert.Throws<FileNotFoundException>(() => new LetterNoiseGenerator(folder.FullName));
            Assert.Contains(folder.FullName, empty.Message);
            Assert.Contains("0 .ttf/.otf file(s)", empty.Message);

            // A file named like a font that is not one is left out, with the same error.
            File.WriteAllBytes(Path.Combine(folder.FullName, "broken.ttf"), [0, 1, 0, 0, 42, 42, 42, 42]);
            var broken = Assert.Throws<FileNotFoundException>(() => new LetterNoiseGenerator(folder.FullName));
            Assert.Contains("1 .ttf/.otf file(s)", broken.Message);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void MissingFolder_ThrowsDirectoryNotFound()
    {
        string missing = Path.Combine(Path.GetTempPath(), $"no-such-fonts-{Guid.NewGuid():N}");
        var error = Assert.Throws<DirectoryNotFoundException>(() => new LetterNoiseGenerator(missing));
        Assert.Contains(missing, error.Message);
    }

    private static void AssertNoFontError(Exception? error)
    {
        Assert.NotNull(error);
        Assert.Contains(LetterNoiseGenerator.SystemFontFolder, error.Message);
    }

    private static (int Top, int Bottom, int Left, int Right) BoundingBox(float[] image, int width, float threshold)
    {
        int top = int.MaxValue, bottom = -1, left = int.MaxValue, right = -1;
        for (int p = 0; p < image.Length; p++)
        {
            if (image[p] >= threshold)
            {
                int y = p / width, x = p % width;
                (top, bottom, left, right) = (Math.Min(top, y), Math.Max(bottom, y), Math.Min(left, x), Math.Max(right, x));
            }
        }

        Assert.True(bottom >= 0, "The glyph is empty.");
        return (top, bottom, left, right);
    }
}
