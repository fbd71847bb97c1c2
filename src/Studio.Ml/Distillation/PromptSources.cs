using Studio.Ml.Data;
using Studio.Ml.Toy;

namespace Studio.Ml.Distillation;

/// <summary>
/// Turns a run's prompt sources into prompts: a prompt file (txt, JSON, JSONL, CSV; read by <see cref="PromptSetReader"/>)
/// or a built-in toy set named `toy:train[:CRITERION][:COUNT]` or `toy:heldout[:CRITERION][:COUNT]`
/// (CRITERION: all, image-quality, semantics, text, or a category such as semantics/colour).
/// </summary>
public static class PromptSources
{
    /// <summary>The seed of the built-in toy training sets (the held-out split has its own fixed seed).</summary>
    public const int ToyTrainSeed = 1;

    public static IReadOnlyList<Prompt> Resolve(PromptSource source, Func<string, string> resolvePath, Action<string>? warn = null)
    {
        if (source.Set.StartsWith("toy:", StringComparison.Ordinal)) return Toy(source.Set);
        var path = resolvePath(source.Set);
        if (!File.Exists(path)) throw new FileNotFoundException($"prompt set '{source.Set}': no such file {path}", path);
        var result = PromptSetReader.Read(path, new PromptReadOptions { DefaultCategory = source.Category ?? "uncategorised" });
        if (result.SkippedCount > 0)
        {
            warn?.Invoke(result.Summary);
            foreach (var issue in result.BadLines.Take(20)) warn?.Invoke($"{path}: {issue}");
        }
        if (result.Prompts.Count == 0) throw new InvalidDataException($"prompt set '{source.Set}' ({path}) holds no usable prompt: {result.Summary}");
        return result.Prompts.Select(p => new Prompt(p.Text, p.Category ?? source.Category ?? "uncategorised")).ToList();
    }

    /// <summary>Prompts in `toy:heldout` without a COUNT (also the Prompt sets page's built-in set of that name).</summary>
    public const int ToyHeldOutCount = 50;

    static IReadOnlyList<Prompt> Toy(string name)
    {
        var parts = name.Split(':');
        if (parts.Length is < 2 or > 4 || parts[1] is not ("train" or "heldout"))
            throw new ArgumentException($"prompt set '{name}': use toy:train[:CRITERION][:COUNT] or toy:heldout[:CRITERION][:COUNT]");
        var criterion = parts.Length > 2 && parts[2].Length > 0 ? parts[2] : ToyCriteria.All;
        var heldOut = parts[1] == "heldout";
        var count = parts.Length > 3
            ? int.TryParse(parts[3], out var n) && n > 0 ? n : throw new ArgumentException($"prompt set '{name}': COUNT must be a positive integer")
            : heldOut ? ToyHeldOutCount : 2000;
        var prompts = heldOut ? ToyPrompts.HeldOut(criterion, count) : ToyPrompts.Generate(criterion, count, ToyTrainSeed, ToySplit.Train);
        return prompts.Select(p => new Prompt(p.Text, p.Category)).ToList();
    }
}
