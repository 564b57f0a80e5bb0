using JointDiffusion.Gpu.IO;

namespace JointDiffusion.Gpu.Tests.IO;

/// <summary>
/// Non-F32 dtypes against values computed by hand from the IEEE 754 / bfloat16 bit layouts. All expected
/// values are exact in float32 (or, for F64, are the float32 rounding), so the comparisons are exact.
/// </summary>
public sealed class SafetensorsDecodingTests
{
    [Fact]
    public void F16_DecodesKnownBitPatternsExactly()
    {
        // 0x3C00 = 1, 0xC000 = -2, 0x7BFF = 65504 (largest finite), 0x0001 = 2^-24 (smallest subnormal),
        // 0x3555 = 1 + 0x155/1024 = 1.333... * 2^-2 = 0.333251953125, 0x8000 = -0, 0x7C00 = +inf, 0x7E00 = NaN.
        byte[] data = RawSafetensors.U16(0x3C00, 0xC000, 0x7BFF, 0x0001, 0x3555, 0x8000, 0x7C00, 0x7E00);
        byte[] file = RawSafetensors.Build("""{"h":{"dtype":"F16","shape":[2,4],"data_offsets":[0,16]}}""", data);

        SafetensorsTensor h = SafetensorsReader.Read(file, "f16").GetTensor("h");

        Assert.Equal(SafetensorsDType.F16, h.StoredAs);
        Assert.Equal(new[] { 2, 4 }, h.Shape);
        Assert.Equal(new[] { 1f, -2f, 65504f, MathF.Pow(2, -24), 0.333251953125f }, h.Data[..5]);
        Assert.True(float.IsNegative(h.Data[5]) && h.Data[5] == 0f, "0x8000 is -0");
        Assert.Equal(float.PositiveInfinity, h.Data[6]);
        Assert.True(float.IsNaN(h.Data[7]));
    }

    [Fact]
    public void BF16_DecodesKnownBitPatternsExactly()
    {
        // bfloat16 is the top half of a float32: 0x3F80 = 1, 0xC040 = -3, 0x3EAB = 0x3EAB0000 = 0.333984375,
        // 0x0001 = 0x00010000 (a float32 subnormal, 2^-133), 0xFF80 = -inf.
        byte[] data = RawSafetensors.U16(0x3F80, 0xC040, 0x3EAB, 0x0001, 0xFF80);
        byte[] file = RawSafetensors.Build("""{"b":{"dtype":"BF16","shape":[5],"data_offsets":[0,10]}}""", data);

        SafetensorsTensor b = SafetensorsReader.Read(file, "bf16").GetTensor("b");

        Assert.Equal(SafetensorsDType.BF16, b.StoredAs);
        Assert.Equal(new[] { 1f, -3f, 0.333984375f, BitConverter.Int32BitsToSingle(0x00010000), float.NegativeInfinity }, b.Data);
    }

    [Fact]
    public void F64_DecodesRoundedToNearestFloat32()
    {
        // 0.1 rounds to float32 0x3DCCCCCD; 1e300 overflows float32 to +inf; 2^-150 is half the smallest
        // float32 subnormal and ties to even (0); -2.5 is exact.
        byte[] data = RawSafetensors.F64(0.1, 1e300, Math.Pow(2, -150), -2.5);
        byte[] file = RawSafetensors.Build("""{"d":{"dtype":"F64","shape":[4],"data_offsets":[0,32]}}""", data);

        SafetensorsTensor d = SafetensorsReader.Read(file, "f64").GetTensor("d");

        Assert.Equal(SafetensorsDType.F64, d.StoredAs);
        Assert.Equal(0x3DCCCCCD, BitConverter.SingleToInt32Bits(d.Data[0]));
        Assert.Equal(new[] { float.PositiveInfinity, 0f, -2.5f }, d.Data[1..]);
    }

