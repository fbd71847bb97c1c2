using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Studio.Ml.Text;

/// <summary>
/// The SentencePiece unigram tokenizer of T5 v1.1 / Flan-T5 / FLUX's `tokenizer_2`, computing what Hugging Face's
/// `T5TokenizerFast` computes from the same files: ids end with `&lt;/s&gt;`, padding is `&lt;pad&gt;` (0), unknown text
/// is `&lt;unk&gt;` (2, one per run), the `&lt;extra_id_N&gt;` tokens are matched in the raw text.
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers' <see cref="SentencePieceTokenizer"/> holds the vocabulary and does the unigram
/// segmentation (Viterbi over the pieces' scores). Ours, because that class cannot express them: building its model
/// from `tokenizer.json`; the added-token split; Hugging Face's normaliser (the precompiled map per grapheme cluster,
/// strip right, runs of spaces to one `▁`); the Metaspace pre-tokenizer (`▁` for spaces, prepended to the first
/// segment only when `prepend_scheme` is `first`, split into words before each `▁`); fusing a run of unknown pieces
/// into one `&lt;unk&gt;`; the end-of-sequence id (also for the empty string).
/// </remarks>
public sealed class T5Tokenizer : TextTokenizer
{
    const char Metaspace = '\u2581';
    static readonly Regex RunOfSpaces = new(" {2,}", RegexOptions.Compiled);

    /// <summary>Whether every text segment gets a leading `▁` (legacy T5) or only the one at the start of the text.</summary>
    enum Prepend { Always, First, Never }

    readonly SentencePieceTokenizer _unigram;
    readonly PrecompiledCharsMap? _charsMap;
    readonly IReadOnlyDictionary<string, int> _addedTokens;
    readonly Regex? _addedTokenPattern;
    readonly Prepend _prepend;
    readonly int _unkId;
    readonly int[] _suffix;

    public override string Kind => "t5";
    public override string Source { get; }
    public override int PadId { get; }
    public int EosId { get; }
    public int UnkId => _unkId;
    public override int IdCount { get; }
    protected override int[] Prefix => [];
    protected override int[] Suffix => _suffix;

    /// <param name="file">The file the model came from (tokenizer.json or spiece.model), named by errors.</param>
    T5Tokenizer(string source, string file, UnigramModel model, IReadOnlyDictionary<string, int> addedTokens, Prepend prepend)
    {
        Source = source;
        _unkId = model.UnkId;
        _addedTokens = addedTokens;
        _prepend = prepend;
        _charsMap = model.PrecompiledCharsMap.Length > 0 ? new PrecompiledCharsMap(model.PrecompiledCharsMap, file) : null;
        EosId = addedTokens.TryGetValue("</s>", out var eos) ? eos : throw new InvalidDataException($"{file}: no </s> token");
        PadId = addedTokens.TryGetValue("<pad>", out var pad) ? pad : throw new InvalidDataException($"{file}: no <pad> token");
        _suffix = [EosId];
        IdCount = Math.Max(model.Pieces.Count, addedTokens.Count == 0 ? 0 : addedTokens.Values.Max() + 1);
        _addedTokenPattern = addedTokens.Count == 0 ? null
            : new Regex(string.Join("|", addedTokens.Keys.OrderByDescending(k => k.Length).Select(Regex.Escape)));

        // Every piece goes into the unigram vocabulary as Hugging Face's Unigram model has it; only unk is special.
        // ML.Tokenizers refuses a model without a valid BOS id (T5 has none), so BOS names the pad piece: it is never
        // emitted because encoding never asks for it.
        var pieces = model.Pieces
            .Select((p, i) => p with { Type = i == model.UnkId ? PieceType.Unknown : PieceType.Normal })
            .ToList();
        var proto = SentencePieceModelFile.Write(pieces, model.UnkId, bosId: PadId, eosId: EosId, padId: PadId, precompiledCharsMap: []);
        _unigram = SentencePieceTokenizer.Create(new MemoryStream(proto), addBeginningOfSentence: false, addEndOfSentence: false);
    }

    /// <summary>Loads `tokenizer.json` when the folder has one, otherwise `spiece.model`.</summary>
    public static new T5Tokenizer Load(string folder)
    {
        var json = Path.Combine(folder, "tokenizer.json");
        if (File.Exists(json)) return FromTokenizerJson(folder, json);
        var spiece = Path.Combine(folder, "spiece.model");
        if (File.Exists(spiece)) return FromSentencePieceModel(folder, spiece);
        throw new FileNotFoundException($"{folder}: no tokenizer.json or spiece.model");
    }

