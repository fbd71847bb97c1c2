using System.Text.Json;
using Studio.Ml.Text;

namespace Studio.Ml.Tests;

public class TokenizerTests
{
    /// <summary>The shipped tokenizer files in the repository (src/Studio.Ml/Assets/tokenizers/{kind}).</summary>
    static string SourceFolder(string kind) => Path.Combine(TestPaths.Tokenizers, kind);

    // Loading parses a few MB of JSON: load each tokenizer once for the tests that only encode.
    static readonly Lazy<TextTokenizer> T5 = new(() => TextTokenizer.Load(SourceFolder("t5")));
    static readonly Lazy<TextTokenizer> Clip = new(() => TextTokenizer.Load(SourceFolder("clip")));

    /// <summary>The reference ids of tests/fixtures/tokenizers/{kind}_golden.jsonl (made with Hugging Face).</summary>
    static List<(string Text, int[] Ids)> Goldens(string kind) =>
        File.ReadLines(TestPaths.TokenizerGoldens(kind))
            .Select(line =>
            {
                using var doc = JsonDocument.Parse(line);
                return (doc.RootElement.GetProperty("text").GetString()!,
                        doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
            })
            .ToList();

    static void AssertMatchesGoldens(TextTokenizer tokenizer, string kind)
    {
        var goldens = Goldens(kind);
        Assert.True(goldens.Count >= 70, $"expected the full golden set, found {goldens.Count} lines");
        var wrong = goldens
            .Select(g => (g.Text, Want: g.Ids, Got: tokenizer.Encode(g.Text)))
            .Where(r => !r.Want.SequenceEqual(r.Got))
            .Select(r => $"{JsonSerializer.Serialize(r.Text)}: want [{string.Join(", ", r.Want)}] got [{string.Join(", ", r.Got)}]")
            .ToList();
        Assert.True(wrong.Count == 0, $"{wrong.Count} of {goldens.Count} {kind} goldens differ:\n{string.Join("\n", wrong.Take(10))}");
    }

    [Fact]
    public void T5MatchesEveryGolden() => AssertMatchesGoldens(T5.Value, "t5");

    [Fact]
    public void ClipMatchesEveryGolden() => AssertMatchesGoldens(Clip.Value, "clip");

    [Theory]
    [InlineData("t5")]
    [InlineData("clip")]
    public void BuiltInTokenizersAreTheShippedFilesAndMatchTheGoldens(string kind)
    {
        var builtIn = TextTokenizer.BuiltInFolder(kind);
        foreach (var source in Directory.GetFiles(SourceFolder(kind)).Where(f => !f.EndsWith(".md")))
            Assert.Equal(File.ReadAllBytes(source), File.ReadAllBytes(Path.Combine(builtIn, Path.GetFileName(source))));
        var tokenizer = TextTokenizer.BuiltIn(kind);
        Assert.Equal(kind, tokenizer.Kind);
        AssertMatchesGoldens(tokenizer, kind);
    }

    [Fact]
    public void T5SpecialIdsAreThoseOfT5()
    {
        var t5 = Assert.IsType<T5Tokenizer>(T5.Value);
        Assert.Equal(0, t5.PadId);
        Assert.Equal(1, t5.EosId);
        Assert.Equal(2, t5.UnkId);
        Assert.Equal([1], t5.Encode(""));
        Assert.Equal([32099, 1], t5.Encode("<extra_id_0>"));
        Assert.Equal([32000, 1], t5.Encode("<extra_id_99>"));
        Assert.Equal([32050, 1], t5.Encode("<extra_id_49>"));
    }

    [Fact]
    public void T5BreaksScoreTiesAsHuggingFaceDoes()
    {
        // Hugging Face gives [3, 18, 14817, 1]; the sentencepiece library [3, 14817, 18].
        Assert.Equal([3, 18, 14817, 1], T5.Value.Encode("----"));
    }

    [Fact]
    public void T5FusesARunOfUnknownCharactersIntoOneUnk()
    {
        var t5 = T5.Value;
        var golden = Goldens("t5").Single(g => g.Text == "東京の夜景、ネオンサイン").Ids;
        Assert.Equal([3, 2, 1], golden);
        Assert.Equal(golden, t5.Encode("東京の夜景、ネオンサイン"));
    }

    [Fact]
    public void T5SplitsAddedTokensOutOfTheRawText()
    {
        var t5 = T5.Value;
        int[] photo = Goldens("t5").Single(g => g.Text == "A photo of a cat").Ids[..^1];
        int[] cat = Goldens("t5").Single(g => g.Text == "cat").Ids[..^1];
        // " cat" after an added token starts with a space, so it is "▁cat" as at the start of a text.
        Assert.Equal([.. photo, 32099, .. cat, 1], t5.Encode("A photo of a cat<extra_id_0> cat"));
        Assert.Equal([.. photo, 1, 1], t5.Encode("A photo of a cat</s>"));
    }

    [Fact]
    public void T5PadsWithZeroAndTruncatesKeepingTheEndOfSequence()
    {
        var t5 = T5.Value;
        var (text, ids) = Goldens("t5").Single(g => g.Text == "A photo of a cat");

        var padded = t5.Encode(text, maxLength: 77);
        Assert.Equal(77, padded.Length);
        Assert.Equal([.. ids, .. Enumerable.Repeat(0, 77 - ids.Length)], padded.Ids);
        Assert.Equal([.. Enumerable.Repeat(1, ids.Length), .. Enumerable.Repeat(0, 77 - ids.Length)], padded.AttentionMask);

        var truncated = t5.Encode(text, maxLength: 4);
        Assert.Equal([ids[0], ids[1], ids[2], 1], truncated.Ids);
        Assert.Equal([1, 1, 1, 1], truncated.AttentionMask);

        var unpadded = t5.Encode(text, maxLength: 512, pad: false);
        Assert.Equal(ids, unpadded.Ids);

        var longest = Goldens("t5").MaxBy(g => g.Ids.Length);
        Assert.True(longest.Ids.Length > 77, "a golden longer than the training length");
        var cut = t5.Encode(longest.Text, maxLength: 77);
        Assert.Equal([.. longest.Ids[..76], 1], cut.Ids);
        Assert.All(cut.AttentionMask, m => Assert.Equal(1, m));

        Assert.Equal([1, 0, 0], t5.Encode("", maxLength: 3).Ids);
        Assert.Throws<ArgumentOutOfRangeException>(() => t5.Encode(text, maxLength: 0));
    }

    [Fact]
    public void ClipPadsWithEndOfTextAndTruncatesKeepingBothEnds()
    {
        var clip = Assert.IsType<ClipTokenizer>(Clip.Value);
        Assert.Equal(49406, clip.BosId);
        Assert.Equal(49407, clip.EosId);
        Assert.Equal(49407, clip.PadId);

        var (text, ids) = Goldens("clip").Single(g => g.Text == "A photo of a cat");
        var padded = clip.Encode(text, maxLength: 77);
        Assert.Equal([.. ids, .. Enumerable.Repeat(49407, 77 - ids.Length)], padded.Ids);
        Assert.Equal([.. Enumerable.Repeat(1, ids.Length), .. Enumerable.Repeat(0, 77 - ids.Length)], padded.AttentionMask);

        var longest = Goldens("clip").MaxBy(g => g.Ids.Length);
        Assert.True(longest.Ids.Length > 77, "a golden longer than CLIP's 77 tokens");
        var cut = clip.Encode(longest.Text, maxLength: 77);
        Assert.Equal([.. longest.Ids[..76], 49407], cut.Ids);
        Assert.All(cut.AttentionMask, m => Assert.Equal(1, m));

        Assert.Equal([49406, 49407], clip.Encode("", maxLength: 2).Ids);
        Assert.Throws<ArgumentOutOfRangeException>(() => clip.Encode(text, maxLength: 1));
    }

    [Fact]
    public void ClipLowercasesAsPythonDoes()
    {
        var clip = Clip.Value;
        // Python: "İ".lower() == "i\u0307"; "ΟΔΟΣ".lower() == "οδος" with a final sigma.
        Assert.Equal(clip.Encode("i\u0307stanbul"), clip.Encode("İstanbul"));
        Assert.Equal(clip.Encode("οδος"), clip.Encode("ΟΔΟΣ"));
        Assert.NotEqual(clip.Encode("οδοσ"), clip.Encode("ΟΔΟΣ"));
        Assert.Equal(clip.Encode("σοφία"), clip.Encode("ΣΟΦΊΑ"));
    }

    [Fact]
    public void BatchesBecomeInputIdsAndAttentionMaskTensors()
    {
        TorchRuntime.Initialise();
        var t5 = T5.Value;
        var (ids, mask) = t5.EncodeBatch(["A photo of a cat", "cat"], maxLength: 8);
        using (ids) using (mask)
        {
            Assert.Equal([2L, 8], ids.shape);
            Assert.Equal(TorchSharp.torch.ScalarType.Int64, ids.dtype);
            Assert.Equal([1712L, 1, 0, 0, 0, 0, 0, 0], ids[1].data<long>().ToArray());
            Assert.Equal([1L, 1, 0, 0, 0, 0, 0, 0], mask[1].data<long>().ToArray());
        }
    }

    [Fact]
    public void AFolderWithOnlySpieceModelLoadsTheSameTokenizer()
    {
        // A spiece.model as sentencepiece writes T5's: 32000 pieces (pad, eos control; unk unknown), no BOS, the
        // nmt_nfkc map; Hugging Face adds the 100 extra ids after them.
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(SourceFolder("t5"), "tokenizer.json")));
        var vocab = json.RootElement.GetProperty("model").GetProperty("vocab").EnumerateArray().Take(32000)
            .Select((e, i) => new SentencePiece(e[0].GetString()!, (float)e[1].GetDouble(),
                i switch { 0 or 1 => PieceType.Control, 2 => PieceType.Unknown, _ => PieceType.Normal }))
            .ToList();
        var charsMap = Convert.FromBase64String(json.RootElement.GetProperty("normalizer").GetProperty("normalizers")[0]
            .GetProperty("precompiled_charsmap").GetString()!);
        var folder = TestPaths.NewTempDirectory("spiece");
        File.WriteAllBytes(Path.Combine(folder, "spiece.model"),
            SentencePieceModelFile.Write(vocab, unkId: 2, bosId: -1, eosId: 1, padId: 0, charsMap));
        File.Copy(Path.Combine(SourceFolder("t5"), "tokenizer_config.json"), Path.Combine(folder, "tokenizer_config.json"));

