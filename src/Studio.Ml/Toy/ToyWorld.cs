using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Studio.Ml.Distillation;

namespace Studio.Ml.Toy;

/// <summary>
/// The toy world's built-in names for the trainer: the `toy` teacher pipeline and the prompt sets
/// `toy:train[:CRITERION][:COUNT]` and `toy:heldout[:CRITERION][:COUNT]` (CRITERION: all, image-quality, semantics,
/// text, or a category such as semantics/colour). Registered when Studio.Ml loads, so every program and test that can
/// train can name them; the trainer itself does not know the toy world.
/// </summary>
public static class ToyWorld
{
    /// <summary>The seed of the built-in toy training sets (the held-out split has its own fixed seed).</summary>
    public const int TrainSeed = 1;

    /// <summary>Prompts in `toy:heldout` without a COUNT (also the Prompt sets page's built-in set of that name).</summary>
    public const int HeldOutCount = 50;

    const string Usage = "toy:train[:CRITERION][:COUNT] or toy:heldout[:CRITERION][:COUNT]";

    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "The toy world ships inside Studio.Ml and must be registered before any run names it.")]
    internal static void Register()
    {
        BuiltInSources.RegisterTeacher("toy", ToyTeacher.Folder);
        BuiltInSources.RegisterPromptSets(new BuiltInSources.PromptSetFamily("toy:", PromptSet, Problem));
    }

    /// <summary>What is wrong with the name of a toy prompt set, or null.</summary>
    public static string? Problem(string name)
    {
        var parts = Parts(name);
        if (parts.Length is < 2 or > 4 || parts[1] is not ("train" or "heldout")) return $"'{name}' is not {Usage}";
        if (parts.Length > 3 && !(int.TryParse(parts[3], out var n) && n > 0)) return $"'{name}': COUNT must be a positive integer";
        if (parts.Length > 2 && parts[2].Length > 0)
            try { ToyCriteria.Expand(parts[2]); }
            catch (ArgumentException e) { return $"'{name}': {e.Message}"; }
        return null;
    }

    /// <summary>The prompts of a toy prompt set.</summary>
    public static IReadOnlyList<Prompt> PromptSet(string name)
    {
        if (Problem(name) is { } problem) throw new ArgumentException($"prompt set {problem}");
        var parts = Parts(name);
        var criterion = parts.Length > 2 && parts[2].Length > 0 ? parts[2] : ToyCriteria.All;
        var heldOut = parts[1] == "heldout";
        var count = parts.Length > 3 ? int.Parse(parts[3]) : heldOut ? HeldOutCount : 2000;
        var prompts = heldOut ? ToyPrompts.HeldOut(criterion, count) : ToyPrompts.Generate(criterion, count, TrainSeed, ToySplit.Train);
        return prompts.Select(p => new Prompt(p.Text, p.Category)).ToList();
    }

    /// <summary>The name's parts, with a COUNT given without a CRITERION (`toy:train:64`, no criterion is a number) read as toy:train::64.</summary>
    static string[] Parts(string name)
    {
        var parts = name.Split(':');
        return parts.Length == 3 && parts[2].Length > 0 && parts[2].All(char.IsAsciiDigit) ? [parts[0], parts[1], "", parts[2]] : parts;
    }
}
