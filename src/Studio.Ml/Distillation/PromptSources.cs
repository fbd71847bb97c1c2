using Studio.Ml.Prompts;

namespace Studio.Ml.Distillation;

/// <summary>
/// Turns a run's prompt sources into prompts: a prompt file (txt, JSON, JSONL, CSV; read by <see cref="PromptSetReader"/>)
/// or a built-in set a world registered with <see cref="BuiltInSources"/> (the toy world's `toy:train[:CRITERION][:COUNT]`
/// and `toy:heldout[:CRITERION][:COUNT]`).
/// </summary>
public static class PromptSources
{
    public static IReadOnlyList<Prompt> Resolve(PromptSource source, Func<string, string> resolvePath, Action<string>? warn = null)
    {
        if (BuiltInSources.PromptSetFamilyOf(source.Set) is { } family) return family.Resolve(source.Set);
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
}
