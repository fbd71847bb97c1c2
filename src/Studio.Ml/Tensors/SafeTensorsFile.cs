using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tensors;

/// <summary>One tensor's entry in a safetensors header: dtype, shape and its byte span in the data area.</summary>
public sealed record TensorEntry(string Name, ScalarType DType, long[] Shape, long Begin, long End)
{
    public long ByteLength => End - Begin;
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// Reads a .safetensors file: an 8-byte little-endian header length, a JSON header, then the data area.
/// The header is validated in full before any tensor is read. Tensors are read straight into their destination
/// memory (no intermediate managed copy), so loading holds one copy of the weights.
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    /// <summary>Headers above this size are refused (real checkpoints have headers of a few hundred KB).</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    readonly SafeFileHandle _handle;

    public string Path { get; }
    public long DataStart { get; }
    public long FileLength { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IReadOnlyDictionary<string, TensorEntry> Entries { get; }

    SafeTensorsFile(string path, SafeFileHandle handle, long dataStart, long fileLength,
        IReadOnlyDictionary<string, string> metadata, IReadOnlyDictionary<string, TensorEntry> entries)
    {
        Path = path; _handle = handle; DataStart = dataStart; FileLength = fileLength; Metadata = metadata; Entries = entries;
    }

    public static SafeTensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new SafeTensorsFormatException(path, "file not found");
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        try
        {
            var length = RandomAccess.GetLength(handle);
            if (length < 8) throw new SafeTensorsFormatException(path, $"truncated: {length} bytes, shorter than the 8-byte header length");
            Span<byte> lenBytes = stackalloc byte[8];
            RandomAccess.Read(handle, lenBytes, 0);
            var headerLength = BitConverter.ToUInt64(lenBytes);
            if (headerLength > MaxHeaderBytes)
                throw new SafeTensorsFormatException(path, $"header length {headerLength} exceeds the limit of {MaxHeaderBytes} bytes");
            if ((long)headerLength > length - 8)
                throw new SafeTensorsFormatException(path, $"header length {headerLength} runs past the end of the file ({length} bytes)");
            var header = new byte[headerLength];
            RandomAccess.Read(handle, header, 8);
            var dataStart = 8 + (long)headerLength;
            var (metadata, entries) = ParseHeader(path, header, length - dataStart);
            return new SafeTensorsFile(path, handle, dataStart, length, metadata, entries);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    static (Dictionary<string, string>, Dictionary<string, TensorEntry>) ParseHeader(string path, byte[] header, long dataLength)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(header); }
        catch (JsonException e) { throw new SafeTensorsFormatException(path, $"header is not valid JSON ({e.Message})"); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new SafeTensorsFormatException(path, "header is not a JSON object");

        var metadata = new Dictionary<string, string>();
        var entries = new Dictionary<string, TensorEntry>();
        foreach (var property in doc.RootElement.EnumerateObject())
        {
            if (property.Name == "__metadata__")
            {
                if (property.Value.ValueKind != JsonValueKind.Object)
                    throw new SafeTensorsFormatException(path, "__metadata__ is not an object");
                foreach (var m in property.Value.EnumerateObject())
                {
                    if (m.Value.ValueKind != JsonValueKind.String)
                        throw new SafeTensorsFormatException(path, $"__metadata__ value '{m.Name}' is not a string");
                    metadata[m.Name] = m.Value.GetString()!;
                }
                continue;
            }
            entries[property.Name] = ParseEntry(path, property.Name, property.Value, dataLength);
        }

        // Spans must not overlap (sorted by start, each must end before the next begins).
        var sorted = entries.Values.Where(e => e.ByteLength > 0).OrderBy(e => e.Begin).ToList();
        for (int i = 1; i < sorted.Count; i++)
            if (sorted[i].Begin < sorted[i - 1].End)
                throw new SafeTensorsFormatException(path,
                    $"tensors '{sorted[i - 1].Name}' [{sorted[i - 1].Begin}, {sorted[i - 1].End}) and '{sorted[i].Name}' [{sorted[i].Begin}, {sorted[i].End}) overlap");
        return (metadata, entries);
    }

    static TensorEntry ParseEntry(string path, string name, JsonElement e, long dataLength)
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw new SafeTensorsFormatException(path, $"tensor '{name}': entry is not an object");
        if (!e.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new SafeTensorsFormatException(path, $"tensor '{name}': missing dtype");
        var dtypeName = dtypeElement.GetString()!;
        if (!DType.TryParse(dtypeName, out var dtype))
            throw new SafeTensorsFormatException(path, $"tensor '{name}': unknown dtype '{dtypeName}'");
        if (!e.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw new SafeTensorsFormatException(path, $"tensor '{name}': missing shape");
        if (!e.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw new SafeTensorsFormatException(path, $"tensor '{name}': data_offsets must be [begin, end]");

        var shape = new long[shapeElement.GetArrayLength()];
        long elements = 1;
        int i = 0;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var dim) || dim < 0)
                throw new SafeTensorsFormatException(path, $"tensor '{name}': shape entry {i} is not a non-negative integer");
            shape[i++] = dim;
            // Guard the product: a huge declared shape must be refused, not overflow into a small number.
            if (dim != 0 && elements > dataLength / dim)
                throw new SafeTensorsFormatException(path, $"tensor '{name}': shape [{string.Join(", ", shape.Take(i))}...] declares more data than the file holds");
            elements *= dim;
        }
        if (!offsets[0].TryGetInt64(out var begin) || !offsets[1].TryGetInt64(out var end) || begin < 0 || end < begin)
            throw new SafeTensorsFormatException(path, $"tensor '{name}': invalid data_offsets");
        if (end > dataLength)
            throw new SafeTensorsFormatException(path, $"tensor '{name}': data_offsets [{begin}, {end}) run past the data area ({dataLength} bytes)");
        var expected = elements * DType.Size(dtype);
        if (end - begin != expected)
            throw new SafeTensorsFormatException(path,
                $"tensor '{name}': shape [{string.Join(", ", shape)}] x {dtypeName} is {expected} bytes but its span is {end - begin} bytes");
        return new TensorEntry(name, dtype, shape, begin, end);
    }

