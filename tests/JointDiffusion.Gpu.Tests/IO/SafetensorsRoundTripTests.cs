using System.Text;
using System.Text.Json;
using JointDiffusion.Gpu.IO;

namespace JointDiffusion.Gpu.Tests.IO;

public sealed class SafetensorsRoundTripTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("safetensors-tests-");

    public void Dispose() => _directory.Delete(recursive: true);

    /// <summary>
    /// Values chosen to catch any conversion on the way: signed zero, infinities, subnormals, NaNs with
    /// payloads (compared as bits), extremes, and a random block.
    /// </summary>
    private static SafetensorsTensor[] SampleTensors()
    {
        var random = new Random(20250101);
        float[] block = new float[2 * 3 * 4 * 5];
        for (int i = 0; i < block.Length; i++)
        {
            block[i] = (float)(random.NextDouble() * 2 - 1);
        }

        float[] special =
        [
            0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, -float.Epsilon,
            float.MaxValue, float.MinValue, BitConverter.Int32BitsToSingle(0x7FC01234), BitConverter.Int32BitsToSingle(unchecked((int)0xFF800001)),
        ];
        return
        [
            new SafetensorsTensor("res1.0.conv1.weight", [2, 3, 4, 5], block),
            new SafetensorsTensor("begin_conv.bias", [10], special),
            new SafetensorsTensor("scalar", [], [3.5f]),
            new SafetensorsTensor("empty", [0, 3], []),
            new SafetensorsTensor("Ünïcode \"quoted\" name", [1, 1], [42f]),
        ];
    }

    private static readonly Dictionary<string, string> SampleMetadata = new()
    {
        ["arch"] = "ncsnv2",
        ["sigma"] = "25",
        ["note"] = "línea \"dos\"\nwith + < & \\ and 🙂",
        ["empty"] = "",
    };

    private static void AssertBitIdentical(IReadOnlyList<SafetensorsTensor> expected, SafetensorsFile actual)
    {
        Assert.Equal(expected.Count, actual.Tensors.Count);
        foreach (SafetensorsTensor e in expected)
        {
            SafetensorsTensor a = actual.GetTensor(e.Name);
            Assert.Equal(e.Shape, a.Shape);
            Assert.Equal(SafetensorsDType.F32, a.StoredAs);
            Assert.Equal(e.Data.Select(BitConverter.SingleToInt32Bits), a.Data.Select(BitConverter.SingleToInt32Bits));
        }
    }

    [Fact]
    public void WrittenFile_ReadsBackBitIdentical()
    {
        string path = Path.Combine(_directory.FullName, "weights.safetensors");
        SafetensorsTensor[] tensors = SampleTensors();

        SafetensorsWriter.Write(path, tensors, SampleMetadata);
        SafetensorsFile file = SafetensorsReader.Read(path);

        AssertBitIdentical(tensors, file);
        Assert.Equal(SampleMetadata.OrderBy(p => p.Key), file.Metadata.OrderBy(p => p.Key));
        Assert.Empty(file.SkippedTensors);
        Assert.Equal(path, file.SourceName);
    }

    [Fact]
    public void RewritingAReadFile_ProducesIdenticalBytes()
    {
        byte[] first = SafetensorsWriter.ToBytes(SampleTensors(), SampleMetadata);
        SafetensorsFile read = SafetensorsReader.Read(first, "first");

        byte[] second = SafetensorsWriter.ToBytes(read.Tensors, read.Metadata);

        Assert.Equal(first, second);
    }

    [Fact]
    public void WriterOutput_DoesNotDependOnInputOrder()
    {
        SafetensorsTensor[] tensors = SampleTensors();
        var shuffledMetadata = SampleMetadata.Reverse().ToDictionary(p => p.Key, p => p.Value);

        byte[] forward = SafetensorsWriter.ToBytes(tensors, SampleMetadata);
        byte[] backward = SafetensorsWriter.ToBytes(tensors.Reverse(), shuffledMetadata);

        Assert.Equal(forward, backward);
    }

    [Fact]
    public void WriterHeader_IsSortedCompactJsonPaddedWithSpacesToAMultipleOf8()
    {
        byte[] bytes = SafetensorsWriter.ToBytes(SampleTensors(), SampleMetadata);
        int headerLength = RawSafetensors.HeaderLength(bytes);
        byte[] header = bytes.AsSpan(8, headerLength).ToArray();
        string text = Encoding.UTF8.GetString(header);

        Assert.Equal(0, headerLength % 8);
        Assert.StartsWith("{\"__metadata__\":{", text, StringComparison.Ordinal);
        string trimmed = text.TrimEnd(' ');
        Assert.EndsWith("}", trimmed, StringComparison.Ordinal);
        Assert.True(headerLength - trimmed.Length < 8, "padding is shorter than 8 bytes");

        using JsonDocument document = JsonDocument.Parse(header);
        string[] names = document.RootElement.EnumerateObject().Select(p => p.Name).Where(n => n != "__metadata__").ToArray();
        string[] byUtf8 = names.OrderBy(n => Encoding.UTF8.GetBytes(n), Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b))).ToArray();
        Assert.Equal(byUtf8, names);

        // Offsets increase in name order and tile the data section from 0 to its end.
        long expected = 0;
        foreach (string name in names)
        {
            JsonElement entry = document.RootElement.GetProperty(name);
            Assert.Equal("F32", entry.GetProperty("dtype").GetString());
            long[] offsets = entry.GetProperty("data_offsets").EnumerateArray().Select(o => o.GetInt64()).ToArray();
            Assert.Equal(expected, offsets[0]);
            expected = offsets[1];
        }

        Assert.Equal(bytes.Length - 8 - headerLength, expected);
    }

    [Fact]
    public void Write_ReplacesAnExistingFileAndLeavesNoTemporaryFile()
    {
        string path = Path.Combine(_directory.FullName, "model.safetensors");
        File.WriteAllText(path, "old contents");

        SafetensorsWriter.Write(path, [new SafetensorsTensor("w", [2], [1f, 2f])]);

        Assert.Equal(new[] { 1f, 2f }, SafetensorsReader.Read(path).GetTensor("w").Data);
        Assert.Equal(new[] { "model.safetensors" }, _directory.GetFiles().Select(f => f.Name));
    }

    [Fact]
    public void Write_InvalidInputLeavesTheExistingFileUntouched()
    {
        string path = Path.Combine(_directory.FullName, "model.safetensors");
        File.WriteAllText(path, "old contents");
        var tensor = new SafetensorsTensor("w", [2], [1f, 2f]);

        var duplicate = Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, [tensor, tensor]));
        Assert.Contains("'w' appears twice", duplicate.Message, StringComparison.Ordinal);
        var reserved = Assert.Throws<ArgumentException>(() =>
            SafetensorsWriter.Write(path, [new SafetensorsTensor("__metadata__", [1], [0f])]));
        Assert.Contains("reserved", reserved.Message, StringComparison.Ordinal);
        var surrogate = Assert.Throws<ArgumentException>(() =>
            SafetensorsWriter.Write(path, [new SafetensorsTensor("bad\uD800", [1], [0f])]));
        Assert.Contains("unpaired surrogate", surrogate.Message, StringComparison.Ordinal);

        // A shape edited after construction no longer matches the data; the writer re-checks.
        var edited = new SafetensorsTensor("e", [2], [1f, 2f]);
        edited.Shape[0] = 3;
        var mismatch = Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, [edited]));
        Assert.Contains("does not hold its 2 values", mismatch.Message, StringComparison.Ordinal);

        Assert.Equal("old contents", File.ReadAllText(path));
        Assert.Single(_directory.GetFiles());
    }

    [Fact]
    public void TensorConstructor_RefusesShapesThatDoNotHoldTheData()
    {
        Assert.Throws<ArgumentException>(() => new SafetensorsTensor("a", [2, 3], new float[5]));
        Assert.Throws<ArgumentException>(() => new SafetensorsTensor("a", [-2, -3], new float[6]));
        Assert.Throws<ArgumentException>(() => new SafetensorsTensor("a", [-1, 0], []));
        Assert.Throws<ArgumentException>(() => new SafetensorsTensor("a", [int.MaxValue, int.MaxValue, 4], new float[4]));
        Assert.Empty(new SafetensorsTensor("a", [int.MaxValue, 0], []).Data);
    }

    [Fact]
    public void Read_AcceptsANonSeekableStream()
    {
        byte[] bytes = SafetensorsWriter.ToBytes(SampleTensors(), SampleMetadata);
        using var stream = new ForwardOnlyStream(bytes);

        SafetensorsFile file = SafetensorsReader.Read(stream, "pipe");

        AssertBitIdentical(SampleTensors(), file);
    }

    /// <summary>A read-only stream that cannot seek, like a pipe or a network response.</summary>
    private sealed class ForwardOnlyStream(byte[] bytes) : Stream
    {
        private readonly MemoryStream _inner = new(bytes, writable: false);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
