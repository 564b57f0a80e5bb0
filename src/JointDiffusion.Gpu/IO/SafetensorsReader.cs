using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace JointDiffusion.Gpu.IO;

/// <summary>
/// Reads safetensors files: an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping tensor
/// names to <c>{"dtype", "shape", "data_offsets"}</c> (plus an optional <c>"__metadata__"</c> object of
/// strings), then the raw little-endian data section.
/// </summary>
/// <remarks>
/// The whole header is validated before any tensor memory is allocated (see <see cref="SafetensorsFormatException"/>
/// for the message format). F32, F16, BF16 and F64 tensors are decoded to float32 (F64 rounds to nearest);
/// tensors of other known dtypes (integers, booleans, 8-bit floats, complex) are validated and listed in
/// <see cref="SafetensorsFile.SkippedTensors"/> so that, e.g., a PyTorch int64 <c>num_batches_tracked</c> does
/// not fail the file. As in the reference implementation, the tensors must tile the data section exactly.
/// I/O failures (missing file, permissions) surface as the usual <see cref="IOException"/> family.
/// </remarks>
public static class SafetensorsReader
{
    /// <summary>The default bound on the header length field, as in the reference implementation (100 MB).</summary>
    public const long DefaultMaxHeaderBytes = 100_000_000;

    // Conversion chunk for non-F32 dtypes: large enough to amortise stream calls, small enough for the L2 cache.
    private const int ChunkBytes = 1 << 16;

