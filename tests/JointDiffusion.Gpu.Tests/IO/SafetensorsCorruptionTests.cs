using System.Buffers.Binary;
using System.Text;
using JointDiffusion.Gpu.IO;

namespace JointDiffusion.Gpu.Tests.IO;

/// <summary>Each malformation is refused with a <see cref="SafetensorsFormatException"/> whose message says what is wrong.</summary>
public sealed class SafetensorsCorruptionTests
{
    private const string Source = "bad.safetensors";

    private static SafetensorsFormatException Refused(byte[] bytes, long maxHeaderBytes = SafetensorsReader.DefaultMaxHeaderBytes)
    {
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsReader.Read(bytes, Source, maxHeaderBytes));
        Assert.StartsWith(Source + ": ", e.Message, StringComparison.Ordinal);
        Assert.Equal(Source, e.SourceName);
        return e;
    }

    private static SafetensorsFormatException RefusedHeader(string header, byte[] data) => Refused(RawSafetensors.Build(header, data));

    private static byte[] ValidFile() => SafetensorsWriter.ToBytes(
        [new SafetensorsTensor("a", [2, 2], [1f, 2f, 3f, 4f]), new SafetensorsTensor("b", [3], [5f, 6f, 7f])],
        new Dictionary<string, string> { ["arch"] = "ncsnv2" });

    [Fact]
    public void TruncatedFile_IsRefusedAtEveryKindOfCutPoint()
    {
        byte[] file = ValidFile();
        int n = RawSafetensors.HeaderLength(file);

        foreach (int cut in new[] { 0, 1, 7 })
        {
            Assert.Contains($"is {cut} bytes long, shorter than the 8-byte header length field", Refused(file[..cut]).Message, StringComparison.Ordinal);
        }

        foreach (int cut in new[] { 8, 8 + (n / 2), 8 + n - 1 })
        {
            Assert.Contains($"header length field says {n} bytes but only {cut - 8} bytes follow it", Refused(file[..cut]).Message, StringComparison.Ordinal);
        }

        // Header intact, data short: the first entry (in header order) that runs past the end is named;
        // 'a' holds data bytes [0, 16), 'b' holds [16, 28).
        foreach ((int cut, string tensor, string offsets) in new[] { (8 + n, "a", "[0, 16]"), (8 + n + 17, "b", "[16, 28]"), (file.Length - 1, "b", "[16, 28]") })
        {
            var e = Refused(file[..cut]);
            Assert.Equal(tensor, e.TensorName);
            Assert.Contains($"has data_offsets {offsets} past the end of the data section ({cut - 8 - n} bytes)", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void HeaderLengthAboveTheLimit_IsRefusedWithoutAllocating()
    {
        byte[] file = ValidFile();
        BinaryPrimitives.WriteUInt64LittleEndian(file, ulong.MaxValue);

        Assert.Contains($"header length field says {ulong.MaxValue} bytes, more than the limit of 100000000 bytes", Refused(file).Message, StringComparison.Ordinal);

        byte[] valid = ValidFile();
        int n = RawSafetensors.HeaderLength(valid);
        Assert.Contains($"says {n} bytes, more than the limit of {n - 1} bytes", Refused(valid, maxHeaderBytes: n - 1).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HeaderLengthPastTheEndOfFile_IsRefused()
    {
        byte[] file = ValidFile();
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)(file.Length - 7));

        Assert.Contains($"says {file.Length - 7} bytes but only {file.Length - 8} bytes follow it", Refused(file).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HeaderThatIsNotAJsonObject_IsRefused()
    {
        Assert.Contains("header is not valid JSON", RefusedHeader("{not json}", []).Message, StringComparison.Ordinal);
        Assert.Contains("header is not valid JSON", RefusedHeader("{\"a\":1} trailing", []).Message, StringComparison.Ordinal);
        Assert.Contains("header is not valid JSON", RefusedHeader("{\"a\":{\"dtype\":\"F32\",}}", []).Message, StringComparison.Ordinal);
        Assert.Contains("header is not valid JSON", RefusedHeader(string.Concat(Enumerable.Repeat("{\"k\":", 100)) + "1" + new string('}', 100), []).Message, StringComparison.Ordinal);
        Assert.Contains("header is not a JSON object: its first byte is 0x5B, not '{'", RefusedHeader("[1,2]", []).Message, StringComparison.Ordinal);
        Assert.Contains("its first byte is 0x20", RefusedHeader(" {}", []).Message, StringComparison.Ordinal);
        Assert.Contains("header is not a JSON object: it is empty", RefusedHeader("", []).Message, StringComparison.Ordinal);

        // Valid UTF-8, valid JSON, but escaping an unpaired UTF-16 surrogate, in each place a string can appear.
        foreach (string header in new[]
        {
            """{"\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""",
            """{"w":{"dtype":"\udc00F32","shape":[1],"data_offsets":[0,4]}}""",
            """{"w":{"\ud800":"F32","shape":[1],"data_offsets":[0,4]}}""",
            """{"__metadata__":{"k":"\ud800"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""",
        })
        {
            Assert.Contains("header has a string with an invalid \\u escape at byte", RefusedHeader(header, new byte[4]).Message, StringComparison.Ordinal);
        }

        byte[] badUtf8 = [(byte)'{', (byte)'"', 0xFF, (byte)'"', (byte)':', (byte)'1', (byte)'}'];
        Assert.Contains("header is not valid UTF-8", Refused(RawSafetensors.Build(badUtf8, [])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownOrMistypedDtype_IsRefused()
    {
        var unknown = RefusedHeader("""{"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}""", new byte[4]);
        Assert.Equal($"{Source}: tensor 'w' has unknown dtype 'F33' (known: BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, F64, C64, I64, U64)", unknown.Message);
        Assert.Equal("w", unknown.TensorName);
        Assert.Contains("unknown dtype 'f32'", RefusedHeader("""{"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}""", new byte[4]).Message, StringComparison.Ordinal);
        Assert.Contains("unknown dtype '12'", RefusedHeader("""{"w":{"dtype":"12","shape":[1],"data_offsets":[0,4]}}""", new byte[4]).Message, StringComparison.Ordinal);
        Assert.Contains("'dtype' that is a JSON Number, not a string", RefusedHeader("""{"w":{"dtype":12,"shape":[1],"data_offsets":[0,4]}}""", new byte[4]).Message, StringComparison.Ordinal);
        Assert.Contains("tensor 'w' has no 'dtype'", RefusedHeader("""{"w":{"shape":[1],"data_offsets":[0,4]}}""", new byte[4]).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ShapeThatDisagreesWithTheByteRange_IsRefused()
    {
        var e = RefusedHeader("""{"begin_conv.weight":{"dtype":"F32","shape":[8,1,3,3],"data_offsets":[0,280]}}""", new byte[280]);

        Assert.Equal($"{Source}: tensor 'begin_conv.weight' has shape [8, 1, 3, 3] (72 values of F32 = 288 bytes) but data_offsets [0, 280] span 280 bytes", e.Message);
        Assert.Contains("(2 values of F16 = 4 bytes) but data_offsets [0, 8] span 8 bytes",
            RefusedHeader("""{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}""", new byte[8]).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OverlappingTensors_AreRefused()
    {
        var e = RefusedHeader("""
            {"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},
             "b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}
            """, new byte[24]);

        Assert.Equal("b", e.TensorName);
        Assert.Contains("has data_offsets [8, 24] overlapping tensor 'a', which ends at 16", e.Message, StringComparison.Ordinal);

        // Two entries sharing one byte range (aliasing) are an overlap too.
        Assert.Contains("overlapping tensor",
            RefusedHeader("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[4]).Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public void GapsAndTrailingBytes_AreRefused()
    {
        Assert.Contains("tensor 'b' has data_offsets [8, 12], leaving bytes [4, 8) of the data section unused",
            RefusedHeader("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""", new byte[12]).Message,
            StringComparison.Ordinal);
        Assert.Contains("data section has 6 bytes but the tensors cover only 4; the last 2 bytes belong to no tensor",
            RefusedHeader("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[6]).Message, StringComparison.Ordinal);
        Assert.Contains("data section has 4 bytes but the tensors cover only 0", RefusedHeader("{}", new byte[4]).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BadDataOffsets_AreRefused()
    {
        static string Header(string offsets) => "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":" + offsets + "}}";
        Assert.Contains("has data_offsets [4, 8] past the end of the data section (4 bytes)",
            RefusedHeader(Header("[4,8]"), new byte[4]).Message, StringComparison.Ordinal);
        Assert.Contains("has data_offsets [8, 4] with begin > end",
            RefusedHeader(Header("[8,4]"), new byte[8]).Message, StringComparison.Ordinal);
        Assert.Contains("has 'data_offsets' [-4,0], whose entries must be non-negative 64-bit integers",
            RefusedHeader(Header("[-4,0]"), new byte[4]).Message, StringComparison.Ordinal);
        Assert.Contains("whose entries must be non-negative 64-bit integers",
            RefusedHeader(Header("[0,4.0]"), new byte[4]).Message, StringComparison.Ordinal);
        Assert.Contains("whose entries must be non-negative 64-bit integers",
            RefusedHeader(Header("[0,99999999999999999999]"), new byte[4]).Message, StringComparison.Ordinal);
        Assert.Contains("has 'data_offsets' [0,4,8], not a pair [begin, end]",
            RefusedHeader(Header("[0,4,8]"), new byte[4]).Message, StringComparison.Ordinal);
        Assert.Contains("has 'data_offsets' \"0-4\", not a pair",
            RefusedHeader(Header("\"0-4\""), new byte[4]).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NegativeAbsurdOrOverflowingShapes_AreRefused()
    {
        static string Header(string shape) => "{\"w\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":[0,4]}}";
        Assert.Contains("has shape dimension 1 = -1, not an integer in [0, 2147483647]", RefusedHeader(Header("[1,-1]"), new byte[4]).Message, StringComparison.Ordinal);
        Assert.Contains("has shape dimension 0 = 2147483648, not an integer", RefusedHeader(Header("[2147483648]"), new byte[4]).Message, StringComparison.Ordinal);
        Assert.Contains("has shape dimension 0 = 1e3, not an integer", RefusedHeader(Header("[1e3]"), new byte[4]).Message, StringComparison.Ordinal);
        Assert.Contains("has shape dimension 0 = \"4\", not an integer", RefusedHeader(Header("[\"4\"]"), new byte[4]).Message, StringComparison.Ordinal);
        Assert.Contains("has a 'shape' that is a JSON Number, not an array", RefusedHeader(Header("4"), new byte[4]).Message, StringComparison.Ordinal);

        // A hostile 10,000-character dimension is quoted only in part.
        var longDimension = RefusedHeader(Header("[\"" + new string('x', 10_000) + "\"]"), new byte[4]);
        Assert.Contains("has shape dimension 0 = \"xxxx", longDimension.Message, StringComparison.Ordinal);
        Assert.True(longDimension.Message.Length < 200, longDimension.Message.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));

        // (2^31-1)^3 overflows 64 bits; (2^31-1)^2·2 fits in 64 bits but its F32 byte count (·4) does not.
        Assert.Contains("has shape [2147483647, 2147483647, 2147483647], whose element count overflows 64 bits",
            RefusedHeader(Header("[2147483647,2147483647,2147483647]"), new byte[4]).Message, StringComparison.Ordinal);
        Assert.Contains("has shape [2147483647, 2147483647, 2] of F32, whose byte count overflows 64 bits",
            RefusedHeader(Header("[2147483647,2147483647,2]"), new byte[4]).Message, StringComparison.Ordinal);

        // 2^32 values (16 GiB of F32) claimed over a 4-byte range: refused by the byte-range check, before any allocation.
        Assert.Contains("(4294967296 values of F32 = 17179869184 bytes) but data_offsets [0, 4] span 4 bytes",
            RefusedHeader(Header("[65536,65536]"), new byte[4]).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DuplicateKeys_AreRefused()
    {
        const string Entry = """{"dtype":"F32","shape":[1],"data_offsets":[0,4]}""";
        var twice = RefusedHeader("{\"w\":" + Entry + ",\"w\":" + Entry + "}", new byte[4]);
        Assert.Equal($"{Source}: tensor 'w' appears twice in the header", twice.Message);

        Assert.Contains("header has two '__metadata__' entries",
            RefusedHeader("{\"__metadata__\":{},\"w\":" + Entry + ",\"__metadata__\":{}}", new byte[4]).Message, StringComparison.Ordinal);
        Assert.Contains("'__metadata__' has key 'a' twice",
            RefusedHeader("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"},\"w\":" + Entry + "}", new byte[4]).Message, StringComparison.Ordinal);
        Assert.Contains("tensor 'w' has field 'shape' twice",
            RefusedHeader("""{"w":{"dtype":"F32","shape":[1],"shape":[1],"data_offsets":[0,4]}}""", new byte[4]).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MalformedEntriesAndMetadata_AreRefused()
    {
        Assert.Contains("tensor 'w' has unknown field 'dtypes' (expected dtype, shape, data_offsets)",
            RefusedHeader("""{"w":{"dtypes":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[4]).Message, StringComparison.Ordinal);
        Assert.Contains("tensor 'w' entry is a JSON Array, not an object",
            RefusedHeader("""{"w":[]}""", []).Message, StringComparison.Ordinal);
        Assert.Contains("'__metadata__' value 'steps' is a JSON Number, not a string",
            RefusedHeader("""{"__metadata__":{"steps":3772}}""", []).Message, StringComparison.Ordinal);
        Assert.Contains("'__metadata__' is a JSON Array, not an object of strings",
            RefusedHeader("""{"__metadata__":["a"]}""", []).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadFromPath_NamesThePathInTheMessage()
    {
        DirectoryInfo directory = Directory.CreateTempSubdirectory("safetensors-tests-");
        try
        {
            string path = Path.Combine(directory.FullName, "weights.safetensors");
            File.WriteAllBytes(path, Encoding.ASCII.GetBytes("oops"));

            var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsReader.Read(path));

            Assert.Equal($"{path}: is 4 bytes long, shorter than the 8-byte header length field that starts a safetensors file", e.Message);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