    static T5Tokenizer FromTokenizerJson(string folder, string path)
    {
        using var doc = TokenizerFiles.ReadJson(path);
        var root = doc.RootElement;
        JsonElement Get(JsonElement parent, string name, JsonValueKind kind, string where = "") => TokenizerFiles.Property(parent, name, kind, path, where);

        var model = Get(root, "model", JsonValueKind.Object);
        if (Get(model, "type", JsonValueKind.String, "model.").GetString() != "Unigram")
            throw new InvalidDataException($"{path}: model.type is '{model.GetProperty("type")}', not Unigram");
        if (model.TryGetProperty("byte_fallback", out var fallback) && fallback.ValueKind == JsonValueKind.True)
            throw new InvalidDataException($"{path}: byte_fallback models are not supported (T5 has none)");
        var pieces = Get(model, "vocab", JsonValueKind.Array, "model.").EnumerateArray()
            .Select((e, i) => e is { ValueKind: JsonValueKind.Array } && e.GetArrayLength() == 2 &&
                              e[0].ValueKind == JsonValueKind.String && e[1].ValueKind == JsonValueKind.Number
                ? new SentencePiece(e[0].GetString()!, (float)e[1].GetDouble(), PieceType.Normal)
                : throw new InvalidDataException($"{path}: model.vocab piece {i} is {e.GetRawText()}, not [text, score]"))
            .ToList();
        if (!Get(model, "unk_id", JsonValueKind.Number, "model.").TryGetInt32(out var unkId) || unkId < 0 || unkId >= pieces.Count)
            throw new InvalidDataException($"{path}: unk_id {model.GetProperty("unk_id").GetRawText()} is outside the {pieces.Count} pieces");

        byte[] charsMap = [];
        if (root.TryGetProperty("normalizer", out var normalizer) && FindByType(normalizer, "normalizers", "Precompiled") is { } precompiled)
        {
            var text = Get(precompiled, "precompiled_charsmap", JsonValueKind.String, "normalizer.").GetString()!;
            try { charsMap = Convert.FromBase64String(text); }
            catch (FormatException) { throw new InvalidDataException($"{path}: normalizer.precompiled_charsmap is not base64"); }
        }
        var metaspace = (root.TryGetProperty("pre_tokenizer", out var preTokenizer) ? FindByType(preTokenizer, "pretokenizers", "Metaspace") : null)
            ?? throw new InvalidDataException($"{path}: no Metaspace pre-tokenizer (not a T5 tokenizer)");
        var prepend = metaspace.TryGetProperty("prepend_scheme", out var scheme)
            ? scheme.ValueKind == JsonValueKind.String ? scheme.GetString() : scheme.GetRawText()
            : null;
        var prependMode = prepend switch
        {
            null => metaspace.TryGetProperty("add_prefix_space", out var add) && add.ValueKind == JsonValueKind.False ? Prepend.Never : Prepend.Always,
            "first" => Prepend.First,
            "never" => Prepend.Never,
            "always" => Prepend.Always,
            _ => throw new InvalidDataException($"{path}: unknown Metaspace prepend_scheme '{prepend}'"),
        };

        var added = new Dictionary<string, int>();
        var addedTokens = Get(root, "added_tokens", JsonValueKind.Array);
        var idCount = pieces.Count + addedTokens.GetArrayLength();
        foreach (var (token, i) in addedTokens.EnumerateArray().Select((t, i) => (t, i)))
        {
            var where = $"added_tokens[{i}].";
            var content = Get(token, "content", JsonValueKind.String, where).GetString()!;
            if (!Get(token, "id", JsonValueKind.Number, where).TryGetInt32(out var id) || id < 0 || id >= idCount)
                throw new InvalidDataException($"{path}: added_tokens[{i}] '{content}' has id {token.GetProperty("id").GetRawText()}, outside the {idCount} ids");
            if (!added.TryAdd(content, id)) throw new InvalidDataException($"{path}: added_tokens names '{content}' twice");
        }
        return new T5Tokenizer(folder, path, new UnigramModel(pieces, unkId, charsMap), added, prependMode);
    }

