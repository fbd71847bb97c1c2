using System.Text.Json;

namespace Studio.Ml.Toy;

/// <summary>One line of a prompts.jsonl: the prompt, its category and scene, and the image file made from it
/// (relative to the folder of the prompts.jsonl).</summary>
public sealed record ToyPromptLine(int Index, string Image, string Category, string Prompt, ToyScene Scene)
{
    public ToyPrompt ToPrompt() => new(Prompt, Category, Scene);
}

/// <summary>Reads and writes prompts.jsonl files: one JSON object per line, as <see cref="ToyJson"/> shapes them.</summary>
public static class ToyPromptFile
{
    public const string FileName = "prompts.jsonl";

    /// <summary>Writes atomically (a temporary file, then a rename).</summary>
    public static void Write(string path, IEnumerable<ToyPromptLine> lines)
    {
        var full = Path.GetFullPath(path);
        var temp = full + ".tmp";
        using (var writer = new StreamWriter(temp))
            foreach (var line in lines) writer.WriteLine(JsonSerializer.Serialize(line, ToyJson.Options));
        File.Move(temp, full, overwrite: true);
    }

    /// <summary>Reads and validates every line; errors name the file, the line and the field.</summary>
    public static IReadOnlyList<ToyPromptLine> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such prompts file", path);
        var result = new List<ToyPromptLine>();
        int number = 0;
        foreach (var text in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            var at = $"{path}:{number}";
            ToyPromptLine? line;
            try { line = JsonSerializer.Deserialize<ToyPromptLine>(text, ToyJson.Options); }
            catch (JsonException e) { throw new ToySceneException($"{at}: {e.Message}", e); }
            if (line is null) throw new ToySceneException($"{at}: is null, expected a prompt object");
            if (!ToyCriteria.Categories.Contains(line.Category))
                throw new ToySceneException($"{at}: category '{line.Category}' is not one of {string.Join(", ", ToyCriteria.Categories)}");
            try { line.Scene.Validate(); }
            catch (ToySceneException e) { throw new ToySceneException($"{at}: {e.Message}", e); }
            result.Add(line);
        }
        return result;
    }
}
