using System.Security.Cryptography;
using System.Text;
using Studio.Ml.Tensors;
using static TorchSharp.torch;

namespace Studio.Ml.Distillation;

/// <summary>
/// On-disk cache of the teacher encoder's states. The states depend only on the prompt, so they are computed once per
/// (teacher weights, tokenizer, max length, prompt) and shared by every run: during training the teacher encoder is
/// never loaded. Storage: safetensors shards (one tensor [max_length, width] per prompt, named by its key), written
/// atomically, so concurrent fillers on several workers never corrupt each other.
/// </summary>
public sealed class TeacherEmbeddingCache : IDisposable
{
    readonly Dictionary<string, SafeTensorsFile> _shardOf = new();
    readonly List<SafeTensorsFile> _shards = [];
    readonly HashSet<string> _knownShardFiles = [];
    readonly object _gate = new();

    public string Directory { get; }
    public long Hits { get; private set; }
    public long Misses { get; private set; }

    public TeacherEmbeddingCache(string directory)
    {
        Directory = System.IO.Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(Directory);
        Refresh();
    }

    /// <summary>The cache key of one prompt's teacher states.</summary>
    public static string Key(string teacherFingerprint, string tokenizerId, int maxLength, string prompt)
    {
        var bytes = SHA256.HashData(Encoding.UTF8.GetBytes($"{teacherFingerprint}\n{tokenizerId}\n{maxLength}\n{prompt}"));
        return Convert.ToHexStringLower(bytes, 0, 20);
    }

    /// <summary>Picks up shards written since the last look (by this process or other workers).</summary>
    public void Refresh()
    {
        lock (_gate)
        {
            foreach (var path in System.IO.Directory.GetFiles(Directory, "shard-*.safetensors").Order(StringComparer.Ordinal))
            {
                if (!_knownShardFiles.Add(path)) continue;
                var shard = SafeTensorsFile.Open(path);
                _shards.Add(shard);
                foreach (var key in shard.Entries.Keys) _shardOf.TryAdd(key, shard);
            }
        }
    }

    public int Count { get { lock (_gate) return _shardOf.Count; } }

    public long BytesOnDisk { get { lock (_gate) return _shards.Sum(s => s.FileLength); } }

    public bool Contains(string key) { lock (_gate) return _shardOf.ContainsKey(key); }

    /// <summary>The cached states of <paramref name="key"/> as float32, or null (counted as a miss).</summary>
    public Tensor? TryGet(string key)
    {
        SafeTensorsFile? shard;
        lock (_gate)
        {
            if (!_shardOf.TryGetValue(key, out shard)) { Misses++; return null; }
            Hits++;
        }
        return shard.Read(key, ScalarType.Float32);
    }

    /// <summary>Writes one shard with the given states (stored in <paramref name="dtype"/>) and indexes it.</summary>
    public string AddShard(IReadOnlyDictionary<string, Tensor> states, ScalarType dtype, IReadOnlyDictionary<string, string> metadata)
    {
        var path = System.IO.Path.Combine(Directory, $"shard-{DateTime.UtcNow:yyyyMMddHHmmssfff}-{Guid.NewGuid():N}.safetensors");
        var converted = states.ToDictionary(kv => kv.Key, kv => kv.Value.to_type(dtype).contiguous());
        try
        {
            SafeTensorsWriter.Save(path, converted, metadata);
        }
        finally
        {
            foreach (var t in converted.Values) t.Dispose();
        }
        Refresh();
        return path;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var s in _shards) s.Dispose();
            _shards.Clear();
            _shardOf.Clear();
            _knownShardFiles.Clear();
        }
    }
}

/// <summary>A content fingerprint of a model folder's weights (SHA-256 over every safetensors file), memoised by size and time.</summary>
public static class ModelFingerprint
{
    public static string Of(string folder, string? memoDirectory = null)
    {
        var files = System.IO.Directory.GetFiles(folder, "*.safetensors", SearchOption.TopDirectoryOnly).Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new FileNotFoundException($"{folder}: no *.safetensors files to fingerprint");
        var stamp = string.Join("|", files.Select(f => $"{System.IO.Path.GetFileName(f)}:{new FileInfo(f).Length}:{File.GetLastWriteTimeUtc(f).Ticks}"));
        string? memo = null;
        if (memoDirectory is not null)
        {
            System.IO.Directory.CreateDirectory(memoDirectory);
            memo = System.IO.Path.Combine(memoDirectory, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(System.IO.Path.GetFullPath(folder)))) + ".fingerprint");
            if (File.Exists(memo) && File.ReadAllLines(memo) is [var s, var h] && s == stamp) return h;
        }
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        foreach (var f in files)
        {
            sha.AppendData(Encoding.UTF8.GetBytes(System.IO.Path.GetFileName(f)));
            using var stream = File.OpenRead(f);
            int read;
            while ((read = stream.Read(buffer)) > 0) sha.AppendData(buffer, 0, read);
        }
        var hash = Convert.ToHexStringLower(sha.GetHashAndReset());
        if (memo is not null) AtomicFile.WriteAllText(memo, stamp + "\n" + hash);
        return hash;
    }
}