    /// <summary>
    /// A sentencepiece `spiece.model` (as `T5TokenizerFast` converts it): its control pieces and the `extra_ids`
    /// sentinels of tokenizer_config.json (default 100; `&lt;extra_id_0&gt;` is the last id) are added tokens, and
    /// `legacy: false` there means only the start of the text gets a `▁`.
    /// </summary>
    const int MaxExtraIds = 10_000;

    static T5Tokenizer FromSentencePieceModel(string folder, string path)
    {
        var model = SentencePieceModelFile.Read(File.ReadAllBytes(path), path);
        int extraIds = 100;
        bool legacy = true;
        var configPath = Path.Combine(folder, "tokenizer_config.json");
        if (File.Exists(configPath))
        {
            using var config = TokenizerFiles.ReadJson(configPath);
            if (config.RootElement.TryGetProperty("extra_ids", out var e))
                extraIds = e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var n) && n is >= 0 and <= MaxExtraIds
                    ? n
                    : throw new InvalidDataException($"{configPath}: 'extra_ids' must be an integer from 0 to {MaxExtraIds}, found {e.GetRawText()}");
            if (config.RootElement.TryGetProperty("legacy", out var l) && l.ValueKind == JsonValueKind.False) legacy = false;
        }
        var added = new Dictionary<string, int>();
        for (int i = 0; i < model.Pieces.Count; i++)
            if (model.Pieces[i].Type is PieceType.Control or PieceType.Unknown) added[model.Pieces[i].Piece] = i;
        for (int i = 0; i < extraIds; i++) added[$"<extra_id_{i}>"] = model.Pieces.Count + extraIds - 1 - i;
        return new T5Tokenizer(folder, path, model, added, legacy ? Prepend.Always : Prepend.First);
    }

    /// <summary>The element of the given type: <paramref name="element"/> itself or one inside its Sequence list.</summary>
    static JsonElement? FindByType(JsonElement element, string listName, string type)
    {
        if (element.ValueKind != JsonValueKind.Object) return null;
        if (element.TryGetProperty("type", out var t) && t.GetString() == type) return element;
        if (element.TryGetProperty(listName, out var list) && list.ValueKind == JsonValueKind.Array)
            foreach (var item in list.EnumerateArray())
                if (FindByType(item, listName, type) is { } found) return found;
        return null;
    }

    protected override List<int> EncodeText(string text)
    {
        var ids = new List<int>();
        int position = 0;
        if (_addedTokenPattern is not null)
        {
            foreach (Match m in _addedTokenPattern.Matches(text))
            {
                if (m.Index > position) EncodeSegment(text[position..m.Index], atStart: position == 0, ids);
                ids.Add(_addedTokens[m.Value]);
                position = m.Index + m.Length;
            }
        }
        if (position < text.Length) EncodeSegment(text[position..], atStart: position == 0, ids);
        return ids;
    }

    /// <summary>One stretch of text between added tokens: normaliser, Metaspace pre-tokenizer, then the unigram model per word.</summary>
    void EncodeSegment(string segment, bool atStart, List<int> ids)
    {
        var normalized = _charsMap?.Normalize(segment) ?? segment;
        normalized = RunOfSpaces.Replace(normalized.TrimEnd(), Metaspace.ToString()).Replace(' ', Metaspace);
        if (normalized.Length == 0) return;
        if (normalized[0] != Metaspace && (_prepend == Prepend.Always || (_prepend == Prepend.First && atStart)))
            normalized = Metaspace + normalized;

        int wordStart = 0;
        for (int i = 1; i <= normalized.Length; i++)
        {
            if (i < normalized.Length && normalized[i] != Metaspace) continue;
            EncodeWord(normalized[wordStart..i], ids);
            wordStart = i;
        }
    }

    void EncodeWord(string word, List<int> ids)
    {
        int first = ids.Count;
        foreach (var id in _unigram.EncodeToIds(word, addBeginningOfSentence: false, addEndOfSentence: false,
                     considerPreTokenization: false, considerNormalization: false))
        {
            // sentencepiece and Hugging Face fuse a run of unknown pieces into one <unk>; ML.Tokenizers emits one per character.
            if (id == _unkId && ids.Count > first && ids[^1] == _unkId) continue;
            ids.Add(id);
        }
    }
}