    public TensorEntry Entry(string name) =>
        Entries.TryGetValue(name, out var e) ? e : throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");

    /// <summary>Reads a tensor in its stored dtype.</summary>
    public Tensor Read(string name) => Read(Entry(name));

    /// <summary>Reads a tensor, converting to <paramref name="dtype"/> when it differs from the stored one.</summary>
    public Tensor Read(string name, ScalarType dtype)
    {
        var stored = Read(Entry(name));
        if (stored.dtype == dtype) return stored;
        using (stored) return stored.to_type(dtype);
    }

    public Tensor Read(TensorEntry entry)
    {
        var tensor = torch.empty(entry.Shape, entry.DType);
        ReadInto(entry, tensor);
        return tensor;
    }

    /// <summary>Reads the stored bytes straight into <paramref name="destination"/> (a contiguous CPU tensor of the stored dtype and shape).</summary>
    public unsafe void ReadInto(TensorEntry entry, Tensor destination)
    {
        if (destination.dtype != entry.DType || !destination.shape.SequenceEqual(entry.Shape) || !destination.is_contiguous() || destination.device_type != TorchSharp.DeviceType.CPU)
            throw new ArgumentException($"{Path}: destination for '{entry.Name}' must be a contiguous CPU {entry.DType} tensor of shape [{string.Join(", ", entry.Shape)}]");
        var pointer = TensorMemory.Pointer(destination);
        long done = 0;
        while (done < entry.ByteLength)
        {
            var chunk = (int)Math.Min(entry.ByteLength - done, 1 << 30);
            var read = RandomAccess.Read(_handle, new Span<byte>(pointer + done, chunk), DataStart + entry.Begin + done);
            if (read <= 0) throw new SafeTensorsFormatException(Path, $"tensor '{entry.Name}': file ended while reading");
            done += read;
        }
    }

    public void Dispose() => _handle.Dispose();
}
