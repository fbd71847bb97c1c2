using Studio.Core.Runs;

namespace Studio.Core;

/// <summary>The ids a figure's address lists ("3,4,5": its rows or columns, in that order).</summary>
public static class FigureIds
{
    /// <summary>
    /// The distinct ids of query value <paramref name="query"/>, in their order; none, one that is not a positive id of a
    /// <paramref name="noun"/>, or more than <paramref name="max"/> is refused naming the query and the value.
    /// </summary>
    public static List<int> Parse(string? text, string query, string noun, string example, int max)
    {
        var parts = (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new RunActionException($"query '{query}': give the {noun}s to show, in their order ({query}={example})");
        if (parts.FirstOrDefault(p => !int.TryParse(p, out var id) || id < 1) is { } bad) throw new RunActionException($"query '{query}': '{bad}' is not a {noun} id");
        var ids = parts.Select(int.Parse).Distinct().ToList();
        if (ids.Count > max) throw new RunActionException($"query '{query}': {ids.Count} {noun}s; a figure holds at most {max}");
        return ids;
    }
}
