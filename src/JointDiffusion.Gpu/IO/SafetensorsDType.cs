namespace JointDiffusion.Gpu.IO;

/// <summary>
/// The element types a safetensors header may name (the <c>"dtype"</c> field), all little-endian.
/// The wire names are the member names in upper case with an underscore before the F8 variant
/// (<c>"F8_E4M3"</c>); <see cref="Bool"/> is <c>"BOOL"</c>.
/// </summary>
/// <remarks>
/// Only <see cref="F32"/>, <see cref="F16"/>, <see cref="BF16"/> and <see cref="F64"/> are decoded (to float32).
/// The others are validated and then listed in <see cref="SafetensorsFile.SkippedTensors"/>: the library has no
/// integer tensors, and converting, say, an I64 to float32 silently loses digits beyond 2^24.
/// </remarks>
public enum SafetensorsDType
{
    /// <summary>Boolean, one byte.</summary>
    Bool,

    /// <summary>Unsigned 8-bit integer.</summary>
    U8,

    /// <summary>Signed 8-bit integer.</summary>
    I8,

    /// <summary>8-bit float, 5 exponent bits and 2 mantissa bits (<c>"F8_E5M2"</c>).</summary>
    F8E5M2,

    /// <summary>8-bit float, 4 exponent bits and 3 mantissa bits (<c>"F8_E4M3"</c>).</summary>
    F8E4M3,

    /// <summary>8-bit exponent-only scale (<c>"F8_E8M0"</c>).</summary>
    F8E8M0,

    /// <summary>Signed 16-bit integer.</summary>
    I16,

    /// <summary>Unsigned 16-bit integer.</summary>
    U16,

    /// <summary>IEEE 754 binary16.</summary>
    F16,

    /// <summary>bfloat16: the upper 16 bits of a float32.</summary>
    BF16,

    /// <summary>Signed 32-bit integer.</summary>
    I32,

    /// <summary>Unsigned 32-bit integer.</summary>
    U32,

    /// <summary>IEEE 754 binary32.</summary>
    F32,

    /// <summary>IEEE 754 binary64.</summary>
    F64,

    /// <summary>Complex number of two float32 (<c>"C64"</c>).</summary>
    C64,

    /// <summary>Signed 64-bit integer (PyTorch buffers such as <c>num_batches_tracked</c>).</summary>
    I64,

    /// <summary>Unsigned 64-bit integer.</summary>
    U64,
}
