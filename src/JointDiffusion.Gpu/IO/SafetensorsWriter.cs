using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace JointDiffusion.Gpu.IO;

/// <summary>
/// Writes float32 tensors as a safetensors file that the Python <c>safetensors</c> library and
/// <see cref="SafetensorsReader"/> both read. The output is deterministic: tensors sorted by the UTF-8 bytes of
/// their names (as the reference implementation orders same-dtype tensors), metadata keys sorted likewise,
/// compact JSON padded with spaces to a multiple of 8 bytes so the data section starts 8-byte aligned.
/// </summary>
public static class SafetensorsWriter
{
    private const int ChunkFloats = 1 << 14;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    // Escape only what JSON requires (quotes, backslashes, control characters), as serde_json does; the
    // default encoder would also escape '+', '<', non-ASCII and more, which is legal but unreadable.
    private static readonly JsonWriterOptions CompactJson = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
        SkipValidation = false,
    };

    /// <summary>
    /// Writes <paramref name="tensors"/> to <paramref name="path"/> atomically: the bytes go to a temporary file in
    /// the same directory, are flushed to disk, and the temporary file then replaces <paramref name="path"/>, so
    /// a crash leaves either the old file or the complete new one, never a partial file.
    /// </summary>
    /// <param name="path">Destination file; its directory must exist.</param>
    /// <param name="tensors">Tensors with distinct names (any order; written sorted by name).</param>
    /// <param name="metadata">Optional <c>__metadata__</c> strings.</param>
    /// <exception cref="ArgumentException">When names repeat, a name is <c>__metadata__</c>, or a string is not valid Unicode.</exception>
    public static void Write(string path, IEnumerable<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        Layout layout = Prepare(tensors, metadata);
        string fullPath = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(fullPath)
            ?? throw new ArgumentException($"'{path}' names a root, not a file.", nameof(path));
        string temporary = Path.Combine(directory, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                Emit(stream, layout);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, fullPath, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>Writes <paramref name="tensors"/> as a safetensors file to <paramref name="destination"/> (left open).</summary>
    /// <param name="destination">The stream to write to, from its current position.</param>
    /// <param name="tensors">Tensors with distinct names (any order; written sorted by name).</param>
    /// <param name="metadata">Optional <c>__metadata__</c> strings.</param>
    /// <exception cref="ArgumentException">When names repeat, a name is <c>__metadata__</c>, or a string is not valid Unicode.</exception>
    public static void Write(Stream destination, IEnumerable<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(destination);
        Emit(destination, Prepare(tensors, metadata));
    }

    /// <summary>Returns the safetensors bytes of <paramref name="tensors"/> (tests, small files).</summary>
    /// <param name="tensors">Tensors with distinct names (any order; written sorted by name).</param>
    /// <param name="metadata">Optional <c>__metadata__</c> strings.</param>
    public static byte[] ToBytes(IEnumerable<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var buffer = new MemoryStream();
        Write(buffer, tensors, metadata);
        return buffer.ToArray();
    }

    /// <summary>The padded header and the tensors in data order, all validated before any byte is written.</summary>
    private sealed record Layout(byte[] Header, IReadOnlyList<SafetensorsTensor> Tensors);

    private static Layout Prepare(IEnumerable<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var named = new List<(byte[] Utf8Name, SafetensorsTensor Tensor)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (SafetensorsTensor tensor in tensors)
        {
            ArgumentNullException.ThrowIfNull(tensor, nameof(tensors));
            if (tensor.Name == SafetensorsHeader.MetadataKey)
            {
                throw new ArgumentException($"'{SafetensorsHeader.MetadataKey}' is reserved and cannot name a tensor.", nameof(tensors));
            }

            if (!names.Add(tensor.Name))
            {
                throw new ArgumentException($"Tensor name '{tensor.Name}' appears twice.", nameof(tensors));
            }

            // Shape and Data are caller-owned arrays; re-check them in case the shape was edited after construction.
            if (!SafetensorsTensor.ShapeHolds(tensor.Shape, tensor.Data.Length))
            {
                throw new ArgumentException(
                    $"Tensor '{tensor.Name}': shape {tensor.ShapeText} does not hold its {tensor.Data.Length} values.", nameof(tensors));
            }

            named.Add((Utf8(tensor.Name, nameof(tensors)), tensor));
        }

        // Sorting UTF-8 bytes (not UTF-16 code units) matches the reference's Rust String ordering exactly.
        named.Sort((a, b) => a.Utf8Name.AsSpan().SequenceCompareTo(b.Utf8Name));
        var ordered = named.Select(n => n.Tensor).ToList();

        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, CompactJson))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(SafetensorsHeader.MetadataKey);
                foreach (var (key, value) in metadata.OrderBy(p => Utf8(p.Key, nameof(metadata)), ByteOrder.Instance))
                {
                    ArgumentNullException.ThrowIfNull(value, nameof(metadata));
                    Utf8(value, nameof(metadata));
                    json.WriteString(key, value);
                }

                json.WriteEndObject();
            }

            long offset = 0;
            foreach (SafetensorsTensor tensor in ordered)
            {
                long end = offset + ((long)tensor.Data.Length * sizeof(float));
                json.WriteStartObject(tensor.Name);
                json.WriteString("dtype", SafetensorsDTypeTable.WireName(SafetensorsDType.F32));
                json.WriteStartArray("shape");
                foreach (int d in tensor.Shape)
                {
                    json.WriteNumberValue(d);
                }

                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(end);
                json.WriteEndArray();
                json.WriteEndObject();
                offset = end;
            }

            json.WriteEndObject();
        }

        // Pad with spaces (legal JSON whitespace) to a multiple of 8, as the reference writer does.
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        byte[] header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return new Layout(header, ordered);
    }

    private static void Emit(Stream stream, Layout layout)
    {
        Span<byte> lengthField = stackalloc byte[sizeof(ulong)];
        BinaryPrimitives.WriteUInt64LittleEndian(lengthField, (ulong)layout.Header.Length);
        stream.Write(lengthField);
        stream.Write(layout.Header);
        foreach (SafetensorsTensor tensor in layout.Tensors)
        {
            if (BitConverter.IsLittleEndian)
            {
                stream.Write(MemoryMarshal.AsBytes(tensor.Data.AsSpan()));
                continue;
            }

            int[] chunk = new int[ChunkFloats];
            for (int start = 0; start < tensor.Data.Length; start += ChunkFloats)
            {
                int n = Math.Min(ChunkFloats, tensor.Data.Length - start);
                BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<float, int>(tensor.Data.AsSpan(start, n)), chunk.AsSpan(0, n));
                stream.Write(MemoryMarshal.AsBytes(chunk.AsSpan(0, n)));
            }
        }
    }

    private static byte[] Utf8(string text, string parameter)
    {
        ArgumentNullException.ThrowIfNull(text, parameter);
        try
        {
            return StrictUtf8.GetBytes(text);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException($"'{text}' is not valid Unicode (it has an unpaired surrogate).", parameter, e);
        }
    }

    private sealed class ByteOrder : IComparer<byte[]>
    {
        internal static readonly ByteOrder Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
