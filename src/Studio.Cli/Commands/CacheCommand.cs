using System.CommandLine;
using Studio.Core.Jobs;
using Studio.Ml;
using Studio.Ml.Distillation;
using Studio.Ml.Tensors;
using Studio.Ml.Text;
using static TorchSharp.torch;

namespace Studio.Cli;

/// <summary>`studio cache fill --teacher DIR --prompts FILE [--shard i/n]`: teacher T5 states into the shared cache.</summary>
public static class CacheCommand
{
    public static Command Create()
    {
        var teacher = new Option<string>("--teacher") { Description = "Teacher pipeline folder (text_encoder_2/, tokenizer_2/), or 'toy'", Required = true };
        var prompts = new Option<string>("--prompts") { Description = "A prompt file (txt, json, jsonl, csv) or a built-in set such as toy:train", Required = true };
        var shard = new Option<string>("--shard") { Description = "This worker's slice i/n of the prompts (e.g. 0/4)", DefaultValueFactory = _ => "0/1" };
        var maxLength = new Option<int?>("--max-length")
        {
            Description = $"Tokens per prompt, as the runs' text.max_length (default {new TextConfig().MaxLength}, or the teacher tokenizer's model_max_length when smaller: 32 for toy)",
        };
        var dtype = new Option<string>("--dtype") { Description = "Storage dtype: float32 or bf16", DefaultValueFactory = _ => "float32" };
        var cacheDir = new Option<string?>("--cache") { Description = "Cache folder; default DATA/cache/teacher-embeddings" };
        var device = DeviceOption.Create();
        var fill = new Command("fill", "Encode prompts with the teacher T5 once and store the states for every run.") { teacher, prompts, shard, maxLength, dtype, cacheDir, device };
        fill.SetAction((parse, cancel) =>
        {
            TorchRuntime.Initialise();
            if (DeviceOption.Resolve(parse, device) is not { } on) return Task.FromResult(1);
            var parts = parse.GetValue(shard)!.Split('/');
            if (parts.Length != 2 || !int.TryParse(parts[0], out var i) || !int.TryParse(parts[1], out var n) || n < 1 || i < 0 || i >= n)
                throw new ArgumentException($"--shard: '{parse.GetValue(shard)}' is not i/n with 0 <= i < n");
            var asked = parse.GetValue(maxLength);
            if (asked is < 1 or > 512) throw new ArgumentException($"--max-length: {asked} is not between 1 and 512");
            ScalarType storage;
            try { storage = DType.ParseFriendly(parse.GetValue(dtype)!); }
            catch (FormatException e) { throw new ArgumentException($"--dtype: {e.Message}"); }
            var run = new RunConfig { Teacher = new TeacherConfig { Pipeline = parse.GetValue(teacher)! } };
            var folder = DistillationSetup.ResolveTeacherFolder(run);
            var tokenizer = Path.Combine(folder, TeacherFamily.SlotTokenizer(TeacherFamily.Of(folder)));
            var limit = TextTokenizer.ModelMaxLength(tokenizer);
            if (asked > limit)
                throw new ArgumentException($"--max-length: {asked} exceeds the teacher tokenizer's model_max_length {limit} ({Path.Combine(tokenizer, "tokenizer_config.json")})");
            var runsDefault = new TextConfig().MaxLength;
            var tokens = asked ?? Math.Min(runsDefault, limit ?? int.MaxValue);
            if (asked is null) Console.WriteLine($"--max-length {tokens} (the runs' text.max_length default{(tokens < runsDefault ? ", cut to the teacher tokenizer's model_max_length" : "")})");
            var list = PromptSources.Resolve(new PromptSource { Set = parse.GetValue(prompts)! }, Path.GetFullPath, Console.Error.WriteLine)
                .Select(p => p.Text).Distinct().ToList();
            var directory = parse.GetValue(cacheDir) is { } d ? Path.GetFullPath(d) : DistillationRun.CacheDirectory(run, CliSettings.Options());
            DistillationSetup.FillCache(folder, list, tokens, attentionMask: false, storage,
                directory, on, e => Console.WriteLine(e.Message), cancel, out var cache, i, n);
            using (cache) Console.WriteLine($"cache {directory}: {cache.Count} prompts, {cache.BytesOnDisk / 1024.0 / 1024.0:0.0} MB");
            return Task.FromResult(0);
        });
        return new Command("cache", "The teacher-embedding cache.") { fill };
    }
}
