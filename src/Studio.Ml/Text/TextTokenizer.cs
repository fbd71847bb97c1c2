using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Text;

/// <summary>Token ids of one text and the attention mask (1 for real tokens, 0 for padding).</summary>
public sealed record TokenizedText(int[] Ids, int[] AttentionMask)
{
    public int Length => Ids.Length;

    /// <summary>Stacks equally long (padded) texts into int64 `input_ids` and `attention_mask` tensors [batch, length].</summary>
    public static (Tensor InputIds, Tensor AttentionMask) Stack(IReadOnlyList<TokenizedText> batch)
    {
        if (batch.Count == 0) throw new ArgumentException("empty batch", nameof(batch));
        var length = batch[0].Length;
        if (batch.Any(t => t.Length != length))
            throw new ArgumentException($"texts have different lengths ({string.Join(", ", batch.Select(t => t.Length).Distinct())}); pad them to one length");
        var ids = batch.SelectMany(t => t.Ids.Select(i => (long)i)).ToArray();
        var mask = batch.SelectMany(t => t.AttentionMask.Select(i => (long)i)).ToArray();
        return (torch.tensor(ids, [batch.Count, length]), torch.tensor(mask, [batch.Count, length]));
    }
}

/// <summary>
/// A text tokenizer of a diffusion model's text encoder: the T5 SentencePiece unigram (<see cref="T5Tokenizer"/>) or
/// CLIP's byte-level BPE (<see cref="ClipTokenizer"/>). Both put special tokens around the text's own tokens
/// (T5: text + `&lt;/s&gt;`; CLIP: BOS + text + EOS) and truncate the way Hugging Face does: the text's tokens are cut so
/// the special tokens still fit, so a truncated sequence still ends with its end-of-sequence token.
/// </summary>
public abstract class TextTokenizer
{
    /// <summary>"t5" or "clip".</summary>
    public abstract string Kind { get; }

    /// <summary>The folder the tokenizer files were read from.</summary>
    public abstract string Source { get; }

    public abstract int PadId { get; }

    /// <summary>One more than the largest id this tokenizer can give: a text encoder's vocab_size must be at least this.</summary>
    public abstract int IdCount { get; }

    /// <summary>Special ids before the text's tokens (CLIP's BOS; none for T5).</summary>
    protected abstract int[] Prefix { get; }

    /// <summary>Special ids after the text's tokens (the end-of-sequence id).</summary>
    protected abstract int[] Suffix { get; }

    /// <summary>The text's own token ids, without special tokens around them.</summary>
    protected abstract List<int> EncodeText(string text);

    /// <summary>The ids of <paramref name="text"/> with its special tokens; no truncation, no padding.</summary>
    public int[] Encode(string text) => [.. Prefix, .. EncodeText(text), .. Suffix];

    /// <summary>
    /// The ids of <paramref name="text"/> truncated to <paramref name="maxLength"/> (keeping the special tokens) and,
    /// when <paramref name="pad"/> is set, padded to exactly <paramref name="maxLength"/> with <see cref="PadId"/>.
    /// </summary>
    public TokenizedText Encode(string text, int? maxLength, bool pad = true)
    {
        var content = EncodeText(text);
        var specials = Prefix.Length + Suffix.Length;
        if (maxLength is { } max)
        {
            if (max < specials)
                throw new ArgumentOutOfRangeException(nameof(maxLength), max, $"a {Kind} sequence needs room for its {specials} special token(s)");
            if (content.Count > max - specials) content.RemoveRange(max - specials, content.Count - (max - specials));
        }
        int[] real = [.. Prefix, .. content, .. Suffix];
        var length = pad && maxLength is { } m ? m : real.Length;
        var ids = new int[length];
        var mask = new int[length];
        Array.Fill(ids, PadId);
        real.CopyTo(ids, 0);
        Array.Fill(mask, 1, 0, real.Length);
        return new TokenizedText(ids, mask);
    }

    /// <summary>Encodes a batch, truncated and padded to <paramref name="maxLength"/>, as `input_ids` and `attention_mask` tensors.</summary>
    public (Tensor InputIds, Tensor AttentionMask) EncodeBatch(IEnumerable<string> texts, int maxLength) =>
        TokenizedText.Stack(texts.Select(t => Encode(t, maxLength, pad: true)).ToList());

