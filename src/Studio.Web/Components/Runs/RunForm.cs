using Studio.Core.Runs;

namespace Studio.Web.Components.Runs;

/// <summary>What the run form's fields share (cascaded to <c>RunField</c>): the problems by field, and what to do after an edit.</summary>
public sealed class RunForm(Func<IReadOnlyList<FieldProblem>> problems, Action changed)
{
    /// <summary>The messages of the problems tied to <paramref name="field"/>, joined; null when it has none.</summary>
    public string? Error(string field) =>
        problems().Where(p => p.Field == field).Select(p => p.Message).ToList() is { Count: > 0 } m ? string.Join("; ", m) : null;

    public void Changed() => changed();
}
