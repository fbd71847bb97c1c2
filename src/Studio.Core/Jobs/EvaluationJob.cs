using System.Text.Json;
using Hangfire;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Hosting;
using Studio.Core.Live;
using Studio.Core.ModelRegistry;
using Studio.Ml.Toy;
using Studio.Core.Artifacts;
using Studio.Core.Figures;
using Studio.Ml.Tensors;

namespace Studio.Core.Jobs;

/// <summary>
/// The Hangfire job of an evaluation (on the `interactive_evaluations` queue, served after `interactive`): scores a checkpoint (or the teacher) with the
/// <see cref="IEvaluationExecutor"/>, stores the metrics on the row and the JSON report beside the run's artifacts,
/// and pushes every state change to the pages. A failure is stored with its error; the run itself is never changed
/// (a line in its log says what happened).
/// </summary>
public class EvaluationJob(
    IDbContextFactory<StudioDbContext> dbFactory,
    IEvaluationExecutor executor,
    IEvaluationBroadcaster evaluations,
    IRunBroadcaster runs,
    StudioOptions options,
    WorkerIdentity worker)
{
    static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(500);

    [AutomaticRetry(Attempts = 0)]
    public async Task Execute(int evaluationId, CancellationToken ct)
    {
        EvaluationExecution execution;
        string plannedReport;
        string? refused = null;
        CheckpointEvaluation row;
        await using (var db = await dbFactory.CreateDbContextAsync(CancellationToken.None))
        {
            var found = await db.Evaluations.SingleOrDefaultAsync(v => v.Id == evaluationId, CancellationToken.None);
            // Running: Hangfire handed the job out again because the worker that ran it died; it starts over.
            if (found is null || found.State is EvaluationState.Completed or EvaluationState.Failed or EvaluationState.Cancelled) return;
            row = found;
            string? checkpointPath = null;
            if (row.CheckpointId is { } checkpointId)
            {
                checkpointPath = await db.Checkpoints.Where(c => c.Id == checkpointId).Select(c => c.Path).SingleOrDefaultAsync(CancellationToken.None);
                if (checkpointPath is null) refused = $"checkpoint {checkpointId} (step {row.Step}) was deleted before it could be evaluated";
            }
            // The worker checks the pipeline against its own allowed folders before it opens anything in it.
            if (row.Pipeline != ModelFolders.ToyTeacher && new PathGuard(options).Problem(row.Pipeline) is { } outside) refused ??= $"pipeline: {outside}";
            var clipModel = options.JobClipModel;
            if (clipModel is not null && new PathGuard(options).Problem(clipModel) is { } clipOutside) refused ??= $"Studio:ClipModel: {clipOutside}";
            if (row.LoraPath is { } lora && new PathGuard(options).Problem(lora) is { } loraOutside) refused ??= $"lora: {loraOutside}";
            row.State = EvaluationState.Running;
            row.Worker = worker.Name;
            row.Device = options.JobDevice;
            row.DType = options.JobDType;
            row.StartedAt = DateTime.UtcNow;
            row.Activity = "starting";
            await db.SaveChangesAsync(CancellationToken.None);
            plannedReport = await ReportPathAsync(row);
            execution = new EvaluationExecution(row.Id, ModelFolders.Resolve(row.Pipeline), checkpointPath, OptionsOf(row), row.Device,
                TeacherImagesFolder(options), options.JobDType, SamplesFolderOf(plannedReport), clipModel, row.LoraPath, row.LoraScale);
        }
        await evaluations.PublishAsync(row, CancellationToken.None);

        ToyEvaluationResult? result = null;
        string? error = refused;
        var cancelled = false;
        if (error is null)
        {
            using var progress = new ThrottledProgress(ProgressInterval, WriteProgress(evaluationId));
            // The TorchSharp Scalar hazard (docs/ARCHITECTURE.md, "TorchSharp temporaries") is a fault of this process: the evaluation,
            // seeded throughout, is run again, twice at most.
            JobOutcome outcome;
            for (var attempt = 1; ; attempt++)
            {
                outcome = await JobOutcome.Of(async () => result = await executor.ExecuteAsync(execution, progress, ct), JobOutcome.IsBadRequest, ct);
                if (outcome.Completed || outcome.Cancelled || attempt > RunJob.MaxScalarFaultResumes || !RunJob.IsScalarFault(outcome.Error)) break;
            }
            cancelled = outcome.Cancelled;
            error = outcome.Cancelled ? "cancelled" : outcome.Error;
        }
        await using var done = await dbFactory.CreateDbContextAsync(CancellationToken.None);
        var stored = await done.Evaluations.SingleAsync(v => v.Id == evaluationId, CancellationToken.None);
        // A cancel asked for in the last seconds, before the worker saw the deleted job, still cancels: no scores are stored.
        if (result is not null && stored.Activity == JobProgress.Cancelling)
            (result, cancelled, error) = (null, true, "cancelled");

        string? reportPath = null;
        if (result is not null)
        {
            try
            {
                reportPath = plannedReport;
                result.Save(reportPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The metrics are kept on the row even when the report cannot be written.
                error = $"the metrics are stored, but the JSON report could not be written to {reportPath}: {e.Message}";
                reportPath = null;
            }
            // The figure of its kept images is for looking at: an evaluation stands without it.
            try { if (reportPath is not null) SaveFigure(result, reportPath, row.IsTeacher ? null : row.Encoder); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException) { }
        }

        if (result is not null) Apply(stored, result);
        stored.ReportPath = reportPath;
        stored.State = result is not null && reportPath is not null ? EvaluationState.Completed
            : cancelled ? EvaluationState.Cancelled : EvaluationState.Failed;
        stored.Error = error;
        stored.Activity = null;
        if (stored.State == EvaluationState.Completed) stored.Progress = 1;
        stored.FinishedAt = DateTime.UtcNow;
        await done.SaveChangesAsync(CancellationToken.None);
        await evaluations.PublishAsync(stored, CancellationToken.None);
        if (stored.RunId is { } runId)
        {
            await LogAsync(done, runId, stored);
            // Its checkpoint may have been held past checkpoints.keep for it; a run that stopped training deletes it now.
            if (stored.CheckpointId is not null) await CheckpointRetention.ReleaseAsync(dbFactory, runId, runs);
        }
    }

    /// <summary>Where a worker keeps the teacher's images of evaluations: DATA/cache/teacher-images.</summary>
    public static string TeacherImagesFolder(StudioOptions options) => Path.Combine(options.ResolvedDataDirectory, "cache", "teacher-images");

    public static ToyEvaluationOptions OptionsOf(CheckpointEvaluation v) => v.Resolution is { } side
        ? new()
        {
            Split = v.Split, PromptsPerCategory = v.PromptsPerCategory, Seeds = v.Seeds, Steps = v.Steps, Guidance = v.Guidance,
            ScoreScenes = false, Resolution = side, MaxSequenceLength = v.MaxSequenceLength ?? new Studio.Ml.Distillation.TextConfig().MaxLength,
            BatchSize = ToyEvaluationOptions.BatchFor(side),
        }
        : new() { Split = v.Split, PromptsPerCategory = v.PromptsPerCategory, Seeds = v.Seeds, Steps = v.Steps, Guidance = v.Guidance };

    /// <summary>Copies what <see cref="ToyEvaluation.Run"/> measured onto the row.</summary>
    public static void Apply(CheckpointEvaluation v, ToyEvaluationResult r)
    {
        v.EncoderParameters = r.EncoderParameters;
        v.EncoderLatencyMs = r.EncoderLatencyMs;
        v.ImageQualityFrechet = Finite(r.ImageQualityFrechet);
        v.FrechetAll = Finite(r.FrechetAll);
        v.Semantics = Finite(r.Semantics);
        v.Text = Finite(r.Text);
        v.TeacherDifference = Finite(r.TeacherDifference);
        v.TeacherSimilarity = Finite(r.TeacherSimilarity);
        v.ClipScore = Finite(r.ClipScore);
        v.CategoriesJson = JsonSerializer.Serialize(r.Categories, ToyJson.Options);
        v.IntervalsJson = r.Intervals is { } intervals ? JsonSerializer.Serialize(intervals, ToyJson.Options) : null;
        v.Seconds = r.Seconds;
    }

    // A database column cannot hold NaN on every provider; a score that is not a number is no score.
    static double? Finite(double? value) => value is { } x && double.IsFinite(x) ? x : null;

    /// <summary>Where an evaluation's kept images go: beside its report, "evaluation-12-samples".</summary>
    static string SamplesFolderOf(string reportPath) => Path.ChangeExtension(reportPath, null) + "-samples";

    /// <summary>
    /// The figure of the images an evaluation kept (<see cref="CheckpointEvaluation.FigurePath"/>): a row per prompt, the
    /// teacher's image and, for a checkpoint, its own beside it with their mean |Δ| and SSIM. An evaluation without kept
    /// images has none.
    /// </summary>
    static void SaveFigure(ToyEvaluationResult result, string reportPath, string? encoder)
    {
        if (result.Samples is not { Count: > 0 } samples) return;
        var folder = Path.GetFullPath(SamplesFolderOf(reportPath));
        string File(string name) => Path.Combine(folder, name);
        var rows = samples.Select(s => new FigureRow(s.Prompt, s.Category, encoder is null
            ? [new FigureCell(File(s.Image))]
            : [new FigureCell(s.TeacherImage is { } t ? File(t) : null, Missing: "the teacher's image was not kept"),
               new FigureCell(File(s.Image), $"|Δ| {s.TeacherDifference:0.00}/255 · SSIM {s.TeacherSimilarity:0.000}")])).ToList();
        var png = ImageFigure.Png(encoder is null ? ["teacher"] : ["teacher", encoder], rows,
            path => Path.GetFullPath(path).StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal));
        AtomicFile.Write(CheckpointEvaluation.FigurePathOf(reportPath), stream => stream.Write(png));
    }

    /// <summary>evaluations/evaluation-ID.json in the run's artifact folder; the teacher's under the artifact root.</summary>
    async Task<string> ReportPathAsync(CheckpointEvaluation v)
    {
        string folder;
        if (v.RunId is { } runId)
        {
            await using var db = await dbFactory.CreateDbContextAsync(CancellationToken.None);
            var artifacts = await db.Runs.Where(r => r.Id == runId).Select(r => r.ArtifactFolder).SingleOrDefaultAsync(CancellationToken.None);
            folder = Path.Combine(artifacts ?? ArtifactFolders.Run(options, runId), "evaluations");
        }
        else folder = Path.Combine(options.ArtifactRoot, "evaluations");
        return Path.Combine(folder, $"evaluation-{v.Id}.json");
    }

    async Task LogAsync(StudioDbContext db, int runId, CheckpointEvaluation v)
    {
        if (!await db.Runs.AnyAsync(r => r.Id == runId)) return;
        var clip = v.ClipScore is { } c ? $", CLIP score {c:0.00}" : "";
        var message = v.State == EvaluationState.Completed
            ? v.IsAgreement ? $"Evaluated the step {v.Step} checkpoint ({v.SettingsKey}): mean |Δ| to the teacher {Score(v.TeacherDifference)}/255, SSIM {Score(v.TeacherSimilarity)}{clip}."
            : $"Evaluated the step {v.Step} checkpoint ({v.SettingsKey}): semantics {Score(v.Semantics)}, text {Score(v.Text)}, image quality FD {Score(v.ImageQualityFrechet)}, mean |Δ| to the teacher {Score(v.TeacherDifference)}/255, SSIM {Score(v.TeacherSimilarity)}{clip}."
            : v.State == EvaluationState.Cancelled ? $"Evaluation of the step {v.Step} checkpoint cancelled."
            : $"Evaluation of the step {v.Step} checkpoint failed: {v.Error}";
        var row = new RunEvent { RunId = runId, Kind = v.State == EvaluationState.Failed ? "Error" : "Info", Step = v.Step, Message = message, Time = DateTime.UtcNow };
        db.RunEvents.Add(row);
        await db.SaveChangesAsync();
        await runs.PublishAsync(new RunBatch(runId, [], [], [row], null));
    }

    static string Score(double? value) => value?.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture) ?? "–";

    /// <summary>Writes the latest progress to the evaluation's row and pushes it to the pages (not over a cancel asked for).</summary>
    Action<JobProgress> WriteProgress(int evaluationId) => value =>
    {
        using var db = dbFactory.CreateDbContext();
        var row = db.Evaluations.Single(v => v.Id == evaluationId);
        if (row.Activity == JobProgress.Cancelling) return;
        row.Activity = value.Activity;
        row.Progress = value.Fraction;
        db.SaveChanges();
        evaluations.PublishAsync(row).GetAwaiter().GetResult();
    };
}
