using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Tests.IO;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace JointDiffusion.Gpu.Tests.Reliability;

/// <summary>
/// Property-based fuzzing of the two readers of untrusted files: for random files, files with a valid start and
/// a random rest, mutated valid files and splices of two valid files, the reader either returns a consistent
/// result or throws its one documented exception (naming the source); nothing else escapes, no case hangs, and
/// no case allocates more than the stated bound. The case count is <c>JOINTDIFF_FUZZ_CASES</c> (default 4000
/// per reader, a few seconds) and the seed <c>JOINTDIFF_FUZZ_SEED</c> (default fixed); <c>tools/fuzz.sh</c>
/// runs a million. A failure prints the case number, the seed and the bytes, to replay it.
/// </summary>
[Collection(nameof(FuzzCollection))]
public sealed class UntrustedInputFuzzTests
{
    private const int DefaultCases = 4000;

    // A case normally takes well under a millisecond; one that makes no progress for this long is a hang.
    private static readonly TimeSpan HangAfter = TimeSpan.FromSeconds(60);

    // Small enough that a mutated size field cannot make one case decode for long; the default limit runs the same code.
    private static readonly ImageLoadOptions ImageOptions = new() { MaxPixels = 1 << 16 };

    private static int Cases => int.TryParse(Environment.GetEnvironmentVariable("JOINTDIFF_FUZZ_CASES"), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0
        ? n : DefaultCases;

    private static int Seed => int.TryParse(Environment.GetEnvironmentVariable("JOINTDIFF_FUZZ_SEED"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int s)
        ? s : 20250612;

    /// <summary>
    /// The stated bound for the safetensors reader: it validates the whole header before allocating any tensor, and
    /// tensors must tile the data section, so it holds at most the header's parse (a few times the header) and
    /// float32 copies of the data (at most twice the bytes, for F16/BF16): 8 bytes per file byte plus 1 MiB.
    /// </summary>
    internal static long SafetensorsAllocationBound(long fileBytes) => (8 * fileBytes) + (1 << 20);

    /// <summary>
    /// The stated bound for the image loader on the calling thread: twice the file (at most
    /// <see cref="ImageLoadOptions.MaxFileBytes"/>), and twice the result (12 bytes a pixel for RGB) and the pixel
    /// buffers (8 bytes a pixel), all at most <see cref="ImageLoadOptions.MaxPixels"/>, plus 8 MiB for decoder tables
    /// and configuration. Headers that lie about sizes must not buy more: this bound found a 378-byte BMP whose pixel
    /// data offset of 64 MiB made identification allocate a 64 MiB palette, now refused from its header.
    /// </summary>
    internal static long ImageAllocationBound(long fileBytes, ImageLoadOptions options) =>
        (2 * fileBytes) + (2 * (12 + 8 + 8) * options.MaxPixels) + (8 << 20);

    [Fact]
    public void SafetensorsReader_AnyFile_ReadsConsistentlyOrIsRefused_WithinTheAllocationBound()
    {
        byte[][] seeds = [SmallSafetensors(), EmptySafetensors(), MetadataOnlySafetensors()];
        var outcomes = Fuzz("safetensors", seeds, GenerateSafetensors, (bytes, name) =>
        {
            try
            {
                SafetensorsFile file = SafetensorsReader.Read(bytes, name);
                foreach (SafetensorsTensor t in file.Tensors)
                {
                    Assert.Equal(t.Shape.Aggregate(1L, (p, d) => p * d), t.Data.LongLength);
                }

                return true;
            }
            catch (SafetensorsFormatException e)
            {
                Assert.StartsWith(name + ": ", e.Message, StringComparison.Ordinal);
                Assert.Equal(name, e.SourceName);
                return false;
            }
        }, bytes => SafetensorsAllocationBound(bytes.Length));

        // Both outcomes must occur, or the generators do not reach the reader's validation.
        Assert.True(outcomes.Accepted > Cases / 50 && outcomes.Refused > Cases / 2, $"read {outcomes.Accepted}, refused {outcomes.Refused}");
    }

    [Fact]
    public void ImageLoader_AnyFile_LoadsOrIsRefused_WithinTheAllocationBound()
    {
        byte[][] seeds = [.. new[] { "png", "jpeg", "bmp", "gif" }.Select(SmallImage), SmallImage16BitPng()];
        var outcomes = Fuzz("image", seeds, GenerateImage, (bytes, name) =>
        {
            try
            {
                PlanarImage image = ImageFile.Load(bytes, name, 3, ImageOptions);
                Assert.Equal(3, image.Channels);
                Assert.InRange((long)image.Width * image.Height, 1, ImageOptions.MaxPixels);

                // A plain loop: Assert.All allocates per element, which would count against the loader's bound.
                int outside = Array.FindIndex(image.Pixels, v => !(v >= 0f && v <= 1f));
                Assert.True(outside < 0, $"pixel {outside} is {(outside < 0 ? 0 : image.Pixels[outside])}");
                return true;
            }
            catch (ImageFileException e)
            {
                Assert.StartsWith(name + ": ", e.Message, StringComparison.Ordinal);
                return false;
            }
        }, bytes => ImageAllocationBound(bytes.Length, ImageOptions));

        Assert.True(outcomes.Accepted > Cases / 50 && outcomes.Refused > Cases / 4, $"loaded {outcomes.Accepted}, refused {outcomes.Refused}");
    }

    /// <summary>
    /// Runs <see cref="Cases"/> cases on a worker thread (so a hang is reported, not waited for): each generated
    /// from the seed files, read, checked for the exception contract and for the allocation bound.
    /// </summary>
    private static (int Accepted, int Refused) Fuzz(string what, byte[][] seeds, Func<byte[][], Random, byte[]> generate,
        Func<byte[], string, bool> read, Func<byte[], long> allocationBound)
    {
        int cases = Cases, seed = Seed, accepted = 0, refused = 0;
        int current = -1;
        byte[] currentBytes = [];
        Exception? failure = null;
        var worker = new Thread(() =>
        {
            var random = new Random(seed);
            try
            {
                for (int i = 0; i < cases; i++)
                {
                    byte[] bytes = generate(seeds, random);
                    Volatile.Write(ref currentBytes, bytes);
                    Volatile.Write(ref current, i);
                    string name = $"case-{i}";
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    bool ok;
                    try
                    {
                        ok = read(bytes, name);
                    }
                    catch (Exception e) when (e is not Xunit.Sdk.XunitException)
                    {
                        throw new InvalidOperationException($"{e.GetType().Name} escaped: {e.Message}", e);
                    }

                    long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                    if (allocated > allocationBound(bytes))
                    {
                        throw new InvalidOperationException($"allocated {allocated} bytes for a {bytes.Length}-byte file, above the bound of {allocationBound(bytes)}");
                    }

                    if (ok)
                    {
                        accepted++;
                    }
                    else
                    {
                        refused++;
                    }
                }
            }
            catch (Exception e)
            {
                failure = new InvalidOperationException(
                    $"{what} fuzz case {Volatile.Read(ref current)} (JOINTDIFF_FUZZ_SEED={seed}): {e.Message}\nbytes: {Convert.ToHexString(Volatile.Read(ref currentBytes))}", e);
            }
        })
        { IsBackground = true, Name = $"{what} fuzz" };
        worker.Start();

        // The hang detector: fail when one case has run for HangAfter without the loop moving on.
        int seen = -2;
        var sinceProgress = Stopwatch.StartNew();
        while (!worker.Join(TimeSpan.FromMilliseconds(200)))
        {
            int now = Volatile.Read(ref current);
            if (now != seen)
            {
                seen = now;
                sinceProgress.Restart();
            }
            else if (sinceProgress.Elapsed > HangAfter)
            {
                Assert.Fail($"{what} fuzz case {now} (JOINTDIFF_FUZZ_SEED={seed}) has run for over {HangAfter.TotalSeconds} s: a hang.\nbytes: {Convert.ToHexString(Volatile.Read(ref currentBytes))}");
            }
        }

        if (failure is not null)
        {
            Assert.Fail(failure.ToString());
        }

        return (accepted, refused);
    }

    // ------------------------------------------------------------------ safetensors generators

    private static readonly byte[] JsonTokens = "{}[],:\"-0123456789eE. \\u"u8.ToArray();

    private static readonly string[] HeaderFragments =
    [
        "\"dtype\":\"F32\"", "\"dtype\":\"F16\"", "\"dtype\":\"BF16\"", "\"dtype\":\"F64\"", "\"dtype\":\"I64\"", "\"dtype\":\"U8\"",
        "\"shape\":[]", "\"shape\":[2]", "\"shape\":[1,1,2,2]", "\"shape\":[2147483647,2147483647]", "\"shape\":[-1]", "\"shape\":[0]",
        "\"data_offsets\":[0,16]", "\"data_offsets\":[0,0]", "\"data_offsets\":[16,0]", "\"data_offsets\":[0,18446744073709551615]",
        "\"data_offsets\":[0,99999999999]", "\"__metadata__\":{\"a\":\"b\"}", "\"__metadata__\":{\"a\":1}", "\"x\":", "{", "}", ",",
    ];

    // Non-finite values among the seeds (a NaN in F32, +∞ in F16).
    private static byte[] SmallSafetensors() => RawSafetensors.EveryDType([1f, -2f, float.NaN, 0.5f], 0x3C00, 0x7C00);

    private static byte[] EmptySafetensors() => RawSafetensors.Build("{}", []);

    private static byte[] MetadataOnlySafetensors() => RawSafetensors.Build("""{"__metadata__":{"k":"v"},"z":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}""", []);

    private static byte[] GenerateSafetensors(byte[][] seeds, Random random)
    {
        byte[] seed = seeds[random.Next(seeds.Length)];
        switch (random.Next(8))
        {
            case 0:
                // Pure noise, any length (most shorter than the length field, some with a huge one).
                return RandomBytes(random, random.Next(0, 64));
            case 1:
            {
                // A correct length field over a header assembled from plausible fragments, then random data.
                var header = new StringBuilder("{");
                for (int k = random.Next(0, 6); k > 0; k--)
                {
                    header.Append(HeaderFragments[random.Next(HeaderFragments.Length)]);
                }

                if (random.Next(2) == 0)
                {
                    header.Append('}');
                }

                return RawSafetensors.Build(header.ToString(), RandomBytes(random, random.Next(0, 40)));
            }

            case 2:
            {
                // A length field that points anywhere, over a valid file's bytes.
                byte[] bytes = (byte[])seed.Clone();
                ulong field = random.Next(3) switch
                {
                    0 => (ulong)random.NextInt64(),
                    1 => ulong.MaxValue - (ulong)random.Next(16),
                    _ => (ulong)random.Next(0, bytes.Length + 16),
                };
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, field);
                return bytes;
            }

            case 3:
                return MutateHeader(seed, random);
            case 4:
                return Splice(seed, seeds[random.Next(seeds.Length)], random);
            case 5:
            {
                // Any bits of the data section: NaN, infinities, subnormals and signalling patterns in every dtype.
                byte[] bytes = (byte[])seed.Clone();
                int dataStart = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
                for (int k = random.Next(1, 9); k > 0 && dataStart < bytes.Length; k--)
                {
                    bytes[random.Next(dataStart, bytes.Length)] = (byte)random.Next(256);
                }

                return bytes;
            }

            default:
                return FlipBits(seed, random);
        }
    }

    private static byte[] MutateHeader(byte[] file, Random random)
    {
        int headerLength = (int)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(file), (ulong)(file.Length - 8));
        if (headerLength == 0)
        {
            return FlipBits(file, random);
        }

        // Replace, insert or delete JSON-significant characters, then fix the length field so the header still
        // parses as one block and the mutation reaches the validator.
        var header = file.AsSpan(8, headerLength).ToArray().ToList();
        for (int k = random.Next(1, 4); k > 0; k--)
        {
            int at = random.Next(header.Count);
            byte token = JsonTokens[random.Next(JsonTokens.Length)];
            switch (random.Next(3))
            {
                case 0:
                    header[at] = token;
                    break;
                case 1:
                    header.Insert(at, token);
                    break;
                default:
                    if (header.Count > 1)
                    {
                        header.RemoveAt(at);
                    }

                    break;
            }
        }

        return RawSafetensors.Build([.. header], file[(8 + headerLength)..]);
    }

