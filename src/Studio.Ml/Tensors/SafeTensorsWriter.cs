using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace Studio.Ml.Tensors;

/// <summary>Writes .safetensors files atomically: a temporary file in the same folder, flushed, then renamed.</summary>
public static class SafeTensorsWriter
{
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = new Dictionary<string, object>();
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var (name, t) in list)
        {
            var bytes = t.NumberOfElements * DType.Size(t.dtype);
            header[name] = new { dtype = DType.Name(t.dtype), shape = t.shape, data_offsets = new[] { offset, offset + bytes } };
            offset += bytes;
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        // Pad the header with spaces so the data area starts 8-byte aligned (as the reference writer does).
        var padded = (json.Length + 7) / 8 * 8;
        var headerBytes = new byte[padded];
        json.CopyTo(headerBytes, 0);
        for (int i = json.Length; i < padded; i++) headerBytes[i] = (byte)' ';

        AtomicFile.Write(path, stream =>
        {
            stream.Write(BitConverter.GetBytes((ulong)padded));
            stream.Write(headerBytes);
            foreach (var (_, t) in list) WriteTensorBytes(stream, t);
        });
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
    public static void Write(string path, Action<Stream> write)
    {
        var full = System.IO.Path.GetFullPath(path);
        var dir = System.IO.Path.GetDirectoryName(full)!;
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
