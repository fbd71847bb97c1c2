using System.Collections.Concurrent;

namespace Studio.Ml.Distillation;

/// <summary>
/// Prompt sets and teacher pipelines that a world outside the trainer provides by name (the toy world registers
/// `toy:...` prompt sets and the `toy` teacher), so the trainer resolves them without knowing who provides them.
/// </summary>
public static class BuiltInSources
{
    /// <summary>A family of named prompt sets: every name starting with <see cref="Prefix"/>.</summary>
    public sealed record PromptSetFamily(string Prefix, Func<string, IReadOnlyList<Prompt>> Resolve, Func<string, string?> Problem);

    static readonly ConcurrentDictionary<string, PromptSetFamily> PromptSets = new();
    static readonly ConcurrentDictionary<string, string> Teachers = new();

    public static void RegisterPromptSets(PromptSetFamily family) => PromptSets[family.Prefix] = family;

    public static void RegisterTeacher(string name, string folder) => Teachers[name] = folder;

    /// <summary>The family that provides <paramref name="set"/>, or null when it names a file.</summary>
    public static PromptSetFamily? PromptSetFamilyOf(string set) =>
        PromptSets.Values.FirstOrDefault(f => set.StartsWith(f.Prefix, StringComparison.Ordinal));

    /// <summary>The folder of a built-in teacher pipeline named <paramref name="name"/>, or null.</summary>
    public static string? TeacherFolder(string name) => Teachers.GetValueOrDefault(name);

    /// <summary>A pipeline named on a command line: a built-in teacher's name (`toy`) or a folder.</summary>
    public static string PipelineFolder(string nameOrFolder) => TeacherFolder(nameOrFolder) ?? Path.GetFullPath(nameOrFolder);
}
