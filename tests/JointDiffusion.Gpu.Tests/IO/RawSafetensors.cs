using System.Buffers.Binary;
using System.Text;

namespace JointDiffusion.Gpu.Tests.IO;

/// <summary>Builds safetensors bytes by hand, so tests can state headers (valid or not) literally.</summary>
internal static class RawSafetensors
{
    /// <summary>The 8-byte length field, the header bytes as given, then <paramref name="data"/>.</summary>
    internal static byte[] Build(string headerJson, byte[] data) => Build(Encoding.UTF8.GetBytes(headerJson), data);

    /// <summary>The 8-byte length field, <paramref name="header"/>, then <paramref name="data"/>.</summary>
    internal static byte[] Build(byte[] header, byte[] data)
    {
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    /// <summary>
    /// A small file with every decoded dtype (F32 [1,1,2,2], F16 [2], BF16 scalar 1.0, F64 [1,1] 2.5), a skipped I64 and
    /// metadata, so mutations of it reach every branch of the reader; the F32 and F16 values are the caller's.
    /// </summary>
    internal static byte[] EveryDType(float[] f32, ushort half0, ushort half1)
    {
        byte[] data = [.. F32(f32), .. U16(half0, half1), .. U16(0x3F80), .. F64(2.5), .. BitConverter.GetBytes(7L)];
        return Build("""
            {"__metadata__":{"arch":"ncsnv2","sigma":"25"},
             "conv.weight":{"dtype":"F32","shape":[1,1,2,2],"data_offsets":[0,16]},
             "half":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},
             "brain":{"dtype":"BF16","shape":[],"data_offsets":[20,22]},
             "double":{"dtype":"F64","shape":[1,1],"data_offsets":[22,30]},
             "count":{"dtype":"I64","shape":[],"data_offsets":[30,38]}}
            """, data);
    }

    /// <summary>Little-endian float32 bytes of <paramref name="values"/>.</summary>
    internal static byte[] F32(params float[] values)
    {
        var bytes = new byte[4 * values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        }

        return bytes;
    }

    /// <summary>Little-endian 16-bit words (F16 or BF16 bit patterns).</summary>
    internal static byte[] U16(params ushort[] words)
    {
        var bytes = new byte[2 * words.Length];
        for (int i = 0; i < words.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), words[i]);
        }

        return bytes;
    }

    /// <summary>Little-endian float64 bytes of <paramref name="values"/>.</summary>
    internal static byte[] F64(params double[] values)
    {
        var bytes = new byte[8 * values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(8 * i), values[i]);
        }

        return bytes;
    }

    /// <summary>The header length stored in the first 8 bytes.</summary>
    internal static int HeaderLength(byte[] file) => (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
}
