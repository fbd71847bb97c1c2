using Studio.Core.Data;

namespace Studio.Web.Components.Runs;

/// <summary>How a typed search finds runs, wherever runs are searched (the Runs page, Compare's run picker).</summary>
public static class RunSearch
{
    /// <summary>A part of the name, the notes or the group (any case), or the id with or without its '#'; an empty search finds every run.</summary>
    public static bool Matches(Run run, string? search)
    {
        var text = search?.Trim();
        if (string.IsNullOrEmpty(text)) return true;
        return run.Name.Contains(text, StringComparison.OrdinalIgnoreCase) || run.Id.ToString() == text.TrimStart('#')
            || (run.Notes?.Contains(text, StringComparison.OrdinalIgnoreCase) ?? false)
            || (run.Group?.Contains(text, StringComparison.OrdinalIgnoreCase) ?? false);
    }
}
