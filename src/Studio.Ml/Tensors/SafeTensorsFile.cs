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
/// The header is validated in full before any tensor is read, with the rules of the reference reader: a bounded
/// header length inside the file, a JSON object, unique names, known dtypes, shape x dtype size equal to each span, and
/// spans that tile the data area exactly (in order, no gap, no overlap, nothing after the last one).
/// </summary>
/// <remarks>
/// <see cref="Read(TensorEntry)"/> returns copy-on-write views of one private, read-only-until-written mapping of the
/// file (`torch.from_file`, MAP_PRIVATE), populated from the page cache in one call per tensor: no new memory is
/// allocated, so a load costs about a plain read and grows peak RSS by the file size (docs/MODELS.md, "Loading checkpoints").
/// A view writes to its own pages, never to the file. <see cref="ReadInto"/> reads with positioned reads straight into
/// existing storage (how <see cref="ModuleLoader"/> fills a module's parameters in place). Files are replaced by
/// rename (<see cref="AtomicFile"/>), never truncated in place, so a mapping stays valid while views live.
/// </remarks>
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
            if (headerLength == 0 || header[0] != (byte)'{')
                throw new SafeTensorsFormatException(path, "header does not start with '{' (not a safetensors file, or a wrong header length)");
            // JsonDocument checks UTF-8 only when a string is read; check it all before trusting any of it.
            if (!System.Text.Unicode.Utf8.IsValid(header))
                throw new SafeTensorsFormatException(path, "header is not valid UTF-8");
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
            if (entries.ContainsKey(property.Name))
                throw new SafeTensorsFormatException(path, $"tensor '{property.Name}' is declared twice");
            entries[property.Name] = ParseEntry(path, property.Name, property.Value, dataLength);
        }

        // The spans tile the data area, as the reference reader requires: in order of their start, each begins where
        // the previous one ended, and the last one ends at the end of the file.
        long end = 0;
        TensorEntry? previous = null;
        foreach (var e in entries.Values.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (e.Begin < end)
                throw new SafeTensorsFormatException(path,
                    $"tensors '{previous!.Name}' [{previous.Begin}, {previous.End}) and '{e.Name}' [{e.Begin}, {e.End}) overlap");
            if (e.Begin > end)
                throw new SafeTensorsFormatException(path, $"tensor '{e.Name}' starts at {e.Begin}, leaving a gap of {e.Begin - end} bytes after {(previous is null ? "the header" : $"'{previous.Name}'")}");
            end = e.End;
            previous = e;
        }
        if (end != dataLength)
            throw new SafeTensorsFormatException(path, $"{dataLength - end} bytes after the last tensor belong to no tensor");
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
        bool overflow = false;
        int i = 0;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var dim) || dim < 0)
                throw new SafeTensorsFormatException(path, $"tensor '{name}': shape entry {i} is not a non-negative integer");
            shape[i++] = dim;
            // Guard the product: a huge declared shape must be refused, not overflow into a small number.
            if (dim != 0 && elements > long.MaxValue / dim) overflow = true;
            else elements *= dim;
        }
        if (offsets[0].ValueKind != JsonValueKind.Number || offsets[1].ValueKind != JsonValueKind.Number ||
            !offsets[0].TryGetInt64(out var begin) || !offsets[1].TryGetInt64(out var end) || begin < 0 || end < begin)
            throw new SafeTensorsFormatException(path, $"tensor '{name}': data_offsets {offsets.GetRawText()} are not two integers 0 <= begin <= end");
        // The span first: a file cut short is "past the end", whatever its shapes declare.
        if (end > dataLength)
            throw new SafeTensorsFormatException(path, $"tensor '{name}': data_offsets [{begin}, {end}) run past the end of the file (data area {dataLength} bytes; truncated?)");
        if (overflow || elements > long.MaxValue / DType.Size(dtype))
            throw new SafeTensorsFormatException(path,
                $"tensor '{name}': shape [{string.Join(", ", shape)}] x {dtypeName} declares more data than the file holds (more than 2^63 bytes)");
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
        if (Map(entry) is { } view) return view;
        var tensor = torch.empty(entry.Shape, entry.DType);
        TensorMemory.Prefault(tensor);
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

    /// <summary>Whole-file private mappings, one per element type (a tensor's view must start on a whole element).</summary>
    readonly Dictionary<ScalarType, Tensor> _mappings = [];

    /// <summary>A view of the tensor in a private mapping of the file, or null where the file's layout does not allow one.</summary>
    Tensor? Map(TensorEntry entry)
    {
        var size = DType.Size(entry.DType);
        var start = DataStart + entry.Begin;
        if (entry.ByteLength == 0 || start % size != 0) return null;
        Tensor mapping;
        lock (_mappings)
            if (!_mappings.TryGetValue(entry.DType, out mapping!))
                // Owned by this file, not by a dispose scope the caller may have open.
                _mappings[entry.DType] = mapping = torch.from_file(Path, shared: false, size: FileLength / size, dtype: entry.DType).DetachFromDisposeScope();
        using var flat = mapping.narrow(0, start / size, entry.ElementCount);
        var view = flat.view(entry.Shape);
        TensorMemory.Populate(view);
        return view;
    }

    public void Dispose()
    {
        // Views keep their mapping alive; the file handle is not needed by them.
        foreach (var mapping in _mappings.Values) mapping.Dispose();
        _handle.Dispose();
    }
}
