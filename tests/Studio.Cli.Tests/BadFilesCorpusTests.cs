using System.Text;
using System.Text.Json.Nodes;
using Studio.Ml.Tests;
using Studio.Ml.Tests.Diffusion;
using Studio.Ml.Text;

namespace Studio.Cli.Tests;

/// <summary>
/// The bad-file corpus (README, "Bad files"): damaged safetensors checkpoints, model and pipeline configs and tokenizer
/// files, generated here into temporary folders. Each case runs a real `studio` verb (`bench load FILE`, or
/// `sample --pipeline` on a copy of a tiny FLUX pipeline with one part damaged) and must end, within a time limit, in
/// exit code 1 and one line on stderr that names the damaged file and the fault, with no stack trace and no image written.
/// </summary>
[Collection("console")]
public class BadFilesCorpusTests(TinyFluxPipelineFolder tiny) : IClassFixture<TinyFluxPipelineFolder>
{
    /// <summary>
    /// One damaged input. <see cref="Files"/> gives, from the intact pipeline folder, the files to replace (relative
    /// path and new bytes, or null to delete). <see cref="Named"/> is the path the error must name (relative to the
    /// case folder) and <see cref="Fault"/> the words that must describe what is wrong.
    /// </summary>
    public sealed record Case(string Name, bool Pipeline, string Named, string[] Fault, Func<string, IEnumerable<(string Path, byte[]? Bytes)>> Files);

    static readonly Dictionary<string, Case> All = Generate().ToDictionary(c => c.Name);

    public static TheoryData<string> Names => new(All.Keys);

    public static int Count(string prefix) => All.Keys.Count(k => k.StartsWith(prefix, StringComparison.Ordinal));

    [Fact]
    public void TheCorpusHasItsCategories()
    {
        Assert.True(All.Count >= 250, $"{All.Count} cases");
        foreach (var category in new[] { "safetensors/", "config/", "tokenizer/" })
            Assert.True(Count(category) >= 40, $"{category}: {Count(category)} cases");
    }