    [Fact]
    public void MixedDtypes_DecodeEachFromItsOwnOffsets()
    {
        // Entries listed out of data order, with a 64-bit tensor after 16-bit ones, to catch any offset mix-up.
        byte[] data = [.. RawSafetensors.U16(0x4000), .. RawSafetensors.U16(0x4040), .. RawSafetensors.F32(5f, 6f), .. RawSafetensors.F64(7.0)];
        string header = """
            {"z":{"dtype":"F64","shape":[1],"data_offsets":[12,20]},
             "__metadata__":{"arch":"ncsnv2"},
             "a":{"dtype":"F16","shape":[],"data_offsets":[0,2]},
             "m":{"dtype":"F32","shape":[2,1],"data_offsets":[4,12]},
             "b":{"dtype":"BF16","shape":[1],"data_offsets":[2,4]}}
            """;

        SafetensorsFile file = SafetensorsReader.Read(RawSafetensors.Build(header, data), "mixed");

        Assert.Equal(new[] { "a", "b", "m", "z" }, file.Tensors.Select(t => t.Name));
        Assert.Equal(new[] { 2f }, file.GetTensor("a").Data);
        Assert.Empty(file.GetTensor("a").Shape);
        Assert.Equal(new[] { 3f }, file.GetTensor("b").Data);
        Assert.Equal(new[] { 5f, 6f }, file.GetTensor("m").Data);
        Assert.Equal(new[] { 7f }, file.GetTensor("z").Data);
        Assert.Equal("ncsnv2", file.Metadata["arch"]);
    }

    [Fact]
    public void IntegerTensors_AreSkippedNotFatal()
    {
        // A PyTorch state_dict with a BatchNorm carries an int64 num_batches_tracked scalar.
        byte[] data = [.. RawSafetensors.F32(1f, 2f), .. BitConverter.GetBytes(12345L), 1, 0, 1];
        string header = """
            {"bn.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
             "bn.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[8,16]},
             "mask":{"dtype":"BOOL","shape":[3],"data_offsets":[16,19]}}
            """;

        SafetensorsFile file = SafetensorsReader.Read(RawSafetensors.Build(header, data), "bn.safetensors");

        Assert.Equal(new[] { 1f, 2f }, file.GetTensor("bn.weight").Data);
        Assert.Equal(new[] { ("bn.num_batches_tracked", SafetensorsDType.I64), ("mask", SafetensorsDType.Bool) },
            file.SkippedTensors.Select(s => (s.Name, s.DType)));
        Assert.Equal(new[] { 3 }, file.SkippedTensors[1].Shape);
        Assert.False(file.TryGetTensor("bn.num_batches_tracked", out _));
        var e = Assert.Throws<SafetensorsFormatException>(() => file.GetTensor("bn.num_batches_tracked"));
        Assert.Equal("bn.safetensors: tensor 'bn.num_batches_tracked' has dtype I64, which is not decoded to float32 (only F32, F16, BF16 and F64 are)", e.Message);
        Assert.Equal("bn.num_batches_tracked", e.TensorName);
    }

    [Fact]
    public void GetTensor_NamesTheFileAndTheMissingTensor()
    {
        byte[] file = RawSafetensors.Build("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", RawSafetensors.F32(1f));

        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsReader.Read(file, "w.safetensors").GetTensor("begin_conv.weight"));

        Assert.Equal("w.safetensors: tensor 'begin_conv.weight' is not in the file (1 tensors)", e.Message);
    }

    [Fact]
    public void EmptyHeaderAndNullMetadata_AreAValidEmptyFile()
    {
        SafetensorsFile empty = SafetensorsReader.Read(RawSafetensors.Build("{}", []), "empty");
        SafetensorsFile nullMetadata = SafetensorsReader.Read(RawSafetensors.Build("""{"__metadata__":null}   """, []), "null-metadata");

        Assert.Empty(empty.Tensors);
        Assert.Empty(empty.Metadata);
        Assert.Empty(nullMetadata.Metadata);
    }
}
