using System.Text.Json;
using System.Text.Unicode;

namespace JointDiffusion.Gpu.IO;

/// <summary>
/// A parsed and fully validated safetensors JSON header. Every rule is checked here, before the reader
/// allocates anything for tensor data, so an allocation is never sized by an unchecked number.
/// </summary>
internal sealed class SafetensorsHeader
{
    /// <summary>The reserved key of the optional string→string metadata object.</summary>
    internal const string MetadataKey = "__metadata__";

    private static readonly JsonDocumentOptions StrictJson = new()
    {
        AllowTrailingCommas = false,
        CommentHandling = JsonCommentHandling.Disallow,
        MaxDepth = 16,
    };

    private SafetensorsHeader(IReadOnlyDictionary<string, string> metadata, IReadOnlyList<SafetensorsHeaderEntry> entries)
    {
        Metadata = metadata;
        Entries = entries;
    }

    /// <summary>The <c>__metadata__</c> strings (empty when absent or null).</summary>
    internal IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensor entries sorted by data offset; they tile the data section exactly.</summary>
    internal IReadOnlyList<SafetensorsHeaderEntry> Entries { get; }

    /// <summary>Parses <paramref name="header"/> and checks it against a data section of <paramref name="dataLength"/> bytes.</summary>
    /// <exception cref="SafetensorsFormatException">On any violation of the format.</exception>
    internal static SafetensorsHeader Parse(byte[] header, long dataLength, string source)
    {
        // Every writer emits '{' first (no BOM, no leading space); checking it gives a plainer message than a JSON error.
        if (header.Length == 0 || header[0] != (byte)'{')
        {
            string first = header.Length == 0 ? "it is empty" : $"its first byte is 0x{header[0]:X2}";
            throw new SafetensorsFormatException(source, null, $"header is not a JSON object: {first}, not '{{'");
        }

        if (!Utf8.IsValid(header))
        {
            throw new SafetensorsFormatException(source, null, "header is not valid UTF-8");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, StrictJson);
        }
        catch (JsonException e)
        {
            throw new SafetensorsFormatException(source, null, $"header is not valid JSON: {e.Message}", e);
        }

