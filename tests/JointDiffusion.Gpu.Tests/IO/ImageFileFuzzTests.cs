using JointDiffusion.Gpu.IO;

namespace JointDiffusion.Gpu.Tests.IO;

/// <summary>
/// Property: any mutation of a small valid image file either loads (a [3, H, W] image with values in [0, 1])
/// or is refused with an <see cref="ImageFileException"/>; no decoder exception, OutOfMemory or other type escapes.
/// </summary>
public sealed class ImageFileFuzzTests
{
    private const int MutationsPerFormat = 300;

    // A limit well above the 16 × 12 originals but small enough that a mutated size field cannot make one case
    // decode for long; the default limit's path is the same code.
    private static readonly ImageLoadOptions Options = new() { MaxPixels = 1 << 18 };

    private static byte[] Mutate(byte[] original, Random random)
    {
        byte[] bytes = (byte[])original.Clone();
        switch (random.Next(4))
        {
            case 0:
                // Flip 1-4 random bits.
                for (int k = random.Next(1, 5); k > 0; k--)
                {
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                }

                return bytes;
            case 1:
                // Overwrite 1-3 bytes with extreme values (sizes, lengths, counts become 0 or huge).
                for (int k = random.Next(1, 4); k > 0; k--)
                {
                    bytes[random.Next(bytes.Length)] = random.Next(2) == 0 ? (byte)0x00 : (byte)0xFF;
                }

                return bytes;
            case 2:
                // Flip bits in the first 64 bytes, where the headers are.
                for (int k = random.Next(1, 4); k > 0; k--)
                {
                    bytes[random.Next(Math.Min(64, bytes.Length))] ^= (byte)(1 << random.Next(8));
                }

                return bytes;
            default:
                // Delete a run of bytes from the middle.
                int start = random.Next(bytes.Length);
                int count = random.Next(1, Math.Min(16, bytes.Length - start) + 1);
                return [.. bytes[..start], .. bytes[(start + count)..]];
        }
    }

    [Theory]
    [MemberData(nameof(ImageFileRefusalTests.Formats), MemberType = typeof(ImageFileRefusalTests))]
    public void MutatedFiles_LoadOrAreRefusedWithImageFileException(string format)
    {
        byte[] original = ImageFileRefusalTests.SmallFile(format);
        var random = new Random(20250611 + format.Length);
        int loaded = 0;
        for (int i = 0; i < MutationsPerFormat; i++)
        {
            byte[] mutated = Mutate(original, random);
            string name = $"mutation-{i}.{format}";
            try
            {
                PlanarImage image = ImageFile.Load(mutated, name, 3, Options);
                Assert.Equal(3, image.Channels);
                Assert.All(image.Pixels, v => Assert.InRange(v, 0f, 1f));
                loaded++;
            }
            catch (ImageFileException e)
            {
                Assert.Equal(name, e.SourceName);
            }
        }

        // Both outcomes must occur, or the loop tested nothing: every format has bytes (pixel data) whose
        // corruption still decodes and headers whose corruption does not.
        Assert.InRange(loaded, 1, MutationsPerFormat - 1);
    }
}