    // ------------------------------------------------------------------ image generators

    private static readonly byte[][] Signatures =
    [
        [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A], [0xFF, 0xD8, 0xFF], "BM"u8.ToArray(), "GIF89a"u8.ToArray(), "GIF87a"u8.ToArray(),
    ];

    private static Rgb24 Pattern(int x, int y) => new((byte)(x * 29), (byte)(y * 17), (byte)((x ^ y) * 11));

    private static byte[] SmallImage(string format) => format switch
    {
        "png" => EncodedImages.Encode(12, 9, Pattern, new PngEncoder()),
        "jpeg" => EncodedImages.Encode(12, 9, Pattern, new JpegEncoder { Quality = 80 }),
        "bmp" => EncodedImages.Encode(12, 9, Pattern, new BmpEncoder { BitsPerPixel = BmpBitsPerPixel.Pixel24 }),
        _ => EncodedImages.Encode(12, 9, Pattern, new GifEncoder()),
    };

    private static byte[] SmallImage16BitPng() =>
        EncodedImages.Encode(7, 5, (x, y) => new Rgba64((ushort)(x * 9000), (ushort)(y * 12000), 40000, 65535), new PngEncoder { BitDepth = PngBitDepth.Bit16 });

    private static byte[] GenerateImage(byte[][] seeds, Random random)
    {
        byte[] seed = seeds[random.Next(seeds.Length)];
        switch (random.Next(7))
        {
            case 0:
                return RandomBytes(random, random.Next(0, 96));
            case 1:
            {
                // A real signature, then noise: the decoders' header parsing on garbage.
                byte[] signature = Signatures[random.Next(Signatures.Length)];
                return [.. signature, .. RandomBytes(random, random.Next(0, 96))];
            }

            case 2:
            {
                // Header fields set to extremes (sizes, lengths, counts become 0 or huge).
                byte[] bytes = (byte[])seed.Clone();
                for (int k = random.Next(1, 4); k > 0; k--)
                {
                    bytes[random.Next(Math.Min(64, bytes.Length))] = random.Next(3) switch { 0 => 0x00, 1 => 0xFF, _ => 0x7F };
                }

                return bytes;
            }

            case 3:
            {
                // A run of bytes deleted or duplicated (chunks out of place, lengths that no longer match).
                int start = random.Next(seed.Length), count = random.Next(1, Math.Min(24, seed.Length - start) + 1);
                return random.Next(2) == 0
                    ? [.. seed[..start], .. seed[(start + count)..]]
                    : [.. seed[..(start + count)], .. seed[start..]];
            }

            case 4:
                return Splice(seed, seeds[random.Next(seeds.Length)], random);
            default:
                return FlipBits(seed, random);
        }
    }

    // ------------------------------------------------------------------ shared mutations

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] FlipBits(byte[] original, Random random)
    {
        byte[] bytes = (byte[])original.Clone();
        for (int k = random.Next(1, 6); k > 0; k--)
        {
            bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
        }

        return bytes;
    }

    /// <summary>The start of one file and the end of another (or of itself, elsewhere).</summary>
    private static byte[] Splice(byte[] a, byte[] b, Random random) => [.. a[..random.Next(a.Length + 1)], .. b[random.Next(b.Length + 1)..]];
}

/// <summary>
/// The fuzz tests run alone: their hang detector watches wall-clock progress, which other tests' CPU load must
/// not stretch, and they are the longest tests when <c>JOINTDIFF_FUZZ_CASES</c> is large.
/// </summary>
[CollectionDefinition(nameof(FuzzCollection), DisableParallelization = true)]
public sealed class FuzzCollection;
