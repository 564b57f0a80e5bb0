using System.Buffers.Binary;
using System.Text;
using JointDiffusion.Gpu.IO;

namespace JointDiffusion.Gpu.Tests.IO;

/// <summary>
/// Property: any mutation of a valid file either reads (with self-consistent tensors) or is refused with a
/// <see cref="SafetensorsFormatException"/>; no other exception type (JsonException, IndexOutOfRange,
/// OutOfMemory, Overflow, ...) ever escapes.
/// </summary>
public sealed class SafetensorsFuzzTests
{
    private const int Mutations = 6000;

    // Characters that change JSON structure or numbers, so header mutations reach the validator, not just the parser.
    private static readonly byte[] JsonSignificant = "{}[],:\"-0123456789eE. "u8.ToArray();

    // Every decoded dtype plus a skipped I64, and metadata, so mutations reach every branch of the reader.
    private static byte[] SmallValidFile() => RawSafetensors.EveryDType([1f, -2f, 3f, 0.5f], 0x3C00, 0xC000);

    private static byte[] Mutate(byte[] original, Random random)
    {
        int headerEnd = 8 + RawSafetensors.HeaderLength(original);
        byte[] bytes = (byte[])original.Clone();
        switch (random.Next(8))
        {
            case 0:
                // Flip 1-4 random bits anywhere.
                for (int k = random.Next(1, 5); k > 0; k--)
                {
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                }

                return bytes;
            case 1:
                // Replace header characters with JSON-significant ones.
                for (int k = random.Next(1, 4); k > 0; k--)
                {
                    bytes[random.Next(8, headerEnd)] = JsonSignificant[random.Next(JsonSignificant.Length)];
                }

                return bytes;
            case 2:
                return bytes[..random.Next(bytes.Length)];
            case 3:
                // Nudge the length field by a small amount, either way.
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, unchecked((ulong)(headerEnd - 8 + random.Next(-20, 21))));
                return bytes;
            case 4:
                // An arbitrary 64-bit length field.
                random.NextBytes(bytes.AsSpan(0, 8));
                return bytes;
            case 5:
                // Delete a header byte and fix the length field, so the header still parses as a block.
                int at = random.Next(8, headerEnd);
                byte[] shorter = [.. bytes[..at], .. bytes[(at + 1)..]];
                BinaryPrimitives.WriteUInt64LittleEndian(shorter, (ulong)(headerEnd - 9));
                return shorter;
            case 6:
                // Insert an escaped UTF-16 surrogate (often unpaired) just after a quote, and fix the length field.
                int[] quotes = Enumerable.Range(8, headerEnd - 8).Where(i => bytes[i] == (byte)'"').ToArray();
                int after = quotes[random.Next(quotes.Length)] + 1;
                byte[] escape = Encoding.ASCII.GetBytes($"\\u{random.Next(0xD800, 0xE000):x4}");
                byte[] longer = [.. bytes[..after], .. escape, .. bytes[after..]];
                BinaryPrimitives.WriteUInt64LittleEndian(longer, (ulong)(headerEnd - 8 + escape.Length));
                return longer;
            default:
                // Rewrite a digit inside the header, which lands in shapes and offsets.
                int[] digits = Enumerable.Range(8, headerEnd - 8).Where(i => bytes[i] is >= (byte)'0' and <= (byte)'9').ToArray();
                bytes[digits[random.Next(digits.Length)]] = (byte)('0' + random.Next(10));
                return bytes;
        }
    }

    [Fact]
    public void MutatedFiles_EitherReadConsistentlyOrThrowTheFormatException()
    {
        byte[] original = SmallValidFile();
        Assert.Equal(4, SafetensorsReader.Read(original, "original").Tensors.Count);
        var random = new Random(12345);
        int read = 0, refused = 0;

        for (int trial = 0; trial < Mutations; trial++)
        {
            byte[] mutated = Mutate(original, random);
            try
            {
                SafetensorsFile file = SafetensorsReader.Read(mutated, "fuzz");
                foreach (SafetensorsTensor t in file.Tensors)
                {
                    Assert.True(SafetensorsTensor_ShapeMatches(t), $"trial {trial}: tensor '{t.Name}' shape [{string.Join(",", t.Shape)}] vs {t.Data.Length} values");
                }

                read++;
            }
            catch (SafetensorsFormatException e)
            {
                Assert.StartsWith("fuzz: ", e.Message, StringComparison.Ordinal);
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"trial {trial}: {e.GetType().Name} escaped: {e.Message}\nbytes: {Convert.ToHexString(mutated)}");
            }
        }

        // Both outcomes must occur, or the mutations are not exercising the reader.
        Assert.True(read > 100 && refused > 1000, $"read {read}, refused {refused}");
    }

    private static bool SafetensorsTensor_ShapeMatches(SafetensorsTensor t) =>
        t.Shape.Aggregate(1L, (product, d) => product * d) == t.Data.Length;
}
