using System.Diagnostics;
using System.Security.Cryptography;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Benchmarks;

/// <summary>
/// Loading a safetensors checkpoint (validate, then read every tensor, all held at once) against a plain sequential
/// read of the same file, with the peak resident-memory growth of the load.
/// The file is read once first so every timing starts from a warm page cache. Also timed: allocating and touching
/// fresh memory of the same sizes, what a reader that copies into new tensors pays (on some virtual machines it
/// dominates: see docs/MODELS.md).
/// </summary>
public static class LoadBenchmark
{
    public sealed record Result(
        string File, long FileBytes, int Tensors,
        double LoadSeconds, double PlainReadSeconds, double FirstTouchSeconds,
        long PeakRssGrowthBytes, bool PeakWasReset)
    {
        public double RssGrowthRatio => (double)PeakRssGrowthBytes / FileBytes;
        public double LoadOverPlainRead => LoadSeconds / PlainReadSeconds;
    }

    public static Result Run(string path)
    {
        TorchRuntime.Initialise();
        List<TensorEntry> entries;
        using (var checkpoint = Checkpoint.Open(path)) entries = checkpoint.Names.Select(checkpoint.Entry).ToList();
        var fileBytes = new FileInfo(path).Length;

        PlainRead(path);   // warm the page cache
        var plain = Time(() => PlainRead(path));

        // The load: the only large allocation between the baseline and the peak.
        GC.Collect();
        var peakWasReset = ProcessMemory.TryResetPeak();
        var baseline = ProcessMemory.Read("VmRSS");
        var loaded = new List<Tensor>();
        var load = Time(() =>
        {
            using var checkpoint = Checkpoint.Open(path);
            foreach (var name in checkpoint.Names) loaded.Add(checkpoint.Read(name));
        });
        var growth = ProcessMemory.Read("VmHWM") - baseline;
        Release(loaded);

        // The same allocations, made as the reader makes them and written once, held like the load holds them
        // (freeing early would let the allocator hand the same, already touched, memory back).
        var fresh = new List<Tensor>();
        var firstTouch = Time(() =>
        {
            foreach (var e in entries)
            {
                var t = torch.empty(e.Shape, e.DType);
                TensorMemory.Prefault(t);
                fresh.Add(t.zero_());
            }
        });
        Release(fresh);
        return new Result(path, fileBytes, entries.Count, load, plain, firstTouch, growth, peakWasReset);
    }

    static void Release(List<Tensor> tensors)
    {
        foreach (var t in tensors) t.Dispose();
        tensors.Clear();
    }

    static double Time(Action action)
    {
        var watch = Stopwatch.StartNew();
        action();
        return watch.Elapsed.TotalSeconds;
    }

    static void PlainRead(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        var buffer = new byte[16 << 20];
        for (long offset = 0; ;)
        {
            var read = RandomAccess.Read(handle, buffer, offset);
            if (read == 0) return;
            offset += read;
        }
    }

    /// <summary>
    /// Writes a safetensors file of about <paramref name="megabytes"/> MB: float32 tensors of 64 MB (the last one
    /// smaller) filled with random bytes, streamed so making it holds no copy in memory.
    /// </summary>
    public static void WriteRandomFile(string path, int megabytes)
    {
        if (megabytes < 1) throw new ArgumentOutOfRangeException(nameof(megabytes), megabytes, "at least 1 MB");
        const long rowBytes = 4 * 1024;
        var layout = new List<TensorLayout>();
        for (long left = megabytes * (1L << 20), i = 0; left > 0; i++)
        {
            var bytes = Math.Min(left, 64L << 20);
            layout.Add(new TensorLayout($"weight_{i}", ScalarType.Float32, [bytes / rowBytes, rowBytes / 4]));
            left -= bytes;
        }
        AtomicFile.Write(path, stream =>
        {
            stream.Write(SafeTensorsWriter.Header(layout));
            var buffer = new byte[1 << 20];
            foreach (var t in layout)
            {
                for (long done = 0; done < t.ByteLength; done += buffer.Length)
                {
                    RandomNumberGenerator.Fill(buffer);
                    stream.Write(buffer, 0, (int)Math.Min(buffer.Length, t.ByteLength - done));
                }
            }
        });
    }
}

/// <summary>This process's resident memory from /proc/self/status (Linux).</summary>
public static class ProcessMemory
{
    /// <summary>A /proc/self/status field in bytes: VmRSS (resident now) or VmHWM (peak resident).</summary>
    public static long Read(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0]) * 1024;
        throw new InvalidOperationException($"/proc/self/status has no {field} (not Linux?)");
    }

    /// <summary>Resets VmHWM to the current RSS (writing 5 to /proc/self/clear_refs); false where that is not allowed.</summary>
    public static bool TryResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }
}