        using (document)
        {
            EnsureStringsDecode(header, source);
            return FromRoot(document.RootElement, dataLength, source);
        }
    }

    /// <summary>
    /// Valid UTF-8 JSON may still escape an unpaired surrogate (<c>"\ud800"</c>), which System.Text.Json only
    /// rejects, with an InvalidOperationException, when the string is read. Decode every escaped string once here.
    /// </summary>
    private static void EnsureStringsDecode(byte[] header, string source)
    {
        var reader = new Utf8JsonReader(header, new JsonReaderOptions { MaxDepth = StrictJson.MaxDepth });
        while (reader.Read())
        {
            if ((reader.TokenType is JsonTokenType.PropertyName or JsonTokenType.String) && reader.ValueIsEscaped)
            {
                try
                {
                    reader.GetString();
                }
                catch (InvalidOperationException e)
                {
                    throw new SafetensorsFormatException(source, null,
                        $"header has a string with an invalid \\u escape at byte {reader.TokenStartIndex}: {e.Message}", e);
                }
            }
        }
    }

    private static SafetensorsHeader FromRoot(JsonElement root, long dataLength, string source)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new SafetensorsFormatException(source, null, $"header is a JSON {root.ValueKind}, not an object");
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<SafetensorsHeaderEntry>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty property in root.EnumerateObject())
        {
            // JsonDocument keeps duplicate keys, and a last-wins parser would silently drop a tensor: refuse them.
            if (!seen.Add(property.Name))
            {
                throw property.Name == MetadataKey
                    ? new SafetensorsFormatException(source, null, $"header has two '{MetadataKey}' entries")
                    : new SafetensorsFormatException(source, property.Name, "appears twice in the header");
            }

            if (property.Name == MetadataKey)
            {
                ReadMetadata(property.Value, metadata, source);
            }
            else
            {
                entries.Add(ReadEntry(property.Name, property.Value, dataLength, source));
            }
        }

        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        CheckTiling(entries, dataLength, source);
        return new SafetensorsHeader(metadata, entries);
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string source)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new SafetensorsFormatException(source, null, $"'{MetadataKey}' is a JSON {value.ValueKind}, not an object of strings");
        }

        foreach (JsonProperty item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
            {
                throw new SafetensorsFormatException(source, null,
                    $"'{MetadataKey}' value '{item.Name}' is a JSON {item.Value.ValueKind}, not a string");
            }

            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
            {
                throw new SafetensorsFormatException(source, null, $"'{MetadataKey}' has key '{item.Name}' twice");
            }
        }
    }

    private static SafetensorsHeaderEntry ReadEntry(string name, JsonElement value, long dataLength, string source)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new SafetensorsFormatException(source, name, $"entry is a JSON {value.ValueKind}, not an object with dtype, shape and data_offsets");
        }

        JsonElement? dtypeElement = null, shapeElement = null, offsetsElement = null;
        foreach (JsonProperty field in value.EnumerateObject())
        {
            switch (field.Name)
            {
                case "dtype":
                    dtypeElement = FirstOccurrence(dtypeElement, field, name, source);
                    break;
                case "shape":
                    shapeElement = FirstOccurrence(shapeElement, field, name, source);
                    break;
                case "data_offsets":
                    offsetsElement = FirstOccurrence(offsetsElement, field, name, source);
                    break;
                default:
                    throw new SafetensorsFormatException(source, name,
                        $"has unknown field '{field.Name}' (expected dtype, shape, data_offsets)");
            }
        }

        SafetensorsDType dtype = ReadDType(name, dtypeElement, source);
        int[] shape = ReadShape(name, shapeElement, source);
        (long begin, long end) = ReadOffsets(name, offsetsElement, dataLength, source);
        string shapeText = SafetensorsTensor.FormatShape(shape);

        // Element and byte counts in checked 64-bit arithmetic: a shape like [2^31-1, 2^31-1, 2^31-1]
        // must be refused, not wrapped into a small number that happens to match the offsets.
        long count = 1;
        foreach (int d in shape)
        {
            if (d != 0 && count > long.MaxValue / d)
            {
                throw new SafetensorsFormatException(source, name, $"has shape {shapeText}, whose element count overflows 64 bits");
            }

            count *= d;
        }

        int size = SafetensorsDTypeTable.ByteSize(dtype);
        string wire = SafetensorsDTypeTable.WireName(dtype);
        if (count > long.MaxValue / size)
        {
            throw new SafetensorsFormatException(source, name, $"has shape {shapeText} of {wire}, whose byte count overflows 64 bits");
        }

        long bytes = count * size;
        if (end - begin != bytes)
        {
            throw new SafetensorsFormatException(source, name,
                $"has shape {shapeText} ({count} values of {wire} = {bytes} bytes) but data_offsets [{begin}, {end}] span {end - begin} bytes");
        }

        if (SafetensorsDTypeTable.DecodesToFloat32(dtype) && count > Array.MaxLength)
        {
            throw new SafetensorsFormatException(source, name,
                $"has {count} values, more than a float32 array can hold ({Array.MaxLength})");
        }

        return new SafetensorsHeaderEntry(name, dtype, shape, count, begin, end);
    }

    /// <summary>The JSON text of <paramref name="element"/> for a message, cut short so a hostile header cannot bloat it.</summary>
    private static string Excerpt(JsonElement element)
    {
        const int MaxChars = 64;
        string text = element.GetRawText();
        return text.Length <= MaxChars ? text : string.Concat(text.AsSpan(0, MaxChars), "...");
    }

    private static JsonElement FirstOccurrence(JsonElement? earlier, JsonProperty field, string name, string source) =>
        earlier.HasValue
            ? throw new SafetensorsFormatException(source, name, $"has field '{field.Name}' twice")
            : field.Value;

    private static SafetensorsDType ReadDType(string name, JsonElement? element, string source)
    {
        if (element is not { } e)
        {
            throw new SafetensorsFormatException(source, name, "has no 'dtype'");
        }

        if (e.ValueKind != JsonValueKind.String)
        {
            throw new SafetensorsFormatException(source, name, $"has a 'dtype' that is a JSON {e.ValueKind}, not a string");
        }

        string text = e.GetString()!;
        if (!SafetensorsDTypeTable.TryParse(text, out SafetensorsDType dtype))
        {
            throw new SafetensorsFormatException(source, name,
                $"has unknown dtype '{text}' (known: {SafetensorsDTypeTable.KnownNames})");
        }

        return dtype;
    }

    private static int[] ReadShape(string name, JsonElement? element, string source)
    {
        if (element is not { } e)
        {
            throw new SafetensorsFormatException(source, name, "has no 'shape'");
        }

        if (e.ValueKind != JsonValueKind.Array)
        {
            throw new SafetensorsFormatException(source, name, $"has a 'shape' that is a JSON {e.ValueKind}, not an array");
        }

        var shape = new int[e.GetArrayLength()];
        int axis = 0;
        foreach (JsonElement dim in e.EnumerateArray())
        {
            // Dimensions must fit an int: the library's shapes and float arrays are int-indexed.
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long d) || d < 0 || d > int.MaxValue)
            {
                throw new SafetensorsFormatException(source, name,
                    $"has shape dimension {axis} = {Excerpt(dim)}, not an integer in [0, {int.MaxValue}]");
            }

            shape[axis++] = (int)d;
        }

        return shape;
    }

    private static (long Begin, long End) ReadOffsets(string name, JsonElement? element, long dataLength, string source)
    {
        if (element is not { } e)
        {
            throw new SafetensorsFormatException(source, name, "has no 'data_offsets'");
        }

        if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() != 2)
        {
            throw new SafetensorsFormatException(source, name, $"has 'data_offsets' {Excerpt(e)}, not a pair [begin, end]");
        }

        var pair = new long[2];
        int i = 0;
        foreach (JsonElement offset in e.EnumerateArray())
        {
            if (offset.ValueKind != JsonValueKind.Number || !offset.TryGetInt64(out pair[i]) || pair[i] < 0)
            {
                throw new SafetensorsFormatException(source, name,
                    $"has 'data_offsets' {Excerpt(e)}, whose entries must be non-negative 64-bit integers");
            }

            i++;
        }

        (long begin, long end) = (pair[0], pair[1]);
        if (begin > end)
        {
            throw new SafetensorsFormatException(source, name, $"has data_offsets [{begin}, {end}] with begin > end");
        }

        if (end > dataLength)
        {
            throw new SafetensorsFormatException(source, name,
                $"has data_offsets [{begin}, {end}] past the end of the data section ({dataLength} bytes)");
        }

        return (begin, end);
    }

    /// <summary>
    /// The tensors, sorted by offset, must cover the data section with no overlap, no gap and no trailing bytes:
    /// the reference implementation refuses any other layout, so accepting one here would only defer the error.
    /// </summary>
    private static void CheckTiling(List<SafetensorsHeaderEntry> entries, long dataLength, string source)
    {
        long expected = 0;
        string? previous = null;
        foreach (SafetensorsHeaderEntry entry in entries)
        {
            if (entry.Begin < expected)
            {
                throw new SafetensorsFormatException(source, entry.Name,
                    $"has data_offsets [{entry.Begin}, {entry.End}] overlapping tensor '{previous}', which ends at {expected}");
            }

            if (entry.Begin > expected)
            {
                throw new SafetensorsFormatException(source, entry.Name,
                    $"has data_offsets [{entry.Begin}, {entry.End}], leaving bytes [{expected}, {entry.Begin}) of the data section unused");
            }

            expected = entry.End;
            previous = entry.Name;
        }

        if (expected != dataLength)
        {
            throw new SafetensorsFormatException(source, null,
                $"data section has {dataLength} bytes but the tensors cover only {expected}; the last {dataLength - expected} bytes belong to no tensor");
        }
    }
}