    /// <summary>Reads the safetensors file at <paramref name="path"/>.</summary>
    /// <param name="path">The file; also the name used in error messages.</param>
    /// <param name="maxHeaderBytes">Refuse files whose header length field exceeds this many bytes.</param>
    /// <exception cref="SafetensorsFormatException">When the file is malformed.</exception>
    public static SafetensorsFile Read(string path, long maxHeaderBytes = DefaultMaxHeaderBytes)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, ChunkBytes, FileOptions.SequentialScan);
        return ReadKnownLength(stream, stream.Length, path, maxHeaderBytes);
    }

    /// <summary>Reads a safetensors file held in memory (tests, fuzzing, embedded resources).</summary>
    /// <param name="bytes">The whole file.</param>
    /// <param name="sourceName">The name used in error messages.</param>
    /// <param name="maxHeaderBytes">Refuse data whose header length field exceeds this many bytes.</param>
    /// <exception cref="SafetensorsFormatException">When the bytes are not a valid safetensors file.</exception>
    public static SafetensorsFile Read(byte[] bytes, string sourceName, long maxHeaderBytes = DefaultMaxHeaderBytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(sourceName);
        using var stream = new MemoryStream(bytes, writable: false);
        return ReadKnownLength(stream, bytes.Length, sourceName, maxHeaderBytes);
    }

    /// <summary>
    /// Reads a safetensors file from <paramref name="stream"/>, from its current position to its end. A stream
    /// that cannot seek is first copied into memory, since the header is checked against the total length.
    /// </summary>
    /// <param name="stream">The source; left open.</param>
    /// <param name="sourceName">The name used in error messages.</param>
    /// <param name="maxHeaderBytes">Refuse data whose header length field exceeds this many bytes.</param>
    /// <exception cref="SafetensorsFormatException">When the data is not a valid safetensors file.</exception>
    public static SafetensorsFile Read(Stream stream, string sourceName, long maxHeaderBytes = DefaultMaxHeaderBytes)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(sourceName);
        if (stream.CanSeek)
        {
            return ReadKnownLength(stream, stream.Length - stream.Position, sourceName, maxHeaderBytes);
        }

        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        copy.Position = 0;
        return ReadKnownLength(copy, copy.Length, sourceName, maxHeaderBytes);
    }

    private static SafetensorsFile ReadKnownLength(Stream stream, long length, string source, long maxHeaderBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxHeaderBytes);
        try
        {
            return ReadValidated(stream, length, source, maxHeaderBytes);
        }
        catch (EndOfStreamException e)
        {
            // Only reachable when the stream is shorter than its reported length (e.g. the file shrank meanwhile).
            throw new SafetensorsFormatException(source, null, $"data ended before the {length} bytes the stream reported", e);
        }
    }

    private static SafetensorsFile ReadValidated(Stream stream, long length, string source, long maxHeaderBytes)
    {
        if (length < sizeof(ulong))
        {
            throw new SafetensorsFormatException(source, null,
                $"is {length} bytes long, shorter than the 8-byte header length field that starts a safetensors file");
        }

        Span<byte> lengthField = stackalloc byte[sizeof(ulong)];
        stream.ReadExactly(lengthField);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthField);
        long available = length - sizeof(ulong);
        if (headerLength > (ulong)maxHeaderBytes)
        {
            throw new SafetensorsFormatException(source, null,
                $"header length field says {headerLength} bytes, more than the limit of {maxHeaderBytes} bytes");
        }

        if (headerLength > (ulong)available)
        {
            throw new SafetensorsFormatException(source, null,
                $"header length field says {headerLength} bytes but only {available} bytes follow it (file truncated or not safetensors)");
        }

        // Both bounds above hold, so this allocation is at most min(maxHeaderBytes, file length).
        var headerBytes = new byte[(int)headerLength];
        stream.ReadExactly(headerBytes);
        var header = SafetensorsHeader.Parse(headerBytes, available - (long)headerLength, source);

        // The entries tile the data section in offset order, so the data is read front to back without seeking.
        var tensors = new List<SafetensorsTensor>(header.Entries.Count);
        var skipped = new List<SafetensorsSkippedTensor>();
        foreach (SafetensorsHeaderEntry entry in header.Entries)
        {
            if (SafetensorsDTypeTable.DecodesToFloat32(entry.DType))
            {
                float[] data = Decode(stream, entry);
                tensors.Add(SafetensorsTensor.FromDecoded(entry.Name, entry.Shape, data, entry.DType));
            }
            else
            {
                // Every stream reaching here can seek: files, memory, or the in-memory copy of a non-seekable stream.
                stream.Seek(entry.End - entry.Begin, SeekOrigin.Current);
                skipped.Add(new SafetensorsSkippedTensor(entry.Name, entry.DType, entry.Shape));
            }
        }

        return new SafetensorsFile(source, header.Metadata, tensors, skipped);
    }

    private static float[] Decode(Stream stream, SafetensorsHeaderEntry entry)
    {
        // ElementCount ≤ Array.MaxLength was checked in the header.
        var data = new float[entry.ElementCount];
        if (entry.DType == SafetensorsDType.F32)
        {
            stream.ReadExactly(MemoryMarshal.AsBytes(data.AsSpan()));
            if (!BitConverter.IsLittleEndian)
            {
                Span<int> bits = MemoryMarshal.Cast<float, int>(data.AsSpan());
                BinaryPrimitives.ReverseEndianness(bits, bits);
            }

            return data;
        }

        int size = SafetensorsDTypeTable.ByteSize(entry.DType);
        byte[] chunk = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            int perChunk = ChunkBytes / size;
            for (int start = 0; start < data.Length; start += perChunk)
            {
                int n = Math.Min(perChunk, data.Length - start);
                Span<byte> bytes = chunk.AsSpan(0, n * size);
                stream.ReadExactly(bytes);
                Convert(entry.DType, bytes, data.AsSpan(start, n));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        return data;
    }

    private static void Convert(SafetensorsDType dtype, ReadOnlySpan<byte> bytes, Span<float> destination)
    {
        switch (dtype)
        {
            case SafetensorsDType.F16:
                for (int i = 0; i < destination.Length; i++)
                {
                    // Every binary16 value (subnormals, ±inf, NaN) is exactly representable in binary32.
                    destination[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(bytes.Slice(2 * i, 2));
                }

                break;
            case SafetensorsDType.BF16:
                for (int i = 0; i < destination.Length; i++)
                {
                    // bfloat16 is the upper half of a binary32, so widening is a 16-bit shift.
                    destination[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes.Slice(2 * i, 2)) << 16);
                }

                break;
            case SafetensorsDType.F64:
                for (int i = 0; i < destination.Length; i++)
                {
                    // Round to nearest; magnitudes beyond float32's range become ±infinity.
                    destination[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(bytes.Slice(8 * i, 8));
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a dtype decoded to float32.");
        }
    }
}
