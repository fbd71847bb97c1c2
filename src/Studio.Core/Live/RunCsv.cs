using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Charts;
using Studio.Core.Data;
using Studio.Core.Evaluations;

namespace Studio.Core.Live;

/// <summary>
/// A run's stored series as CSV, for a spreadsheet, pandas or a paper's plot (the run page's download buttons,
/// GET /api/runs/{id}/metrics.csv and validation.csv). Every stored point, streamed in step order; stages numbered from
/// 1 as on the pages; numbers in the invariant culture with round-trip precision; an empty cell where a value is
/// missing (a non-finite loss, no GPU); fields quoted as RFC 4180 says.
/// </summary>
public static class RunCsv
{
    /// <summary>
    /// One row per update: step, stage, time_utc, elapsed_s, loss, learning_rate, grad_norm, updates_per_s,
    /// prompts_per_s, process_memory_bytes, gpu_memory_bytes, then loss/CATEGORY for every prompt category and
    /// loss_sigma/BUCKET for every sigma bucket any point reported (ordinal order), then grad_norm/MODULE for every part of
    /// the student (embedding, blocks, final norm, projection: the order the trainer reports them).
    /// </summary>
    public static async Task WriteMetricsAsync(IDbContextFactory<StudioDbContext> dbFactory, int runId, TextWriter writer, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var points = db.MetricPoints.AsNoTracking().Where(p => p.RunId == runId).OrderBy(p => p.Step);
        // Two passes: the first reads only the two JSON columns, so the header names every breakdown column before any
        // row is streamed (a run may hold a million points; none is kept in memory).
        var categories = new SortedSet<string>(StringComparer.Ordinal);
        var buckets = new SortedSet<string>(StringComparer.Ordinal);
        var modules = new List<string>(); // in the order reported: embedding, block 0, block 1, ...
        await foreach (var p in points.Select(p => new { p.LossByCategoryJson, p.LossBySigmaBucketJson, p.GradNormByModuleJson }).AsAsyncEnumerable().WithCancellation(ct))
        {
            categories.UnionWith(Breakdown.Values(p.LossByCategoryJson)?.Keys ?? Enumerable.Empty<string>());
            buckets.UnionWith(Breakdown.Values(p.LossBySigmaBucketJson)?.Keys ?? Enumerable.Empty<string>());
            modules.AddRange((Breakdown.Values(p.GradNormByModuleJson)?.Keys ?? Enumerable.Empty<string>()).Where(m => !modules.Contains(m)));
        }
        await WriteRowAsync(writer, ["step", "stage", "time_utc", "elapsed_s", "loss", "learning_rate", "grad_norm", "updates_per_s", "prompts_per_s",
            "process_memory_bytes", "gpu_memory_bytes", .. categories.Select(c => "loss/" + c), .. buckets.Select(b => "loss_sigma/" + b),
            .. modules.Select(m => "grad_norm/" + m)]);
        await foreach (var p in points.AsAsyncEnumerable().WithCancellation(ct))
        {
            var byCategory = Breakdown.Values(p.LossByCategoryJson);
            var bySigma = Breakdown.Values(p.LossBySigmaBucketJson);
            var byModule = Breakdown.Values(p.GradNormByModuleJson);
            await WriteRowAsync(writer, [Number(p.Step), Number(p.Stage + 1), Time(p.Time), Number(p.ElapsedSeconds), Number(p.Loss),
                Number(p.LearningRate), Number(p.GradientNorm), Number(p.UpdatesPerSecond), Number(p.PromptsPerSecond),
                Number(p.ProcessMemoryBytes), Number(p.CudaMemoryBytes),
                .. categories.Select(c => Number(byCategory?.GetValueOrDefault(c, double.NaN))),
                .. buckets.Select(b => Number(bySigma?.GetValueOrDefault(b, double.NaN))),
                .. modules.Select(m => Number(byModule?.GetValueOrDefault(m, double.NaN)))]);
        }
        await writer.FlushAsync(ct);
    }

