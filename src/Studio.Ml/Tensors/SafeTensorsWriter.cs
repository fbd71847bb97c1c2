using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace Studio.Ml.Tensors;

/// <summary>Where one tensor goes in a safetensors file: its name, dtype and shape (its bytes follow the previous tensor's).</summary>
public sealed record TensorLayout(string Name, ScalarType DType, long[] Shape)
{
    public long ByteLength => Shape.Aggregate(1L, (a, b) => a * b) * Tensors.DType.Size(DType);
}

/// <summary>Writes .safetensors files atomically: a temporary file in the same folder, flushed, then renamed.</summary>
public static class SafeTensorsWriter
{
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = Header(list.Select(t => new TensorLayout(t.Key, t.Value.dtype, t.Value.shape)), metadata);
        AtomicFile.Write(path, stream =>
        {
            stream.Write(header);
            foreach (var (_, t) in list) WriteTensorBytes(stream, t);
        });
    }

    /// <summary>
    /// The start of a safetensors file for tensors stored in this order: the 8-byte header length, then the JSON header
    /// padded with spaces so the data area starts 8-byte aligned (as the reference writer does).
    /// </summary>
    public static byte[] Header(IEnumerable<TensorLayout> layout, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new Dictionary<string, object>();
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var t in layout)
        {
            if (t.Name == "__metadata__" || header.ContainsKey(t.Name))
                throw new ArgumentException($"tensor name '{t.Name}' is used twice or reserved", nameof(layout));
            header[t.Name] = new { dtype = DType.Name(t.DType), shape = t.Shape, data_offsets = new[] { offset, offset + t.ByteLength } };
            offset += t.ByteLength;
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        var padded = (json.Length + 7) / 8 * 8;
        var bytes = new byte[8 + padded];
        BitConverter.GetBytes((ulong)padded).CopyTo(bytes, 0);
        json.CopyTo(bytes, 8);
        bytes.AsSpan(8 + json.Length).Fill((byte)' ');
        return bytes;
    }

    static unsafe void WriteTensorBytes(Stream stream, Tensor t)
    {
        using var cpu = t.device_type == TorchSharp.DeviceType.CPU ? t.alias() : t.cpu();
        using var contiguous = cpu.contiguous();
        var length = contiguous.NumberOfElements * DType.Size(contiguous.dtype);
        var pointer = TensorMemory.Pointer(contiguous);
        for (long done = 0; done < length;)
        {
            var chunk = (int)Math.Min(length - done, 1 << 30);
            stream.Write(new ReadOnlySpan<byte>(pointer + done, chunk));
            done += chunk;
        }
    }
}

/// <summary>Atomic file replacement: write to a temporary file beside the target, flush to disk, rename over it.</summary>
public static class AtomicFile
{
    /// <summary>
    /// The file that stands where <paramref name="folder"/> or a folder above it must be, or null: a folder cannot be
    /// made there (say so, naming the file, before any work).
    /// </summary>
    public static string? FileInTheWay(string folder)
    {
        for (var p = System.IO.Path.GetFullPath(folder); !string.IsNullOrEmpty(p); p = System.IO.Path.GetDirectoryName(p))
            if (File.Exists(p)) return p;
        return null;
    }

    /// <summary>
    /// Why a file cannot be written at <paramref name="path"/>, or null: a folder stands there, or a file where one of
    /// its folders must be. <see cref="Write"/> refuses those; a command that computes before it writes asks first.
    /// </summary>
    public static string? Problem(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (Directory.Exists(full)) return $"{full}: a folder, not a file";
        return FileInTheWay(System.IO.Path.GetDirectoryName(full)!) is { } file ? $"{full}: {file} is a file, not a folder" : null;
    }

    /// <summary><see cref="Problem"/> for an option's file, before any work: "--report /x/r.json: a folder, not a file".</summary>
    public static void CheckOption(string option, string? path)
    {
        if (path is not null && Problem(path) is { } problem) throw new ArgumentException($"{option} {problem}");
    }

    public static void Write(string path, Action<Stream> write)
    {
        var full = System.IO.Path.GetFullPath(path);
        var dir = System.IO.Path.GetDirectoryName(full)!;
        if (Problem(full) is { } problem) throw new IOException(problem);
        Directory.CreateDirectory(dir);
        var temp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { }
            throw;
        }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, s => s.Write(Encoding.UTF8.GetBytes(text)));
}
