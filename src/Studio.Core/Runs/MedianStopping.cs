using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Live;

namespace Studio.Core.Runs;

/// <summary>
/// validation.prune: median (the median stopping rule of Google Vizier, Optuna's MedianPruner): at a validation, a run
/// stops when its best held-out vision loss so far is worse than the median of the best ones, up to the same step, of
/// the other runs of its group that got at least that far. Fewer than <see cref="MinimumOthers"/> such runs, or no
/// group, and it goes on. The held-out loss of a validation is the mean over its categories.
/// </summary>
public static class MedianStopping
{
    public const int MinimumOthers = 3;

    /// <summary>Why the run stops at <paramref name="step"/> with <paramref name="best"/> as its best so far, or null.</summary>
    public static string? Decide(string group, long step, double best, IEnumerable<RunData.HeldOutMean> others)
    {
        var bests = others.GroupBy(v => v.RunId)
            .Where(run => run.Max(v => v.Step) >= step)
            .Select(run => run.Where(v => v.Step <= step && double.IsFinite(v.Loss)).Select(v => v.Loss).DefaultIfEmpty(double.NaN).Min())
            .Where(double.IsFinite).Order().ToList();
        if (bests.Count < MinimumOthers) return null;
        var median = bests.Count % 2 == 1 ? bests[bests.Count / 2] : (bests[bests.Count / 2 - 1] + bests[bests.Count / 2]) / 2;
        return best > median
            ? $"stopped at step {step:N0} (validation.prune: median): its best held-out vision loss ({best:G4}) is worse than the median ({median:G4}) " +
              $"of the best ones of {bests.Count} other runs of group '{group}' up to this step"
            : null;
    }

    /// <summary>The decision for run <paramref name="runId"/>, from the validations its group's other runs have stored.</summary>
    public static string? Decide(IDbContextFactory<StudioDbContext> dbFactory, int runId, long step, double best)
    {
        using var db = dbFactory.CreateDbContext();
        if (db.Runs.AsNoTracking().Where(r => r.Id == runId).Select(r => r.Group).SingleOrDefault() is not { } group) return null;
        var others = db.Runs.AsNoTracking().Where(r => r.Group == group && r.Id != runId).Select(r => r.Id).ToList();
        // Only the runs that got as far, and only their validations up to this step (a later one marks how far they got).
        var reached = db.ValidationPoints.AsNoTracking().Where(v => others.Contains(v.RunId) && v.Step >= step).Select(v => v.RunId).Distinct().ToList();
        var validations = RunData.HeldOutMeans(db.ValidationPoints.AsNoTracking().Where(v => reached.Contains(v.RunId) && v.Step <= step)).ToList()
            .Concat(reached.Select(id => new RunData.HeldOutMean(id, step, double.NaN))); // each reached this step, whatever it scored
        return Decide(group, step, best, validations);
    }
}