    /// <summary>One row per validation (step and category): step, stage, time_utc, category, vision_loss, embedding_cosine.</summary>
    public static async Task WriteValidationAsync(IDbContextFactory<StudioDbContext> dbFactory, int runId, TextWriter writer, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        await WriteRowAsync(writer, ["step", "stage", "time_utc", "category", "vision_loss", "embedding_cosine"]);
        var points = db.ValidationPoints.AsNoTracking().Where(p => p.RunId == runId).OrderBy(p => p.Step).ThenBy(p => p.Category);
        await foreach (var p in points.AsAsyncEnumerable().WithCancellation(ct))
            await WriteRowAsync(writer, [Number(p.Step), Number(p.Stage + 1), Time(p.Time), p.Category, Number(p.VisionLoss), Number(p.EmbeddingCosine)]);
        await writer.FlushAsync(ct);
    }

    /// <summary>
    /// One row per completed evaluation of the run's checkpoints (by step), after the evaluations of its teacher with the
    /// same settings and dtype (step empty, encoder "teacher"): evaluation_id, encoder, step, the settings (split,
    /// prompts_per_category, seeds, steps, guidance; agreement_resolution and agreement_max_sequence_length for a teacher
    /// measured by agreement, empty for the toy world's), device, dtype, finished_utc, seconds, encoder_parameters, then every metric
    /// of the scaling chart and Evaluation over training (<see cref="Scaling.Metrics"/>: semantics, text, the Fréchet
    /// distances, the difference to the teacher, each category's score and difference, latency), each with its 95%
    /// interval as KEY_low and KEY_high where it has one.
    /// </summary>
    public static async Task WriteEvaluationsAsync(IDbContextFactory<StudioDbContext> dbFactory, int runId, TextWriter writer, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var own = await db.Evaluations.AsNoTracking().Where(v => v.RunId == runId && v.State == EvaluationState.Completed)
            .OrderBy(v => v.Step).ThenBy(v => v.Id).ToListAsync(ct);
        var pipelines = own.Select(v => v.Pipeline).Distinct().ToList();
        var keys = own.Select(v => v.SeriesKey).ToHashSet();
        var teachers = (await db.Evaluations.AsNoTracking().Where(v => v.RunId == null && v.State == EvaluationState.Completed && pipelines.Contains(v.Pipeline))
            .OrderBy(v => v.Id).ToListAsync(ct)).Where(v => keys.Contains(v.SeriesKey));
        await WriteRowAsync(writer, ["evaluation_id", "encoder", "step", "split", "prompts_per_category", "seeds", "steps", "guidance",
            "agreement_resolution", "agreement_max_sequence_length", "device", "dtype",
            "finished_utc", "seconds", "encoder_parameters", .. Scaling.Metrics.SelectMany(m => new[] { m.Key, m.Key + "_low", m.Key + "_high" })]);
        foreach (var v in teachers.Concat(own))
            await WriteRowAsync(writer, [Number(v.Id), v.IsTeacher ? "teacher" : v.Encoder, v.IsTeacher ? "" : Number(v.Step), v.Split,
                Number(v.PromptsPerCategory), Number(v.Seeds), Number(v.Steps), Number(v.Guidance), Number(v.Resolution), Number(v.MaxSequenceLength), v.Device ?? "", v.DType ?? "float32",
                v.FinishedAt is { } at ? Time(at) : "", Number(v.Seconds), Number(v.EncoderParameters),
                .. Scaling.Metrics.SelectMany(m => m.Interval?.Invoke(v) is { } i
                    ? new[] { Number(m.Value(v)), Number(i.Low), Number(i.High) }
                    : new[] { Number(m.Value(v)), "", "" })]);
        await writer.FlushAsync(ct);
    }

    /// <summary>A number as CSV holds it: round-trip precision, invariant culture; empty for none (and for NaN or infinity).</summary>
    public static string Number(double? value) => value is { } v && double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "";

    public static string Number(long? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "";

    /// <summary>One CSV line (RFC 4180: quoted fields where needed, CRLF).</summary>
    public static string Row(IEnumerable<string> fields) => string.Join(',', fields.Select(Field)) + "\r\n";

    static string Time(DateTime time) => DateTime.SpecifyKind(time, DateTimeKind.Utc).ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    static Task WriteRowAsync(TextWriter writer, IEnumerable<string> fields) => writer.WriteAsync(Row(fields));

    /// <summary>Quoted when it holds a comma, a quote or a line break (a category comes from a user's prompt file).</summary>
    static string Field(string value) =>
        value.AsSpan().IndexOfAny(",\"\r\n") < 0 ? value : "\"" + value.Replace("\"", "\"\"") + "\"";
}
