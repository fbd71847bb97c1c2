using System.Globalization;
using MudBlazor;
using Studio.Core.Data;

namespace Studio.Web.Components.Runs;

/// <summary>How run numbers read on the pages.</summary>
public static class RunFormat
{
    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> Figures = new();

    /// <summary>
    /// Whether a completed evaluation has a figure of its images. Its job writes the figure before it stores the row as
    /// completed, so the answer is final and each file is looked up once, not at every render of a live page.
    /// </summary>
    public static bool HasFigure(CheckpointEvaluation v) =>
        v.State == EvaluationState.Completed && v.FigurePath is { } path && Figures.GetOrAdd(path, File.Exists);

    /// <summary>Stages are stored from 0 (the index into the run's stages); people count them from 1, everywhere.</summary>
    public static string Stage(int index) => (index + 1).ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// How a run that stopped before its last update is marked: "pruned (halving)", "pruned (median)" or "stopped early
    /// (patience)" from the trainer's reason (<c>validation.prune: RULE</c> or <c>validation.patience</c> in it); "stopped
    /// early" when the reason is unknown.
    /// </summary>
    public static string StopLabel(string? reason) =>
        reason is null ? "stopped early"
        : System.Text.RegularExpressions.Regex.Match(reason, @"validation\.prune: (\w+)") is { Success: true } prune ? $"pruned ({prune.Groups[1].Value})"
        : reason.Contains("validation.patience", StringComparison.Ordinal) ? "stopped early (patience)"
        : "stopped early";

    public static Color StateColor(RunState state) => state switch
    {
        RunState.Queued => Color.Default,
        RunState.Running => Color.Info,
        RunState.Stopping => Color.Warning,
        RunState.Completed => Color.Success,
        RunState.Failed => Color.Error,
        RunState.Cancelled => Color.Dark,
        _ => Color.Default,
    };

    public static string Duration(double? seconds)
    {
        if (seconds is not { } s || !double.IsFinite(s) || s < 0) return "–";
        var t = TimeSpan.FromSeconds(s);
        return t.TotalHours >= 1 ? $"{(int)t.TotalHours}h {t.Minutes:00}m" : t.TotalMinutes >= 1 ? $"{t.Minutes}m {t.Seconds:00}s" : $"{t.Seconds}s";
    }

    public static string Time(DateTime? utc) =>
        utc is { } t ? DateTime.SpecifyKind(t, DateTimeKind.Utc).ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) : "–";

    /// <summary>An id as a link writes it (New run's ?from= and ?fork=, Generate's ?checkpoint=), or null when it is not a whole number: such a link names nothing that exists, which the page says, rather than an error of the page.</summary>
    public static int? LinkId(string? text) => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : null;

    /// <summary>
    /// <see cref="Time"/> to the minute, without the year when it is <paramref name="nowUtc"/>'s (a table's narrow
    /// column; the whole time goes in its tooltip).
    /// </summary>
    public static string ShortTime(DateTime? utc, DateTime nowUtc)
    {
        if (utc is not { } t) return "–";
        var local = DateTime.SpecifyKind(t, DateTimeKind.Utc).ToLocalTime();
        var format = local.Year == DateTime.SpecifyKind(nowUtc, DateTimeKind.Utc).ToLocalTime().Year ? "MM-dd HH:mm" : "yyyy-MM-dd HH:mm";
        return local.ToString(format, CultureInfo.InvariantCulture);
    }

    public static string Bytes(long? bytes)
    {
        if (bytes is not { } b) return "–";
        string[] units = ["B", "KB", "MB", "GB", "TB"];
        double v = b; int u = 0;
        while (v >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        return $"{v.ToString(u == 0 ? "0" : "0.#", CultureInfo.InvariantCulture)} {units[u]}";
    }

    /// <summary>A whole number as the pages write steps and counts: with thousands separators ("320,000").</summary>
    public static string Whole(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>"1st", "2nd", "32nd", "1,000th": how often a thinned series keeps a step.</summary>
    public static string Ordinal(long n) => Whole(n) + ((n % 100) is 11 or 12 or 13 ? "th" : (n % 10) switch { 1 => "st", 2 => "nd", 3 => "rd", _ => "th" });

    /// <summary>A run's progress in updates: "120,000 / 320,000".</summary>
    public static string Steps(long step, long total) => $"{Whole(step)} / {Whole(total)}";

    public static string Count(long? n) => n is { } v
        ? v >= 1_000_000_000 ? $"{v / 1e9:0.##}B" : v >= 1_000_000 ? $"{v / 1e6:0.##}M" : v >= 1000 ? $"{v / 1e3:0.#}K" : v.ToString(CultureInfo.InvariantCulture)
        : "–";

    public static string Number(double? x, string format = "G4") =>
        x is { } v && double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "–";
}