        var tokenizer = Assert.IsType<T5Tokenizer>(TextTokenizer.Load(folder));
        AssertMatchesGoldens(tokenizer, "t5");
        Assert.Equal([32099, 1], tokenizer.Encode("<extra_id_0>"));

        // Without `legacy: false` in tokenizer_config.json, Hugging Face's converter prepends `▁` to every segment
        // (prepend_scheme "always"), so text right after an added token starts a word; with it, only the text's start.
        int[] photo = Goldens("t5").Single(g => g.Text == "A photo of a cat").Ids[..^1];
        int[] cat = Goldens("t5").Single(g => g.Text == "cat").Ids[..^1];
        Assert.NotEqual([.. photo, 32099, .. cat, 1], tokenizer.Encode("A photo of a cat<extra_id_0>cat"));
        File.Delete(Path.Combine(folder, "tokenizer_config.json"));
        Assert.Equal([.. photo, 32099, .. cat, 1], TextTokenizer.Load(folder).Encode("A photo of a cat<extra_id_0>cat"));
    }

    [Fact]
    public void AFolderOfNeitherKindIsAClearError()
    {
        var folder = TestPaths.NewTempDirectory("no-tokenizer");
        File.WriteAllText(Path.Combine(folder, "config.json"), "{}");
        var e = Assert.Throws<InvalidDataException>(() => TextTokenizer.Load(folder));
        Assert.Contains(folder, e.Message);
        Assert.Contains("config.json", e.Message);
        Assert.Throws<DirectoryNotFoundException>(() => TextTokenizer.Load(Path.Combine(folder, "missing")));
    }

    [Fact]
    public void ABrokenTokenizerJsonNamesTheFile()
    {
        var folder = TestPaths.NewTempDirectory("bad-tokenizer");
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), "{\"model\": {\"type\": \"Unigram\"");
        var e = Assert.Throws<InvalidDataException>(() => TextTokenizer.Load(folder));
        Assert.Contains(Path.Combine(folder, "tokenizer.json"), e.Message);

        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
        e = Assert.Throws<InvalidDataException>(() => TextTokenizer.Load(folder));
        Assert.Contains("tokenizer.json", e.Message);
    }

    [Fact]
    public void ModelMaxLengthIsReadFromTokenizerConfigOrNull()
    {
        var folder = TestPaths.NewTempDirectory("model-max-length");
        Assert.Null(TextTokenizer.ModelMaxLength(folder));
        var config = Path.Combine(folder, "tokenizer_config.json");
        File.WriteAllText(config, """{"model_max_length": 77}""");
        Assert.Equal(77, TextTokenizer.ModelMaxLength(folder));
        File.WriteAllText(config, """{"model_max_length": 0}""");
        Assert.Null(TextTokenizer.ModelMaxLength(folder));
        File.WriteAllText(config, "not json");
        Assert.Null(TextTokenizer.ModelMaxLength(folder));
        // transformers' "no limit", and values that are not numbers (these threw InvalidOperationException, and a run
        // or the New run form checking such a teacher failed with it)
        foreach (var value in new[] { "1000000000000000019884624838656", "\"512\"", "null", "true", "[512]" })
        {
            File.WriteAllText(config, $$"""{"model_max_length": {{value}}}""");
            Assert.Null(TextTokenizer.ModelMaxLength(folder));
        }
        Assert.Equal(32, TextTokenizer.ModelMaxLength(Path.Combine(TestPaths.RepoRoot, "src", "Studio.Ml", "Assets", "toy-teacher", "tokenizer_2")));
    }

    [Theory]
    [InlineData("t5")]
    [InlineData("clip")]
    public void TokenizerJsonFilesWithAByteOrderMarkLoadTheSameTokenizer(string kind)
    {
        var folder = TestPaths.NewTempDirectory($"bom-{kind}");
        foreach (var file in Directory.GetFiles(SourceFolder(kind)).Where(f => !f.EndsWith(".md")))
        {
            var bytes = File.ReadAllBytes(file);
            File.WriteAllBytes(Path.Combine(folder, Path.GetFileName(file)),
                file.EndsWith(".json") ? [0xEF, 0xBB, 0xBF, .. bytes] : bytes);
        }
        AssertMatchesGoldens(TextTokenizer.Load(folder), kind);
    }
}
