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
