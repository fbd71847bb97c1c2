using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace Studio.Ml.Text;

/// <summary>
/// The byte-level BPE tokenizer of CLIP ViT-L/14 (FLUX's `tokenizer`, SD's CLIP-L), computing what Hugging Face's
/// `CLIPTokenizer` computes without ftfy: `&lt;|startoftext|&gt;` + the text's tokens + `&lt;|endoftext|&gt;`,
/// padded with the pad token of special_tokens_map.json (`&lt;|endoftext|&gt;` for CLIP-L).
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> does the byte-level BPE: bytes to symbols, the merges by rank,
/// the `&lt;/w&gt;` end-of-word suffix, the vocabulary, and the two special tokens. Ours: the text clean-up of
/// Hugging Face's `BasicTokenizer` (drop control characters, whitespace to spaces, spaces around CJK ideographs, NFC,
/// split on whitespace, Python's `str.lower` per word, join with single spaces) and CLIP's pre-tokenizer pattern,
/// written as a scanner over code points because .NET's regex classes see UTF-16 units and would not count a letter
/// outside the BMP as `\p{L}`.
/// </remarks>
public sealed class ClipTokenizer : TextTokenizer
{
    const string StartOfText = "<|startoftext|>";
    const string EndOfText = "<|endoftext|>";

    readonly BpeTokenizer _bpe;
    readonly int[] _prefix;
    readonly int[] _suffix;

    public override string Kind => "clip";
    public override string Source { get; }
    public override int PadId { get; }
    public override int IdCount { get; }
    public int BosId { get; }
    public int EosId { get; }
    protected override int[] Prefix => _prefix;
    protected override int[] Suffix => _suffix;

    ClipTokenizer(string source, BpeTokenizer bpe, int bosId, int eosId, int padId, int idCount)
    {
        Source = source; _bpe = bpe; BosId = bosId; EosId = eosId; PadId = padId; IdCount = idCount;
        _prefix = [bosId];
        _suffix = [eosId];
    }

    public static new ClipTokenizer Load(string folder)
    {
        var vocabPath = Path.Combine(folder, "vocab.json");
        var mergesPath = Path.Combine(folder, "merges.txt");
        Dictionary<string, int> vocab;
        using (var doc = TokenizerFiles.ReadJson(vocabPath))
        {
            vocab = doc.RootElement.EnumerateObject().ToDictionary(p => p.Name,
                p => p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out var id) && id >= 0
                    ? id
                    : throw new InvalidDataException($"{vocabPath}: id of '{p.Name}' is {p.Value.GetRawText()}, not an integer from 0"));
        }
        // The special tokens before the merges: an empty or foreign vocabulary is vocab.json's fault, not merges.txt's.
        int Id(string token) => vocab.TryGetValue(token, out var id) ? id : throw new InvalidDataException($"{vocabPath}: no {token} token");
        var bos = Id(StartOfText);
        var eos = Id(EndOfText);
        CheckMerges(mergesPath, vocab);
        var specialTokensMap = Path.Combine(folder, "special_tokens_map.json");
        var pad = PadToken(specialTokensMap) is { } padToken
            ? vocab.TryGetValue(padToken, out var padId) ? padId
                : throw new InvalidDataException($"{specialTokensMap}: pad_token '{padToken}' is not in the vocabulary (vocab.json)")
            : eos;