    /// <summary>
    /// Loads the tokenizer in <paramref name="folder"/>, its kind detected from the files: `spiece.model`, or a
    /// `tokenizer.json` with a Unigram model, is T5; `vocab.json` + `merges.txt` is CLIP.
    /// </summary>
    public static TextTokenizer Load(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: no such tokenizer folder");
        var tokenizerJson = Path.Combine(folder, "tokenizer.json");
        var jsonModel = File.Exists(tokenizerJson) ? ModelType(tokenizerJson) : null;
        if (jsonModel == "Unigram" || File.Exists(Path.Combine(folder, "spiece.model"))) return T5Tokenizer.Load(folder);
        if (File.Exists(Path.Combine(folder, "vocab.json")) && File.Exists(Path.Combine(folder, "merges.txt"))) return ClipTokenizer.Load(folder);
        // A tokenizer.json that is all the folder offers is the file at fault: say what is wrong with it.
        if (jsonModel is not null)
            throw new InvalidDataException($"{tokenizerJson}: {jsonModel} (a T5 tokenizer.json has a Unigram model; " +
                "a CLIP folder has vocab.json + merges.txt)");
        var found = Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        throw new InvalidDataException(
            $"{folder}: not a T5 or CLIP tokenizer folder (expected spiece.model, a tokenizer.json with a Unigram model, " +
            $"or vocab.json + merges.txt; found {(found.Count == 0 ? "no files" : string.Join(", ", found))})");
    }

    /// <summary>The tokenizers shipped with the studio (`t5` or `clip`), copied next to the program at build time.</summary>
    public static TextTokenizer BuiltIn(string kind) => Load(BuiltInFolder(kind));

    public static string BuiltInFolder(string kind) => kind is "t5" or "clip"
        ? Path.Combine(AppContext.BaseDirectory, "Assets", "tokenizers", kind)
        : throw new ArgumentException($"no built-in tokenizer '{kind}' (use t5 or clip)", nameof(kind));

    /// <summary>
    /// The `model_max_length` of the tokenizer_config.json in <paramref name="folder"/> (the longest prompt the model was
    /// trained on; the toy teacher's tokenizer_2 says 32), or null when the file or a positive whole number is missing
    /// (transformers writes 1e30 for "no limit"; a value that is not a number counts as none).
    /// </summary>
    public static int? ModelMaxLength(string folder)
    {
        var config = Path.Combine(folder, "tokenizer_config.json");
        if (!File.Exists(config)) return null;
        try
        {
            using var json = JsonDocument.Parse(File.ReadAllText(config));
            return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("model_max_length", out var max)
                && max.ValueKind == JsonValueKind.Number && max.TryGetInt32(out var length) && length > 0 ? length : null;
        }
        catch (JsonException) { return null; }
    }

    /// <summary>"Unigram", or what the file has instead ("model.type is 'BPE', not Unigram", "'model' is missing").</summary>
    static string ModelType(string tokenizerJson)
    {
        using var doc = TokenizerFiles.ReadJson(tokenizerJson);
        if (!doc.RootElement.TryGetProperty("model", out var model)) return "'model' is missing";
        if (model.ValueKind != JsonValueKind.Object) return $"'model' is {model.GetRawText()}, not an object";
        if (!model.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String) return "'model.type' is missing";
        return type.GetString() is "Unigram" ? "Unigram" : $"model.type is '{type.GetString()}', not Unigram";
    }
}

/// <summary>Reading tokenizer files with errors that name the file.</summary>
static class TokenizerFiles
{
    /// <summary>A tokenizer JSON file (all of them hold one object), checked to be UTF-8 throughout.</summary>
    public static JsonDocument ReadJson(string path)
    {
        ReadOnlyMemory<byte> bytes = File.ReadAllBytes(path);
        // A UTF-8 byte order mark (as some editors write) is not part of the JSON.
        if (bytes.Span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) bytes = bytes[3..];
        // JsonDocument checks UTF-8 only in the strings it is asked for; check it all before trusting any of it.
        if (!System.Text.Unicode.Utf8.IsValid(bytes.Span)) throw new InvalidDataException($"{path}: not valid UTF-8 text");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(bytes); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e); }
        if (doc.RootElement.ValueKind == JsonValueKind.Object) return doc;
        doc.Dispose();
        throw new InvalidDataException($"{path}: not a JSON object");
    }

    /// <summary>A required property of the given kind; the error names the file and the property.</summary>
    public static JsonElement Property(JsonElement parent, string name, JsonValueKind kind, string path, string where = "")
    {
        if (parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out var value))
            return value.ValueKind == kind ? value : throw new InvalidDataException($"{path}: '{where}{name}' must be {Kind(kind)}, found {value.GetRawText()}");
        throw new InvalidDataException($"{path}: '{where}{name}' is missing");
    }

    static string Kind(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        _ => kind.ToString().ToLowerInvariant(),
    };
}