    [Fact]
    public async Task TheIntactPipelineSamples()
    {
        var (code, error, output) = await RunCase(new Case("intact", true, "", [], _ => []));
        Assert.True(code == 0, error);
        Assert.True(File.Exists(output));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public async Task IsRefusedWithOneLineNamingTheFileAndTheFault(string name)
    {
        var c = All[name];
        var (code, error, output) = await RunCase(c);
        Assert.Equal(1, code);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line, got:\n{error}");
        var line = lines[0];
        Assert.StartsWith(c.Pipeline ? "studio sample: " : "studio bench load: ", line);
        // The whole line in the failure message: xunit's Assert.Contains shows only its first 40 characters.
        Assert.True(line.Contains(c.Named, StringComparison.Ordinal), $"'{c.Named}' not named in: {line}");
        foreach (var word in c.Fault) Assert.True(line.Contains(word, StringComparison.OrdinalIgnoreCase), $"'{word}' not in: {line}");
        foreach (var leak in new[] { "Exception", "   at ", "internal error" }) Assert.DoesNotContain(leak, line);
        Assert.False(File.Exists(output), "an image was written");
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(output)!));
    }

    /// <summary>Builds the case's folder (the intact pipeline's files linked, the damaged ones written), runs the verb with a time limit.</summary>
    async Task<(int Code, string Error, string Output)> RunCase(Case c)
    {
        var root = TestPaths.NewTempDirectory("bad-file");
        var output = Path.Combine(root, "out", "image.png");
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        var folder = Path.Combine(root, "case");
        if (c.Pipeline)
            foreach (var file in Directory.GetFiles(tiny.Folder, "*", SearchOption.AllDirectories))
            {
                var link = Path.Combine(folder, Path.GetRelativePath(tiny.Folder, file));
                Directory.CreateDirectory(Path.GetDirectoryName(link)!);
                File.CreateSymbolicLink(link, file);
            }
        foreach (var (relative, bytes) in c.Files(tiny.Folder))
        {
            var path = Path.Combine(folder, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.Delete(path);
            if (bytes is not null) File.WriteAllBytes(path, bytes);
        }
        string[] args = c.Pipeline
            ? ["sample", "--pipeline", folder, "--prompt", "a red circle", "--steps", "1", "--width", "16", "--height", "16", "--max-sequence-length", "16", "--out", output]
            : ["bench", "load", Path.Combine(folder, c.Named)];
        // A hang fails the case (TimeoutException) instead of the whole run.
        var (code, _, error) = await Task.Run(() => Cli.Run(args)).WaitAsync(TimeSpan.FromSeconds(60));
        return (code, error, output);
    }

    static IEnumerable<Case> Generate() => SafeTensorsCases().Concat(ConfigCases()).Concat(TokenizerCases());

    // ---------------------------------------------------------------- safetensors

    static string Entry(string name, string dtype, string shape, string offsets) =>
        $"\"{name}\": {{\"dtype\": \"{dtype}\", \"shape\": {shape}, \"data_offsets\": {offsets}}}";

    static string Entry(string name, string dtype, string shape, long begin, long end) => Entry(name, dtype, shape, $"[{begin}, {end}]");

    static string ValidHeader => "{" + Entry("a", "F32", "[2, 3]", 0, 24) + ", " + Entry("b", "BF16", "[4]", 24, 32) + "}";

    static byte[] SafeTensors(byte[] header, int dataBytes, ulong? declaredLength = null) =>
        [.. BitConverter.GetBytes(declaredLength ?? (ulong)header.Length), .. header, .. new byte[dataBytes]];

    static byte[] SafeTensors(string header, int dataBytes, ulong? declaredLength = null) => SafeTensors(Encoding.UTF8.GetBytes(header), dataBytes, declaredLength);

    /// <summary>Headers of one entry "a" whose fields are given as raw JSON.</summary>
    static string OneEntry(string dtype, string shape, string offsets) => "{" + Entry("a", dtype, shape, offsets) + "}";

    static IEnumerable<(string Name, byte[] Bytes, string[] Fault)> SafeTensorsDefects()
    {
        var valid = SafeTensors(ValidHeader, 32);
        var dataStart = 8 + ValidHeader.Length;
        foreach (var length in new[] { 0, 1, 4, 7 })
            yield return ($"truncated-to-{length}", valid[..length], ["truncated", $"{length} bytes"]);
        foreach (var length in new[] { 8, 9, 8 + ValidHeader.Length / 2, dataStart - 1 })
            yield return ($"truncated-in-header-{length}", valid[..length], ["header length", "past the end of the file"]);
        foreach (var length in new[] { dataStart, dataStart + 10, valid.Length - 1 })
            yield return ($"truncated-in-data-{length}", valid[..length], ["past the end of the file"]);

        var h = (ulong)ValidHeader.Length;
        foreach (var declared in new[] { h + 33, h + 100, (ulong)valid.Length })
            yield return ($"header-length-{declared}-past-end", SafeTensors(ValidHeader, 32, declared), ["header length", "past the end of the file"]);
        foreach (var declared in new[] { 9_999_999_999UL, ulong.MaxValue, 1UL << 63, 100UL * 1024 * 1024 + 1 })
            yield return ($"header-length-{declared}-huge", SafeTensors(ValidHeader, 32, declared), [$"header length {declared}", "exceeds the limit"]);
        yield return ("header-length-zero", SafeTensors(ValidHeader, 32, 0), ["does not start with '{'"]);
        foreach (var declared in new[] { 1UL, h - 1, h / 2 })
            yield return ($"header-length-{declared}-short", SafeTensors(ValidHeader, 32, declared), ["not valid JSON"]);

        foreach (var (name, header) in new[]
                 {
                     ("array", "[1, 2]"), ("string", "\"tensors\""), ("number", "42"), ("null", "null"), ("spaces", "   {}"),
                     ("bom", "\uFEFF{}"), ("binary", "\u0001\u0002garbage"),
                 })
            yield return ($"header-{name}", SafeTensors(header, 0), ["does not start with '{'"]);
        foreach (var (name, header) in new[]
                 {
                     ("unclosed", "{\"a\": {\"dtype\": \"F32\""), ("missing-value", "{\"a\": }"), ("trailing-comma", "{\"a\": 1,}"),
                     ("garbage-after", "{} trailing"), ("single-quotes", "{'a': 1}"), ("comment", "{/* c */}"),
                     ("deep", "{\"a\": " + new string('[', 5000) + new string(']', 5000) + "}"), ("unquoted-key", "{a: 1}"),
                 })
            yield return ($"header-{name}", SafeTensors(header, 0), ["not valid JSON"]);
        foreach (var (name, bytes) in new (string, byte[])[]
                 {
                     ("ff", [0xFF]), ("overlong", [0xC0, 0x80]), ("surrogate", [0xED, 0xA0, 0x80]), ("cut-sequence", [0xE2, 0x82]),
                     ("continuation", [0x80]), ("latin1", [0xE9]),
                 })
            yield return ($"header-non-utf8-{name}",
                SafeTensors([.. "{\"__metadata__\": {\"note\": \""u8, .. bytes, .. "\"}}"u8], 0), ["not valid UTF-8"]);

        foreach (var (name, value) in new[] { ("number", "3"), ("string", "\"F32\""), ("array", "[]"), ("null", "null"), ("true", "true") })
            yield return ($"entry-{name}", SafeTensors("{\"a\": " + value + "}", 0), ["tensor 'a'", "not an object"]);
        foreach (var (name, entry) in new[]
                 {
                     ("missing", "{\"shape\": [1], \"data_offsets\": [0, 4]}"), ("number", "{\"dtype\": 3, \"shape\": [1], \"data_offsets\": [0, 4]}"),
                     ("null", "{\"dtype\": null, \"shape\": [1], \"data_offsets\": [0, 4]}"),
                 })
            yield return ($"dtype-{name}", SafeTensors("{\"a\": " + entry + "}", 4), ["tensor 'a'", "missing dtype"]);
        foreach (var dtype in new[] { "F8_E4M3", "float32", "", "f32", "Q4_0", "F128", "C64", "U64" })
            yield return ($"dtype-unknown-{(dtype == "" ? "empty" : dtype)}", SafeTensors(OneEntry(dtype, "[1]", "[0, 4]"), 4), [$"unknown dtype '{dtype}'"]);
        foreach (var (name, shape) in new[] { ("string", "\"4\""), ("object", "{}"), ("null", "null"), ("number", "4") })
            yield return ($"shape-{name}", SafeTensors(OneEntry("F32", shape, "[0, 4]"), 4), ["tensor 'a'", "missing shape"]);
        yield return ("shape-missing", SafeTensors("{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4), ["tensor 'a'", "missing shape"]);
        foreach (var (name, shape) in new[]
                 {
                     ("negative", "[-1]"), ("fractional", "[1.5]"), ("string", "[\"4\"]"), ("null", "[null]"), ("bool", "[true]"),
                     ("nested", "[[4]]"), ("beyond-int64", "[1e30]"), ("min-int64", "[-9223372036854775808]"),
                 })
            yield return ($"shape-entry-{name}", SafeTensors(OneEntry("F32", shape, "[0, 4]"), 4), ["tensor 'a'", "shape entry 0"]);
        foreach (var (name, shape) in new[] { ("huge", "[1000000000000, 1000000000000]"), ("overflowing", "[4611686018427387904, 4]"), ("one-huge", "[9223372036854775807]") })
            yield return ($"shape-{name}", SafeTensors(OneEntry("F32", shape, "[0, 16]"), 16), ["tensor 'a'", "declares more data than the file holds"]);
        foreach (var (name, offsets) in new[] { ("one", "[0]"), ("three", "[0, 4, 8]"), ("string", "\"0,4\""), ("object", "{}"), ("empty", "[]") })
            yield return ($"offsets-{name}", SafeTensors(OneEntry("F32", "[1]", offsets), 4), ["tensor 'a'", "data_offsets must be [begin, end]"]);
        yield return ("offsets-missing", SafeTensors("{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4), ["tensor 'a'", "data_offsets must be [begin, end]"]);
        foreach (var (name, offsets) in new[]
                 {
                     ("strings", "[\"0\", \"4\"]"), ("negative", "[-4, 0]"), ("reversed", "[4, 0]"), ("fractional", "[0.5, 4]"),
                     ("null", "[null, 4]"), ("beyond-int64", "[0, 1e30]"),
                 })
            yield return ($"offsets-{name}", SafeTensors(OneEntry("F32", "[1]", offsets), 4), ["tensor 'a'", "not two integers"]);
        foreach (var (name, end) in new[] { ("past-data", 8L), ("far-past-data", 1_000_000_000_000L) })
            yield return ($"offsets-{name}", SafeTensors(OneEntry("F32", "[1]", $"[4, {end}]"), 4), ["tensor 'a'", "past the end of the file"]);

        string Two(string a, string b) => "{" + a + ", " + b + "}";
        yield return ("overlap", SafeTensors(Two(Entry("a", "F32", "[4]", 0, 16), Entry("b", "F32", "[4]", 8, 24)), 24), ["'a'", "'b'", "overlap"]);
        yield return ("same-span", SafeTensors(Two(Entry("a", "F32", "[4]", 0, 16), Entry("b", "F32", "[4]", 0, 16)), 16), ["overlap"]);
        yield return ("inside-another", SafeTensors(Two(Entry("a", "F32", "[8]", 0, 32), Entry("b", "F32", "[2]", 8, 16)), 32), ["overlap"]);
        yield return ("gap", SafeTensors(Two(Entry("a", "F32", "[4]", 0, 16), Entry("b", "F32", "[4]", 24, 40)), 40), ["tensor 'b'", "gap of 8 bytes"]);
        yield return ("gap-at-start", SafeTensors(OneEntry("F32", "[1]", "[4, 8]"), 8), ["tensor 'a'", "gap of 4 bytes"]);
        yield return ("span-past-end", SafeTensors(Two(Entry("a", "F32", "[4]", 0, 16), Entry("b", "F32", "[4]", 16, 32)), 20), ["tensor 'b'", "past the end of the file"]);
        yield return ("trailing-bytes", SafeTensors(OneEntry("F32", "[4]", "[0, 16]"), 24), ["8 bytes after the last tensor"]);
        yield return ("no-tensors-but-data", SafeTensors("{}", 32), ["32 bytes after the last tensor"]);
        yield return ("duplicate-name", SafeTensors(Two(Entry("a", "F32", "[4]", 0, 16), Entry("a", "F32", "[4]", 16, 32)), 32), ["tensor 'a'", "declared twice"]);
        foreach (var (name, dtype, shape, span, expected) in new[]
                 {
                     ("f32", "F32", "[2, 3]", 32, 24), ("f16", "F16", "[4]", 16, 8), ("bf16", "BF16", "[3]", 8, 6), ("i64", "I64", "[1]", 4, 8),
                     ("scalar", "F32", "[]", 8, 4), ("zero-dim", "F32", "[0, 4]", 4, 0), ("bool", "BOOL", "[3]", 4, 3),
                 })
            yield return ($"shape-bytes-mismatch-{name}", SafeTensors(OneEntry(dtype, shape, $"[0, {span}]"), span), ["tensor 'a'", $"is {expected} bytes but its span is {span} bytes"]);
        foreach (var (name, value) in new[] { ("number", "3"), ("array", "[]"), ("string", "\"x\"") })
            yield return ($"metadata-{name}", SafeTensors("{\"__metadata__\": " + value + "}", 0), ["__metadata__ is not an object"]);
        foreach (var (name, value) in new[] { ("number", "1"), ("null", "null"), ("object", "{}") })
            yield return ($"metadata-value-{name}", SafeTensors("{\"__metadata__\": {\"format\": " + value + "}}", 0), ["'format'", "is not a string"]);
    }

    static string[] WeightFiles =>
    [
        "transformer/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors", "text_encoder_2/model.safetensors",
    ];

    /// <summary>Every defect twice: alone through `studio bench load`, and as one of the pipeline's weight files through `studio sample`.</summary>
    static IEnumerable<Case> SafeTensorsCases() => SafeTensorsDefects().SelectMany((d, i) => new[]
    {
        new Case($"safetensors/{d.Name}/bench-load", false, "model.safetensors", d.Fault, _ => [("model.safetensors", d.Bytes)]),
        new Case($"safetensors/{d.Name}/sample", true, WeightFiles[i % WeightFiles.Length], d.Fault, _ => [(WeightFiles[i % WeightFiles.Length], d.Bytes)]),
    });

    // ---------------------------------------------------------------- configs

    /// <summary>A pipeline case whose <paramref name="file"/> (a JSON object) is changed by <paramref name="edit"/>.</summary>
    static Case Json(string name, string file, string[] fault, Action<JsonObject> edit) => new($"config/{name}", true, file, fault, folder =>
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, file)))!.AsObject();
        edit(json);
        return [(file, Encoding.UTF8.GetBytes(json.ToJsonString()))];
    });

    static Case Raw(string category, string name, string file, string[] fault, byte[]? bytes) => new($"{category}/{name}", true, file, fault, _ => [(file, bytes)]);

    /// <summary>Damage every JSON file can take: gone, empty, not JSON, not an object, not UTF-8.</summary>
    static IEnumerable<Case> Unreadable(string category, string tag, string file, string[] missingFault)
    {
        yield return Raw(category, $"{tag}-missing", file, missingFault, null);
        yield return Raw(category, $"{tag}-empty", file, ["not valid JSON"], []);
        yield return Raw(category, $"{tag}-truncated", file, ["not valid JSON"], "{\"_class_name\": \"Fl"u8.ToArray());
        yield return Raw(category, $"{tag}-array", file, ["not a JSON object"], "[1, 2, 3]"u8.ToArray());
        yield return Raw(category, $"{tag}-non-utf8", file, ["not valid UTF-8"], [.. "{\"_note\": \""u8, 0xFF, 0xFE, .. "\"}"u8]);
    }

    static IEnumerable<Case> ConfigCases()
    {
        const string index = "model_index.json", transformer = "transformer/config.json", t5 = "text_encoder_2/config.json",
            clip = "text_encoder/config.json", vae = "vae/config.json", scheduler = "scheduler/scheduler_config.json";
        foreach (var c in Unreadable("config", "model-index", index, ["no such config file"])) yield return c;
        yield return Json("model-index-class-number", index, ["'_class_name'", "must be a string"], j => j["_class_name"] = 3);
        yield return Json("model-index-class-other", index, ["'_class_name'", "'StableDiffusionXLPipeline'", "not supported"], j => j["_class_name"] = "StableDiffusionXLPipeline");

        foreach (var c in Unreadable("config", "transformer", transformer, ["no such config file"])) yield return c;
        foreach (var field in new[] { "num_attention_heads", "attention_head_dim", "in_channels", "joint_attention_dim", "pooled_projection_dim", "num_layers" })
        {
            yield return Json($"transformer-{field}-string", transformer, [$"'{field}'", "must be an integer", "\"2\""], j => j[field] = "2");
            yield return Json($"transformer-{field}-fraction", transformer, [$"'{field}'", "must be an integer", "1.5"], j => j[field] = 1.5);
        }
        foreach (var field in new[] { "num_attention_heads", "attention_head_dim", "in_channels", "patch_size" })
            yield return Json($"transformer-{field}-zero", transformer, [$"'{field}'", "must be positive"], j => j[field] = 0);
        yield return Json("transformer-num-layers-negative", transformer, ["'num_layers'", "must not be negative"], j => j["num_layers"] = -1);
        yield return Json("transformer-head-dim-vs-rope", transformer, ["'axes_dims_rope'", "attention_head_dim 20"], j => j["attention_head_dim"] = 20);
        yield return Json("transformer-rope-odd", transformer, ["'axes_dims_rope'", "even"], j => j["axes_dims_rope"] = new JsonArray(3, 7, 6));
        yield return Json("transformer-rope-not-list", transformer, ["'axes_dims_rope'", "list of integers"], j => j["axes_dims_rope"] = "4,6,6");
        yield return Json("transformer-rope-item", transformer, ["'axes_dims_rope'", "item 1"], j => j["axes_dims_rope"] = new JsonArray(4, "6", 6));
        yield return Json("transformer-guidance-string", transformer, ["'guidance_embeds'", "true or false"], j => j["guidance_embeds"] = "yes");
        // Heads x head width no longer matches the stored weights (2 x 16 = 32 wide): the error names the weights and the config.
        yield return Json("transformer-heads-vs-weights", transformer, ["diffusion_pytorch_model.safetensors does not fit", "shape mismatches"], j => j["num_attention_heads"] = 4);
        yield return Json("transformer-layers-vs-weights", transformer, ["diffusion_pytorch_model.safetensors does not fit", "missing: transformer_blocks.1."], j => j["num_layers"] = 3);
        // Configs that disagree with another part are refused before any weights load.
        yield return Json("transformer-joint-vs-t5", transformer, ["'joint_attention_dim' is 48", "text_encoder_2/config.json", "d_model 64"], j => j["joint_attention_dim"] = 48);
        yield return Json("transformer-pooled-vs-clip", transformer, ["'pooled_projection_dim' is 48", "text_encoder/config.json", "hidden_size 32"], j => j["pooled_projection_dim"] = 48);

        foreach (var c in Unreadable("config", "t5", t5, ["no such config file"])) yield return c;
        foreach (var field in new[] { "vocab_size", "d_model", "d_kv", "num_heads", "d_ff", "num_layers" })
        {
            yield return Json($"t5-{field}-missing", t5, [$"'{field}'", "is missing"], j => j.Remove(field));
            yield return Json($"t5-{field}-string", t5, [$"'{field}'", "must be an integer"], j => j[field] = "8");
            yield return Json($"t5-{field}-zero", t5, [$"'{field}'", "positive integer"], j => j[field] = 0);
        }
        yield return Json("t5-model-type", t5, ["'model_type'", "'bert'", "not a T5 config"], j => j["model_type"] = "bert");
        yield return Json("t5-ff-proj-shape", t5, ["'feed_forward_proj'", "gated-ACT"], j => j["feed_forward_proj"] = "swish-gated");
        yield return Json("t5-ff-proj-activation", t5, ["'feed_forward_proj'", "'nonsense'"], j => j["feed_forward_proj"] = "gated-nonsense");
        yield return Json("t5-epsilon-negative", t5, ["'layer_norm_epsilon'", "must not be negative"], j => j["layer_norm_epsilon"] = -1);
        yield return Json("t5-dropout-string", t5, ["'dropout_rate'", "must be a number"], j => j["dropout_rate"] = "none");
        // num_heads x d_kv (the attention width) no longer matches the stored weights.
        yield return Json("t5-heads-vs-weights", t5, ["text_encoder_2/model.safetensors does not fit", "shape mismatches"], j => j["num_heads"] = 4);
        // A narrower d_model no longer gives the transformer's joint_attention_dim: refused before the weights.
        yield return Json("t5-d-model-vs-weights", t5, ["'joint_attention_dim' is 64", "d_model 48"], j => j["d_model"] = 48);

        foreach (var c in Unreadable("config", "clip", clip, ["no such config file"])) yield return c;
        foreach (var field in new[] { "hidden_size", "num_attention_heads", "intermediate_size", "num_hidden_layers" })
            yield return Json($"clip-{field}-string", clip, [$"'{field}'", "must be an integer"], j => j[field] = "x");
        yield return Json("clip-heads-not-dividing", clip, ["'num_attention_heads' (5)", "must divide hidden_size (32)"], j => j["num_attention_heads"] = 5);
        yield return Json("clip-heads-zero", clip, ["'num_attention_heads'"], j => j["num_attention_heads"] = 0);
        yield return Json("clip-activation", clip, ["'hidden_act'", "'nonsense'"], j => j["hidden_act"] = "nonsense");
        yield return Json("clip-vocab-below-tokenizer", clip, ["'vocab_size' is 1000", "tokenizer", "ids up to 49407"], j => j["vocab_size"] = 1000);

        foreach (var c in Unreadable("config", "vae", vae, ["config.json"])) yield return c;
        yield return Json("vae-latent-channels-string", vae, ["'latent_channels'", "must be an integer"], j => j["latent_channels"] = "16");
        yield return Json("vae-blocks-not-list", vae, ["'block_out_channels'", "list of integers"], j => j["block_out_channels"] = 32);
        yield return Json("vae-scaling-string", vae, ["'scaling_factor'", "must be a number"], j => j["scaling_factor"] = "big");
        yield return Json("vae-groups-not-dividing", vae, ["'norm_num_groups'"], j => j["norm_num_groups"] = 7);

        foreach (var c in Unreadable("config", "scheduler", scheduler, ["scheduler_config.json"])) yield return c;
        yield return Json("scheduler-shift-string", scheduler, ["'shift'", "must be a number"], j => j["shift"] = "x");
        yield return Json("scheduler-timesteps-zero", scheduler, ["'num_train_timesteps'"], j => j["num_train_timesteps"] = 0);
        yield return Json("scheduler-timesteps-string", scheduler, ["'num_train_timesteps'", "must be an integer"], j => j["num_train_timesteps"] = "1000");
        yield return Json("scheduler-dynamic-string", scheduler, ["'use_dynamic_shifting'", "true or false"], j => j["use_dynamic_shifting"] = "yes");
    }

    // ---------------------------------------------------------------- tokenizers

    /// <summary>A small valid `spiece.model` (the T5 pieces the toy prompts need do not matter: unknown text is `&lt;unk&gt;`).</summary>
    static byte[] Spiece(int unkId = 2, int pieces = 6, byte[]? trainerTail = null)
    {
        var list = new List<SentencePiece>
        {
            new("<pad>", 0, PieceType.Control), new("</s>", 0, PieceType.Control), new("<unk>", 0, PieceType.Unknown),
            new("\u2581a", -1, PieceType.Normal), new("\u2581red", -2, PieceType.Normal), new("\u2581circle", -3, PieceType.Normal),
        }.Take(pieces).ToList();
        return [.. SentencePieceModelFile.Write(list, unkId, bosId: -1, eosId: list.Count > 1 ? 1 : -1, padId: 0, precompiledCharsMap: []), .. trainerTail ?? []];
    }

    /// <summary>`tokenizer_2` as a spiece.model folder: tokenizer.json gone, these files instead.</summary>
    static Case Spm(string name, string named, string[] fault, byte[]? model, string? config = null) =>
        new($"tokenizer/{name}", true, named, fault, _ =>
        [
            ("tokenizer_2/tokenizer.json", null), ("tokenizer_2/spiece.model", model),
            ("tokenizer_2/tokenizer_config.json", config is null ? null : Encoding.UTF8.GetBytes(config)),
        ]);

    static Case T5Json(string name, string[] fault, Action<JsonObject> edit) => Json(name, "tokenizer_2/tokenizer.json", fault, edit) with { Name = $"tokenizer/{name}" };

    static Case ClipJson(string name, string file, string[] fault, Action<JsonObject> edit) => Json(name, $"tokenizer/{file}", fault, edit) with { Name = $"tokenizer/{name}" };

    static IEnumerable<Case> TokenizerCases()
    {
        const string t5Json = "tokenizer_2/tokenizer.json";
        yield return Raw("tokenizer", "t5-json-missing", "tokenizer_2", ["not a T5 or CLIP tokenizer folder"], null) with { Files = _ => [(t5Json, null)] };
        yield return Raw("tokenizer", "t5-json-empty", t5Json, ["not valid JSON"], []);
        yield return Raw("tokenizer", "t5-json-truncated", t5Json, ["not valid JSON"], "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\""u8.ToArray());
        yield return Raw("tokenizer", "t5-json-non-utf8", t5Json, ["not valid UTF-8"], [.. "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\""u8, 0xC0, 0xAF, .. "\", 0.0]]}}"u8]);
        yield return Raw("tokenizer", "t5-json-array", t5Json, ["not a JSON object"], "[]"u8.ToArray());
        yield return T5Json("t5-json-no-model", ["'model' is missing", "Unigram"], j => j.Remove("model"));
        yield return T5Json("t5-json-bpe", ["model.type is 'BPE', not Unigram"], j => j["model"]!["type"] = "BPE");
        yield return T5Json("t5-json-vocab-missing", ["'model.vocab' is missing"], j => j["model"]!.AsObject().Remove("vocab"));
        yield return T5Json("t5-json-vocab-string", ["'model.vocab' must be a list"], j => j["model"]!["vocab"] = "pieces");
        yield return T5Json("t5-json-vocab-empty", ["unk_id", "outside the 0 pieces"], j => j["model"]!["vocab"] = new JsonArray());
        yield return T5Json("t5-json-vocab-score-string", ["vocab", "piece 0"], j => j["model"]!["vocab"]![0] = new JsonArray("<pad>", "high"));
        yield return T5Json("t5-json-vocab-piece-number", ["vocab", "piece 1"], j => j["model"]!["vocab"]![1] = new JsonArray(5, 0.0));
        yield return T5Json("t5-json-vocab-piece-short", ["vocab", "piece 2"], j => j["model"]!["vocab"]![2] = new JsonArray("<unk>"));
        yield return T5Json("t5-json-unk-missing", ["'model.unk_id' is missing"], j => j["model"]!.AsObject().Remove("unk_id"));
        yield return T5Json("t5-json-unk-string", ["'model.unk_id' must be a number"], j => j["model"]!["unk_id"] = "2");
        yield return T5Json("t5-json-unk-outside", ["unk_id 99999999", "outside"], j => j["model"]!["unk_id"] = 99999999);
        yield return T5Json("t5-json-unk-negative", ["unk_id -1", "outside"], j => j["model"]!["unk_id"] = -1);
        yield return T5Json("t5-json-byte-fallback", ["byte_fallback"], j => j["model"]!["byte_fallback"] = true);
        yield return T5Json("t5-json-added-missing", ["'added_tokens'"], j => j.Remove("added_tokens"));
        yield return T5Json("t5-json-added-no-eos", ["no </s> token"], j => j["added_tokens"] = new JsonArray(new JsonObject { ["id"] = 0, ["content"] = "<pad>" }));
        yield return T5Json("t5-json-added-no-pad", ["no <pad> token"], j => j["added_tokens"] = new JsonArray(new JsonObject { ["id"] = 1, ["content"] = "</s>" }));
        yield return T5Json("t5-json-added-id-string", ["'added_tokens[0].id' must be a number"], j => j["added_tokens"]![0]!["id"] = "zero");
        yield return T5Json("t5-json-added-id-outside", ["added_tokens", "40000"], j => j["added_tokens"]![0]!["id"] = 40000);
        yield return T5Json("t5-json-added-twice", ["added_tokens", "'</s>'", "twice"], j => j["added_tokens"]!.AsArray().Add(new JsonObject { ["id"] = 5, ["content"] = "</s>" }));
        yield return T5Json("t5-json-no-metaspace", ["no Metaspace pre-tokenizer"], j => j["pre_tokenizer"] = null);
        yield return T5Json("t5-json-prepend-unknown", ["prepend_scheme 'sometimes'"], j => SetPrepend(j, "sometimes"));
        yield return T5Json("t5-json-charsmap-not-base64", ["precompiled_charsmap"], j => SetCharsMap(j, "!!not base64!!"));
        yield return T5Json("t5-json-charsmap-garbage", ["precompiled_charsmap"], j => SetCharsMap(j, Convert.ToBase64String([1, 2, 3])));

        const string spiece = "tokenizer_2/spiece.model";
        yield return Spm("spiece-garbage", spiece, ["not a sentencepiece model"], [0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01]);
        yield return Spm("spiece-empty", spiece, ["no pieces"], []);
        yield return Spm("spiece-truncated", spiece, ["not a sentencepiece model"], Spiece()[..40]);
        // Protobuf merges a repeated TrainerSpec: a second one appended moves unk_id (9), changes the model type to BPE (2)
        // or turns on byte fallback.
        yield return Spm("spiece-unk-outside", spiece, ["unk_id 9", "outside"], Spiece(trainerTail: [0x12, 0x03, 0xC0, 0x02, 0x09]));
        yield return Spm("spiece-bpe", spiece, ["not unigram"], Spiece(trainerTail: [0x12, 0x02, 0x18, 0x02]));
        yield return Spm("spiece-byte-fallback", spiece, ["byte-fallback"], Spiece(trainerTail: [0x12, 0x03, 0x98, 0x02, 0x01]));
        yield return Spm("spiece-no-eos", spiece, ["no </s> token"], Spiece(pieces: 1, unkId: 0));
        yield return Spm("spiece-config-not-json", "tokenizer_2/tokenizer_config.json", ["not valid JSON"], Spiece(), "{extra_ids: 1");
        yield return Spm("spiece-config-array", "tokenizer_2/tokenizer_config.json", ["not a JSON object"], Spiece(), "[1]");
        yield return Spm("spiece-extra-ids-negative", "tokenizer_2/tokenizer_config.json", ["'extra_ids'", "-1"], Spiece(), "{\"extra_ids\": -1}");
        yield return Spm("spiece-extra-ids-huge", "tokenizer_2/tokenizer_config.json", ["'extra_ids'", "2000000000"], Spiece(), "{\"extra_ids\": 2000000000}");
        yield return Spm("spiece-extra-ids-string", "tokenizer_2/tokenizer_config.json", ["'extra_ids'", "must be an integer"], Spiece(), "{\"extra_ids\": \"100\"}");
        yield return Spm("spiece-missing-too", "tokenizer_2", ["not a T5 or CLIP tokenizer folder"], null);

        const string vocab = "tokenizer/vocab.json", merges = "tokenizer/merges.txt";
        yield return Raw("tokenizer", "clip-vocab-missing", "tokenizer", ["not a T5 or CLIP tokenizer folder"], null) with { Files = _ => [(vocab, null)] };
        yield return Raw("tokenizer", "clip-merges-missing", "tokenizer", ["not a T5 or CLIP tokenizer folder"], null) with { Files = _ => [(merges, null)] };
        yield return Raw("tokenizer", "clip-vocab-empty-file", vocab, ["not valid JSON"], []);
        yield return Raw("tokenizer", "clip-vocab-not-json", vocab, ["not valid JSON"], "{\"a\": 1,"u8.ToArray());
        yield return Raw("tokenizer", "clip-vocab-array", vocab, ["not a JSON object"], "[\"a\"]"u8.ToArray());
        yield return Raw("tokenizer", "clip-vocab-non-utf8", vocab, ["not valid UTF-8"], [.. "{\""u8, 0xFF, .. "\": 1}"u8]);
        yield return Raw("tokenizer", "clip-vocab-empty-object", vocab, ["no <|startoftext|> token"], "{}"u8.ToArray());
        yield return ClipJson("clip-vocab-id-string", "vocab.json", ["id of 'a'", "not an integer"], j => j["a"] = "one");
        yield return ClipJson("clip-vocab-id-fraction", "vocab.json", ["id of 'a'", "not an integer"], j => j["a"] = 1.5);
        yield return ClipJson("clip-vocab-id-negative", "vocab.json", ["id of 'a'", "-3"], j => j["a"] = -3);
        yield return ClipJson("clip-vocab-no-bos", "vocab.json", ["no <|startoftext|> token"], j => j.Remove("<|startoftext|>"));
        yield return ClipJson("clip-vocab-no-eos", "vocab.json", ["no <|endoftext|> token"], j => j.Remove("<|endoftext|>"));
        yield return Raw("tokenizer", "clip-merges-three-parts", merges, ["line 2", "two tokens"], "#version: 0.2\na b c\n"u8.ToArray());
        yield return Raw("tokenizer", "clip-merges-one-part", merges, ["line 2", "two tokens"], "#version: 0.2\nab\n"u8.ToArray());
        yield return Raw("tokenizer", "clip-merges-unknown-token", merges, ["line 2", "not in the vocabulary"], "#version: 0.2\n\u00e9\u00e9\u00e9 zzzq\n"u8.ToArray());
        yield return Raw("tokenizer", "clip-merges-non-utf8", merges, ["not valid UTF-8"], [.. "#version: 0.2\na "u8, 0xFF, (byte)'\n']);
        yield return Raw("tokenizer", "clip-special-map-not-json", "tokenizer/special_tokens_map.json", ["not valid JSON"], "{\"pad_token\": "u8.ToArray());
        yield return Raw("tokenizer", "clip-special-map-unknown-pad", "tokenizer/special_tokens_map.json", ["pad_token '<nope>'", "not in the vocabulary"], "{\"pad_token\": \"<nope>\"}"u8.ToArray());
    }

    static void SetPrepend(JsonObject tokenizer, string scheme)
    {
        foreach (var node in Descendants(tokenizer["pre_tokenizer"]))
            if (node["type"]?.GetValue<string>() == "Metaspace") node["prepend_scheme"] = scheme;
    }

    static void SetCharsMap(JsonObject tokenizer, string value)
    {
        foreach (var node in Descendants(tokenizer["normalizer"]))
            if (node["type"]?.GetValue<string>() == "Precompiled") node["precompiled_charsmap"] = value;
    }

    static IEnumerable<JsonObject> Descendants(JsonNode? node) => node switch
    {
        JsonObject o => [o, .. o.Select(p => p.Value).SelectMany(Descendants)],
        JsonArray a => a.SelectMany(Descendants),
        _ => [],
    };
}