        var bpe = BpeTokenizer.Create(new BpeOptions(vocabPath, mergesPath)
        {
            EndOfWordSuffix = "</w>",
            ByteLevel = true,
            PreTokenizer = new ClipPreTokenizer(),
            SpecialTokens = new Dictionary<string, int> { [StartOfText] = bos, [EndOfText] = eos },
        });
        return new ClipTokenizer(folder, bpe, bos, eos, pad, vocab.Values.Max() + 1);
    }

    /// <summary>
    /// merges.txt as the BPE model reads it: UTF-8, an optional `#version` line, then one merge per line, two tokens of
    /// the vocabulary separated by a space (ML.Tokenizers' own errors name neither the file nor the line).
    /// </summary>
    static void CheckMerges(string path, IReadOnlyDictionary<string, int> vocab)
    {
        var bytes = File.ReadAllBytes(path);
        if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new InvalidDataException($"{path}: not valid UTF-8 text");
        var lines = Encoding.UTF8.GetString(bytes).Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Length == 0 || (i == 0 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            var parts = line.Split(' ');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                throw new InvalidDataException($"{path}: line {i + 1} is '{line}', not two tokens separated by one space");
            if (parts.FirstOrDefault(p => !vocab.ContainsKey(p)) is { } unknown)
                throw new InvalidDataException($"{path}: line {i + 1}: '{unknown}' is not in the vocabulary (vocab.json)");
        }
    }

    /// <summary>pad_token of special_tokens_map.json (a string or an object with content), if the folder says.</summary>
    static string? PadToken(string path)
    {
        if (!File.Exists(path)) return null;
        using var doc = TokenizerFiles.ReadJson(path);
        if (!doc.RootElement.TryGetProperty("pad_token", out var pad)) return null;
        return pad.ValueKind switch
        {
            JsonValueKind.String => pad.GetString(),
            JsonValueKind.Object when pad.TryGetProperty("content", out var c) => c.GetString(),
            _ => null,
        };
    }

    protected override List<int> EncodeText(string text) => [.. _bpe.EncodeToIds(Clean(text))];

    /// <summary>Hugging Face's `BasicTokenizer(do_lower_case=True, strip_accents=False, do_split_on_punc=False)`.</summary>
    public static string Clean(string text)
    {
        var cleaned = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())   // invalid UTF-16 arrives as U+FFFD, which is dropped
        {
            if (rune.Value is 0 or 0xFFFD) continue;
            var category = Rune.GetUnicodeCategory(rune);
            if (rune.Value is '\t' or '\n' or '\r' || category == UnicodeCategory.SpaceSeparator) cleaned.Append(' ');
            else if (IsOtherCategory(category)) continue;
            else if (IsCjkIdeograph(rune.Value)) cleaned.Append(' ').Append(rune.ToString()).Append(' ');
            else cleaned.Append(rune.ToString());
        }
        var words = cleaned.ToString().Normalize(NormalizationForm.FormC)
            .Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        return string.Join(' ', words.Select(PythonLower));
    }

    static bool IsOtherCategory(UnicodeCategory c) => c is UnicodeCategory.Control or UnicodeCategory.Format
        or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;

    /// <summary>The CJK blocks BERT's tokenizer puts spaces around.</summary>
    static bool IsCjkIdeograph(int cp) => cp is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF)
        or (>= 0x20000 and <= 0x2A6DF) or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F)
        or (>= 0x2B820 and <= 0x2CEAF) or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);

    /// <summary>
    /// Python's `str.lower`: the invariant lower case, plus the two rules .NET leaves out: `İ` becomes `i̇` (full case
    /// mapping) and a capital sigma at the end of a word becomes `ς`.
    /// </summary>
    static string PythonLower(string word)
    {
        var runes = word.EnumerateRunes().ToArray();
        var lower = new StringBuilder(word.Length);
        for (int i = 0; i < runes.Length; i++)
        {
            var r = runes[i];
            if (r.Value == 0x130) lower.Append("i\u0307");
            else if (r.Value == 0x3A3) lower.Append(IsFinalSigma(runes, i) ? 'ς' : 'σ');
            else lower.Append(Rune.ToLowerInvariant(r).ToString());
        }
        return lower.ToString();
    }

    /// <summary>Unicode's Final_Sigma: a cased letter before (skipping case-ignorables) and none after.</summary>
    static bool IsFinalSigma(Rune[] runes, int at)
    {
        int j = at - 1;
        while (j >= 0 && IsCaseIgnorable(runes[j])) j--;
        if (j < 0 || !IsCased(runes[j])) return false;
        j = at + 1;
        while (j < runes.Length && IsCaseIgnorable(runes[j])) j++;
        return j == runes.Length || !IsCased(runes[j]);
    }

    static bool IsCased(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.UppercaseLetter
        or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter;

    static bool IsCaseIgnorable(Rune r) => r.Value is '\'' or '.' or ':' or '·' or '\u2019' or '\u2018' or '\u2024' or '\u2027'
        || Rune.GetUnicodeCategory(r) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark
            or UnicodeCategory.Format or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol;

    /// <summary>
    /// CLIP's pattern `&lt;\|startoftext\|&gt;|&lt;\|endoftext\|&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
    /// (case-insensitive), tried in that order at each position, over code points.
    /// </summary>
    sealed class ClipPreTokenizer : PreTokenizer
    {
        static readonly string[] Literals = [StartOfText, EndOfText, "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

        public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => Split(text);

        public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Split(text.ToString());

        static List<(int Offset, int Length)> Split(string text)
        {
            var words = new List<(int, int)>();
            int i = 0;
            while (i < text.Length)
            {
                var kind = KindAt(text, i, out var width);
                if (kind == Kind.Space) { i += width; continue; }
                var literal = Literals.FirstOrDefault(l => string.Compare(text, i, l, 0, l.Length, StringComparison.OrdinalIgnoreCase) == 0);
                if (literal is not null) { words.Add((i, literal.Length)); i += literal.Length; continue; }
                int start = i;
                i += width;
                if (kind != Kind.Number)   // a number is one code point; letters and other symbols run on
                    while (i < text.Length && KindAt(text, i, out var w) == kind) i += w;
                words.Add((start, i - start));
            }
            return words;
        }

        enum Kind { Space, Letter, Number, Other }

        static Kind KindAt(string text, int index, out int width)
        {
            if (Rune.DecodeFromUtf16(text.AsSpan(index), out var rune, out width) != System.Buffers.OperationStatus.Done)
                return Kind.Other;
            if (Rune.IsWhiteSpace(rune)) return Kind.Space;
            if (Rune.IsLetter(rune)) return Kind.Letter;
            return Rune.IsNumber(rune) ? Kind.Number : Kind.Other;
        }
    }
}
