namespace JointDiffusion.Gpu.IO;

/// <summary>Wire names, element sizes and decodability of <see cref="SafetensorsDType"/>.</summary>
internal static class SafetensorsDTypeTable
{
    /// <summary>The wire names this reader knows, for error messages.</summary>
    internal const string KnownNames = "BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, F64, C64, I64, U64";

    /// <summary>
    /// Parses a wire name exactly (case-sensitive, as the reference implementation does). An explicit switch
    /// rather than <see cref="Enum.TryParse{TEnum}(string, out TEnum)"/>, which would also accept "12" or "F32,I8".
    /// </summary>
    internal static bool TryParse(string wireName, out SafetensorsDType dtype)
    {
        SafetensorsDType? parsed = wireName switch
        {
            "BOOL" => SafetensorsDType.Bool,
            "U8" => SafetensorsDType.U8,
            "I8" => SafetensorsDType.I8,
            "F8_E5M2" => SafetensorsDType.F8E5M2,
            "F8_E4M3" => SafetensorsDType.F8E4M3,
            "F8_E8M0" => SafetensorsDType.F8E8M0,
            "I16" => SafetensorsDType.I16,
            "U16" => SafetensorsDType.U16,
            "F16" => SafetensorsDType.F16,
            "BF16" => SafetensorsDType.BF16,
            "I32" => SafetensorsDType.I32,
            "U32" => SafetensorsDType.U32,
            "F32" => SafetensorsDType.F32,
            "F64" => SafetensorsDType.F64,
            "C64" => SafetensorsDType.C64,
            "I64" => SafetensorsDType.I64,
            "U64" => SafetensorsDType.U64,
            _ => null,
        };
        dtype = parsed ?? default;
        return parsed.HasValue;
    }

    /// <summary>The name written in a header.</summary>
    internal static string WireName(SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.Bool => "BOOL",
        SafetensorsDType.F8E5M2 => "F8_E5M2",
        SafetensorsDType.F8E4M3 => "F8_E4M3",
        SafetensorsDType.F8E8M0 => "F8_E8M0",
        _ => dtype.ToString(),
    };

    /// <summary>Bytes per element.</summary>
    internal static int ByteSize(SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.Bool or SafetensorsDType.U8 or SafetensorsDType.I8
            or SafetensorsDType.F8E5M2 or SafetensorsDType.F8E4M3 or SafetensorsDType.F8E8M0 => 1,
        SafetensorsDType.I16 or SafetensorsDType.U16 or SafetensorsDType.F16 or SafetensorsDType.BF16 => 2,
        SafetensorsDType.I32 or SafetensorsDType.U32 or SafetensorsDType.F32 => 4,
        SafetensorsDType.F64 or SafetensorsDType.C64 or SafetensorsDType.I64 or SafetensorsDType.U64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a safetensors dtype."),
    };

    /// <summary>Whether the reader converts this dtype to float32 (exactly for F16/BF16, rounded for F64).</summary>
    internal static bool DecodesToFloat32(SafetensorsDType dtype) =>
        dtype is SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16 or SafetensorsDType.F64;
}
