using static TorchSharp.torch;

namespace Studio.Ml.Distillation;

/// <summary>
/// Teacher conditioning read from the embedding cache. Every prompt a run uses is put in the cache before training
/// (<see cref="Fill"/>), so during training the teacher encoder is never loaded.
/// </summary>
public sealed class CachedTeacher(TeacherEmbeddingCache cache, string teacherFingerprint, string tokenizerId, int maxLength)
    : ITeacherConditioning
{
    public string Key(string prompt) => TeacherEmbeddingCache.Key(teacherFingerprint, tokenizerId, maxLength, prompt);

    public Tensor States(IReadOnlyList<string> prompts)
    {
        var rows = new List<Tensor>(prompts.Count);
        try
        {
            foreach (var prompt in prompts)
                rows.Add(cache.TryGet(Key(prompt)) ?? throw new InvalidOperationException(
                    $"teacher-embedding cache {cache.Directory} has no entry for prompt \"{prompt}\" (fill the cache first: studio cache fill)"));
            return stack(rows);
        }
        finally
        {
            foreach (var r in rows) r.Dispose();
        }
    }

    /// <summary>FLUX keeps no text states beside the T5 slot's.</summary>
    public Tensor? Kept(IReadOnlyList<string> prompts) => null;

    public Tensor Pooled(IReadOnlyList<string> prompts) =>
        throw new NotSupportedException("the pooled CLIP vector is not cached; set text.zero_pooled: true (the paper's setting)");

    /// <summary>Progress of a fill: prompts done of total, cache hits, prompts encoded.</summary>
    public sealed record FillProgress(int Done, int Total, int Hits, int Encoded);

    /// <summary>
    /// The distinct prompts of slice <paramref name="shard"/> of <paramref name="shards"/>: by the first 8 bytes of each
    /// prompt's SHA-256, so every process slices alike and the slices are even (FNV-1a, used before, is the hash the toy
    /// world splits by: every held-out toy prompt, its hash divisible by 10, fell in slice 0 of 2).
    /// </summary>
    public static List<string> Slice(IReadOnlyList<string> prompts, int shard, int shards)
    {
        if (shards < 1 || shard < 0 || shard >= shards) throw new ArgumentException($"shard {shard}/{shards} is not a valid slice");
        return prompts.Distinct().Where(p => shards == 1 || (int)(SliceHash(p) % (ulong)shards) == shard).ToList();
    }

    static ulong SliceHash(string prompt) =>
        System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(prompt)));

    /// <summary>
    /// Encodes the prompts the cache lacks (the slice <paramref name="shard"/> of <paramref name="shards"/> when the fill
    /// is split over workers) and writes them as shards of at most <paramref name="shardSize"/> prompts.
    /// </summary>
    public FillProgress Fill(IReadOnlyList<string> prompts, Func<IReadOnlyList<string>, Tensor> encode, ScalarType storeAs,
        int batchSize = 8, int shard = 0, int shards = 1, int shardSize = 1024, Action<FillProgress>? progress = null,
        CancellationToken cancel = default)
    {
        var mine = Slice(prompts, shard, shards);
        var missing = mine.Where(p => !cache.Contains(Key(p))).ToList();
        int hits = mine.Count - missing.Count, encoded = 0;
        var pending = new Dictionary<string, Tensor>();
        var metadata = new Dictionary<string, string>
        {
            ["teacher"] = teacherFingerprint, ["tokenizer"] = tokenizerId, ["max_length"] = maxLength.ToString(),
        };
        progress?.Invoke(new FillProgress(hits, mine.Count, hits, 0));
        try
        {
            for (int i = 0; i < missing.Count && !cancel.IsCancellationRequested; i += batchSize)
            {
                var batch = missing.Skip(i).Take(batchSize).ToList();
                using var states = encode(batch);
                for (int b = 0; b < batch.Count; b++) pending[Key(batch[b])] = states[b].clone();
                encoded += batch.Count;
                if (pending.Count >= shardSize) Flush();
                progress?.Invoke(new FillProgress(hits + encoded, mine.Count, hits, encoded));
            }
            Flush();
        }
        finally
        {
            foreach (var t in pending.Values) t.Dispose();
        }
        return new FillProgress(hits + encoded, mine.Count, hits, encoded);

        void Flush()
        {
            if (pending.Count == 0) return;
            cache.AddShard(pending, storeAs, metadata);
            foreach (var t in pending.Values) t.Dispose();
            pending.Clear();
        }
    }
}

/// <summary>
/// An SD3 teacher's conditioning from the embedding cache: the T5 slot's states (text_encoder_3), and what SD3 keeps
/// beside them, both CLIPs' penultimate states joined along the width and their projected pooled vectors joined, each
/// cached under the CLIP encoders' own fingerprint.
/// </summary>
public sealed class CachedSd3Teacher(CachedTeacher t5, CachedTeacher clipStates, CachedTeacher clipPooled) : ITeacherConditioning
{
    public Tensor States(IReadOnlyList<string> prompts) => t5.States(prompts);
    public Tensor? Kept(IReadOnlyList<string> prompts) => clipStates.States(prompts);
    public Tensor Pooled(IReadOnlyList<string> prompts) => clipPooled.States(prompts);
}
