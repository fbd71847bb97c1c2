using System.Text.Json;
using Hangfire;
using Hangfire.Storage.SQLite;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Evaluations;
using Studio.Core.Hosting;
using Studio.Core.Jobs;
using Studio.Core.Live;
using Studio.Core.Runs;
using Studio.Ml.Distillation;
using Studio.Ml.Toy;
using Studio.Ml.Diffusion;
using Studio.Core.Artifacts;

namespace Studio.Core.Tests;

/// <summary>The evaluation job's bookkeeping with a scripted executor (the real evaluator runs in Studio.Cli.Tests).</summary>
public class EvaluationJobTests
{
    sealed class ScriptedExecutor(Func<EvaluationExecution, IProgress<JobProgress>, ToyEvaluationResult> script) : IEvaluationExecutor
    {
        public EvaluationExecution? Seen { get; private set; }
        public Task<ToyEvaluationResult> ExecuteAsync(EvaluationExecution evaluation, IProgress<JobProgress> progress, CancellationToken ct)
        {
            Seen = evaluation;
            return Task.Run(() => script(evaluation, progress));
        }
    }

    sealed record Setup(TestDatabase Db, StudioOptions Options, EvaluationService Evaluations, EvaluationFeed Feed, List<CheckpointEvaluation> Published, SQLiteStorage Storage)
    {
        public EvaluationJob Job(IEvaluationExecutor executor) => new(Db, executor, Feed, new RunFeed(), Options, new WorkerIdentity("test:host:1"));
    }

    static async Task<Setup> SetUpAsync()
    {
        var db = await TestDatabase.CreateAsync();
        var options = new StudioOptions { DataDirectory = db.Directory, AllowedRoots = [Path.GetTempPath()] };
        var storage = new SQLiteStorage(Path.Combine(db.Directory, "hangfire.db"));
        var feed = new EvaluationFeed();
        var published = new List<CheckpointEvaluation>();
        feed.Subscribe(v => { lock (published) published.Add(v); });
        return new Setup(db, options, new EvaluationService(db, new BackgroundJobClient(storage), feed, options), feed, published, storage);
    }

    static async Task<(Run Run, CheckpointEntry Checkpoint)> AddRunWithCheckpointAsync(Setup s, LossKind loss = LossKind.Vision, string teacher = "toy", long step = 40,
        Action<RunConfig>? edit = null)
    {
        var config = RunPresets.Find("toy-study-small").Create();
        config.Loss = loss;
        config.Teacher.Pipeline = teacher;
        edit?.Invoke(config);
        await using var db = s.Db.CreateDbContext();
        var run = new Run { Name = "study", State = RunState.Completed, ConfigYaml = config.ToYaml(), Step = step, TotalSteps = step };
        db.Runs.Add(run);
        await db.SaveChangesAsync();
        var checkpoint = new CheckpointEntry { RunId = run.Id, Path = Directory.CreateDirectory(Path.Combine(s.Db.Directory, $"run-{run.Id}-step-{step}")).FullName, Step = step };
        db.Checkpoints.Add(checkpoint);
        await db.SaveChangesAsync();
        return (run, checkpoint);
    }

    static ToyEvaluationResult Result(long parameters) => new("toy", "student", parameters, 1.5, "heldout", 5, 1, 2, 3.5,
        ImageQualityFrechet: 12.5, FrechetAll: 20.25, Semantics: 0.4, Text: 0.125,
        Categories: [new ToyCategoryScore("semantics/colour", 1, 0.4, new ScoreInterval(0.25, 0.5)), new ToyCategoryScore("text", 1, 0.125, TeacherDifference: 6.5, TeacherDifferenceInterval: new ScoreInterval(5, 8))], Seconds: 3, Items: [],
        Intervals: new ToyIntervals(Semantics: new ScoreInterval(0.3, 0.5), TeacherDifference: new ScoreInterval(2.5, 3.75), TeacherSimilarity: new ScoreInterval(0.5, 0.75)),
        TeacherDifference: 3.125, TeacherSimilarity: 0.625);

    [Fact]
    public async Task TheImagesAnEvaluationKeptBecomeAFigureBesideItsReport()
    {
        var s = await SetUpAsync();
        var (_, checkpoint) = await AddRunWithCheckpointAsync(s);
        var queued = await s.Evaluations.RequestCheckpointAsync(checkpoint.Id, new EvaluationSettings(PromptsPerCategory: 1, Steps: 2));
        var executor = new ScriptedExecutor((e, _) =>
        {
            // As ToyEvaluation.Run writes them: what the slot drew and the teacher's, in the folder the job names.
            var flat = new RgbImage(32, 32, Enumerable.Repeat((byte)90, 32 * 32 * 3).ToArray());
            flat.SavePng(Path.Combine(e.SamplesFolder!, "sample-000.png"));
            (flat with { Rgb = Enumerable.Repeat((byte)120, 32 * 32 * 3).ToArray() }).SavePng(Path.Combine(e.SamplesFolder!, "sample-000-teacher.png"));
            return Result(1_000) with { Samples = [new ToyEvaluationSample("a red cube", "image-quality", "sample-000.png", "sample-000-teacher.png", 30, 0.9)] };
        });
        await s.Job(executor).Execute(queued.Id, CancellationToken.None);

        var stored = (await s.Evaluations.FindAsync(queued.Id))!;
        Assert.Equal(EvaluationState.Completed, stored.State);
        Assert.Equal(Path.ChangeExtension(stored.ReportPath!, null) + "-samples", executor.Seen!.SamplesFolder);
        Assert.Equal(Path.ChangeExtension(stored.ReportPath!, ".png"), stored.FigurePath);
        using var figure = SkiaSharp.SKBitmap.Decode(stored.FigurePath);
        Assert.NotNull(figure);
        // Two columns (the teacher's, the checkpoint's) of at least 256 px cells, one row.
        Assert.True(figure.Width > 2 * 256 && figure.Height > 256, $"{figure.Width}x{figure.Height}");

        // An evaluation that kept no images (an older executor) has no figure, and stands.
        var again = await s.Evaluations.RequestCheckpointAsync(checkpoint.Id, new EvaluationSettings(PromptsPerCategory: 2, Steps: 2));
        await s.Job(new ScriptedExecutor((_, _) => Result(1_000))).Execute(again.Id, CancellationToken.None);
        var plain = (await s.Evaluations.FindAsync(again.Id))!;
        Assert.Equal(EvaluationState.Completed, plain.State);
        Assert.False(File.Exists(plain.FigurePath));
    }

    [Fact]
    public async Task AnEvaluationCancelledInItsLastSecondsEndsCancelledWithoutScoresAndSaysCancellingUntilThen()
    {
        var s = await SetUpAsync();
        var (run, checkpoint) = await AddRunWithCheckpointAsync(s);
        var queued = await s.Evaluations.RequestCheckpointAsync(checkpoint.Id, new EvaluationSettings(PromptsPerCategory: 1, Steps: 2));
        var executor = new ScriptedExecutor((_, progress) =>
        {
            progress.Report(new JobProgress("generated 1/5 images", 0.2));
            // The user cancels; the worker finishes before it sees the deleted job (Hangfire looks every few seconds).
            s.Evaluations.CancelAsync(queued.Id).GetAwaiter().GetResult();
            progress.Report(new JobProgress("generated 5/5 images", 0.99));
            return Result(1_000);
        });
        await s.Job(executor).Execute(queued.Id, CancellationToken.None);

        var stored = (await s.Evaluations.FindAsync(queued.Id))!;
        Assert.Equal((EvaluationState.Cancelled, "cancelled", null), (stored.State, stored.Error, stored.Activity));
        Assert.Equal((null, null, null), (stored.EncoderParameters, stored.Semantics, stored.ReportPath));
        Assert.False(File.Exists(Path.Combine(ArtifactFolders.Run(s.Options, run.Id), "evaluations", $"evaluation-{queued.Id}.json")));
        List<string?> seen;
        lock (s.Published) seen = s.Published.Where(v => v.Id == queued.Id).Select(v => v.Activity).ToList();
        var asked = seen.IndexOf("cancelling");
        Assert.True(asked >= 0, string.Join(" | ", seen));
        Assert.DoesNotContain("generated 5/5 images", seen);
        Assert.All(seen.Skip(asked), a => Assert.True(a is "cancelling" or null, string.Join(" | ", seen)));
        await using var db = s.Db.CreateDbContext();
        Assert.Contains(db.RunEvents.Where(e => e.RunId == run.Id).Select(e => e.Message).ToList(), m => m.Contains("cancelled"));
    }

    [Fact]
    public async Task AnEvaluatedCheckpointStoresTheMetricsTheReportAndALogLine()
    {
        var s = await SetUpAsync();
        var (run, checkpoint) = await AddRunWithCheckpointAsync(s, loss: LossKind.Naive);
        var queued = await s.Evaluations.RequestCheckpointAsync(checkpoint.Id, new EvaluationSettings(PromptsPerCategory: 1, Steps: 2));
        Assert.Equal(EvaluationState.Queued, queued.State);
        Assert.Equal("toy-small", queued.SizeLabel);
        Assert.Equal("naive", queued.Loss);
        Assert.NotNull(queued.HangfireJobId);

        var executor = new ScriptedExecutor((_, progress) =>
        {
            progress.Report(new JobProgress("generated 5/5 images", 0.99));
            return Result(1_234_567);
        });
        await s.Job(executor).Execute(queued.Id, CancellationToken.None);

        Assert.Equal(checkpoint.Path, executor.Seen!.CheckpointPath);
        Assert.Equal(ToyTeacher.Folder, executor.Seen.TeacherFolder);
        Assert.Equal((1, 2, "heldout"), (executor.Seen.Options.PromptsPerCategory, executor.Seen.Options.Steps, executor.Seen.Options.Split));
        var stored = (await s.Evaluations.FindAsync(queued.Id))!;
        Assert.Equal(EvaluationState.Completed, stored.State);
        Assert.Null(stored.Error);
        Assert.Equal(1_234_567, stored.EncoderParameters);
        Assert.Equal((12.5, 20.25, 0.4, 0.125), (stored.ImageQualityFrechet, stored.FrechetAll, stored.Semantics, stored.Text));
        Assert.Equal(1.5, stored.EncoderLatencyMs);
        Assert.Equal("test:host:1", stored.Worker);
        Assert.Equal(("cpu", "cpu"), (executor.Seen.Device, stored.Device)); // Studio:Device empty: the CPU
        Assert.NotNull(stored.FinishedAt);
        Assert.Equal(Path.Combine(ArtifactFolders.Run(s.Options, run.Id), "evaluations", $"evaluation-{stored.Id}.json"), stored.ReportPath);
        using (var report = JsonDocument.Parse(File.ReadAllText(stored.ReportPath!)))
            Assert.Equal(0.125, report.RootElement.GetProperty("text").GetDouble());
        using (var categories = JsonDocument.Parse(stored.CategoriesJson!))
            Assert.Equal("semantics/colour", categories.RootElement[0].GetProperty("category").GetString());
        // The intervals are stored with the scores, where the scaling chart reads them.
        Assert.Equal(new ScoreInterval(0.3, 0.5), Scaling.Intervals(stored)!.Semantics);
        Assert.Null(Scaling.Intervals(stored)!.Text);
        Assert.Equal(new ScoreInterval(0.25, 0.5), Scaling.Category(stored, "semantics/colour")!.Interval);
        // The student's difference to the teacher's images, with its interval, is a metric of the scaling chart.
        var difference = Scaling.Metric("teacher-difference");
        Assert.Equal((3.125, new ScoreInterval(2.5, 3.75)), (difference.Value(stored), difference.Interval!(stored)));
        Assert.True(difference.LowerIsBetter);
        // So is their structural similarity (higher is better).
        var similarity = Scaling.Metric("teacher-ssim");
        Assert.Equal((0.625, new ScoreInterval(0.5, 0.75)), (similarity.Value(stored), similarity.Interval!(stored)));
        Assert.False(similarity.LowerIsBetter);
        Assert.Equal(6.5, Scaling.Metric("teacher-difference:text").Value(stored)); // by category, from the stored categories
        Assert.Equal(new ScoreInterval(5, 8), Scaling.Metric("teacher-difference:text").Interval!(stored));
        Assert.Null(Scaling.Metric("teacher-difference:semantics/colour").Value(stored));

        // The pages saw it queued, running, its progress, and done.
        Assert.Equal([EvaluationState.Queued, EvaluationState.Running], s.Published.Take(2).Select(v => v.State));
        Assert.Contains(s.Published, v => v.Activity == "generated 5/5 images");
        Assert.Equal(EvaluationState.Completed, s.Published[^1].State);
        await using var db = s.Db.CreateDbContext();
        Assert.Contains(await db.RunEvents.Where(e => e.RunId == run.Id).Select(e => e.Message).ToListAsync(), m => m.Contains("Evaluated the step 40 checkpoint") && m.Contains("text 0.125") && m.Contains("mean |Δ| to the teacher 3.125/255, SSIM 0.625"));
    }

    [Fact]
    public async Task AWorkersClipModelScoresItsEvaluationsWhichStoreTheClipScoreAndSayItInTheLog()
    {
        var s = await SetUpAsync();
        s.Options.ClipModel = Directory.CreateDirectory(Path.Combine(s.Db.Directory, "clip-vit-large-patch14")).FullName;
        var (run, checkpoint) = await AddRunWithCheckpointAsync(s);
        var queued = await s.Evaluations.RequestCheckpointAsync(checkpoint.Id);
        var executor = new ScriptedExecutor((_, _) => Result(1) with
        {
            ClipScore = 29.75,
            Intervals = new ToyIntervals(ClipScore: new ScoreInterval(28.5, 31)),
            Categories = [new ToyCategoryScore("text", 1, 0.125, ClipScore: 27.25, ClipScoreInterval: new ScoreInterval(26, 28.5))],
        });
        await s.Job(executor).Execute(queued.Id, CancellationToken.None);

        Assert.Equal(s.Options.ClipModel, executor.Seen!.ClipModel);
        var stored = (await s.Evaluations.FindAsync(queued.Id))!;
        Assert.Equal(29.75, stored.ClipScore);
        var clip = Scaling.Metric("clip-score");
        Assert.Equal((29.75, new ScoreInterval(28.5, 31)), (clip.Value(stored), clip.Interval!(stored)));
        Assert.False(clip.LowerIsBetter);
        Assert.Equal((27.25, new ScoreInterval(26, 28.5)), (Scaling.Metric("clip-score:text").Value(stored), Scaling.Metric("clip-score:text").Interval!(stored)));
        await using var db = s.Db.CreateDbContext();
        Assert.Contains(await db.RunEvents.Where(e => e.RunId == run.Id).Select(e => e.Message).ToListAsync(), m => m.Contains("Evaluated the step 40 checkpoint") && m.EndsWith(", CLIP score 29.75."));

        // Without one, nothing is scored and nothing is stored.
        s.Options.ClipModel = "";
        var (_, other) = await AddRunWithCheckpointAsync(s);
        var plain = await s.Evaluations.RequestCheckpointAsync(other.Id);
        var withoutClip = new ScriptedExecutor((_, _) => Result(1));
        await s.Job(withoutClip).Execute(plain.Id, CancellationToken.None);
        Assert.Null(withoutClip.Seen!.ClipModel);
        Assert.Null((await s.Evaluations.FindAsync(plain.Id))!.ClipScore);
    }

    [Fact]
    public void AWorkerWhoseClipModelFolderHasNoConfigIsRefusedAtStart()
    {
        var data = Directory.CreateTempSubdirectory("studio-clip-").FullName;
        var empty = Directory.CreateDirectory(Path.Combine(data, "clip")).FullName;
        var refused = Assert.Throws<StudioConfigurationException>(() =>
            new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddStudioCore(new StudioOptions { DataDirectory = data, ClipModel = empty }));
        Assert.Equal($"Studio:ClipModel is {empty}, which has no config.json: give a transformers CLIP model folder (openai/clip-vit-large-patch14) or leave it empty", refused.Message);
        File.WriteAllText(Path.Combine(empty, "config.json"), "{}");
        new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddStudioCore(new StudioOptions { DataDirectory = data, ClipModel = empty });
    }

    [Fact]
    public async Task AClipModelOutsideTheAllowedFoldersFailsTheEvaluationNamingTheSetting()
    {
        var s = await SetUpAsync();
        s.Options.AllowedRoots = [s.Db.Directory];
        s.Options.ClipModel = "/opt/elsewhere/clip";
        var (_, checkpoint) = await AddRunWithCheckpointAsync(s);
        var queued = await s.Evaluations.RequestCheckpointAsync(checkpoint.Id);
        var executor = new ScriptedExecutor((_, _) => Result(1));
        await s.Job(executor).Execute(queued.Id, CancellationToken.None);

        Assert.Null(executor.Seen);
        var stored = (await s.Evaluations.FindAsync(queued.Id))!;
        Assert.Equal(EvaluationState.Failed, stored.State);
        Assert.StartsWith("Studio:ClipModel: ", stored.Error);
        Assert.Contains("/opt/elsewhere/clip", stored.Error);
    }

    [Fact]
    public async Task TheWorkersDeviceIsWhereTheEvaluationRunsAndIsStoredOnTheRow()
    {
        var s = await SetUpAsync();
        s.Options.Device = "cuda:1";
        var (_, checkpoint) = await AddRunWithCheckpointAsync(s);
        var queued = await s.Evaluations.RequestCheckpointAsync(checkpoint.Id);
        var executor = new ScriptedExecutor((_, _) => Result(1));
        await s.Job(executor).Execute(queued.Id, CancellationToken.None);

        Assert.Equal("cuda:1", executor.Seen!.Device);
        Assert.Equal("cuda:1", (await s.Evaluations.FindAsync(queued.Id))!.Device);
    }

    [Fact]
    public async Task AnEvaluationHitByTheScalarHazardRunsAgainAndOneThatKeepsHittingItFails()
    {
        const string fault = "Expected false to be true, but got false.\nException raised from toFloat at /pytorch/c10/core/Scalar.h:140 (most recent call first):";
        var s = await SetUpAsync();
        var (_, checkpoint) = await AddRunWithCheckpointAsync(s);
        var queued = await s.Evaluations.RequestCheckpointAsync(checkpoint.Id);
        var calls = 0;
        await s.Job(new ScriptedExecutor((_, _) => ++calls == 1 ? throw new System.Runtime.InteropServices.ExternalException(fault) : Result(1))).Execute(queued.Id, CancellationToken.None);
        Assert.Equal(2, calls);
        Assert.Equal(EvaluationState.Completed, (await s.Evaluations.FindAsync(queued.Id))!.State);

        var again = await s.Evaluations.RequestCheckpointAsync(checkpoint.Id, new EvaluationSettings(Seeds: 2));
        calls = 0;
        await s.Job(new ScriptedExecutor((_, _) => { calls++; throw new System.Runtime.InteropServices.ExternalException(fault); })).Execute(again.Id, CancellationToken.None);
        Assert.Equal(1 + RunJob.MaxScalarFaultResumes, calls);
        var failed = (await s.Evaluations.FindAsync(again.Id))!;
        Assert.Equal((EvaluationState.Failed, $"ExternalException: {fault}"), (failed.State, failed.Error));
    }

    [Fact]
    public async Task AFailingEvaluationIsStoredWithItsErrorAndLeavesTheRunAlone()
    {
        var s = await SetUpAsync();
        var (run, checkpoint) = await AddRunWithCheckpointAsync(s);
        var queued = await s.Evaluations.RequestCheckpointAsync(checkpoint.Id);
        await s.Job(new ScriptedExecutor((_, _) => throw new InvalidDataException("student.safetensors: header is truncated"))).Execute(queued.Id, CancellationToken.None);

        var stored = (await s.Evaluations.FindAsync(queued.Id))!;
        Assert.Equal(EvaluationState.Failed, stored.State);
        Assert.Equal("student.safetensors: header is truncated", stored.Error);
        Assert.Null(stored.Semantics);
        Assert.Null(stored.ReportPath);
        Assert.NotNull(stored.FinishedAt);
        await using var db = s.Db.CreateDbContext();
        var after = await db.Runs.SingleAsync(r => r.Id == run.Id);
        Assert.Equal((RunState.Completed, 40L, (string?)null), (after.State, after.Step, after.Error));
        Assert.Equal(1, await db.Checkpoints.CountAsync(c => c.RunId == run.Id));
        Assert.Contains(await db.RunEvents.Where(e => e.RunId == run.Id && e.Kind == "Error").Select(e => e.Message).ToListAsync(),
            m => m.Contains("header is truncated"));
    }

    [Fact]
    public async Task AnEvaluationWhoseWorkerDiedRunsAgainWhenHangfireHandsItOutAgain()
    {
        var s = await SetUpAsync();
        var (_, checkpoint) = await AddRunWithCheckpointAsync(s);
        var queued = await s.Evaluations.RequestCheckpointAsync(checkpoint.Id);
        await using (var db = s.Db.CreateDbContext())
        {
            var row = await db.Evaluations.SingleAsync(v => v.Id == queued.Id);
            (row.State, row.Worker, row.Progress) = (EvaluationState.Running, "web:lost:7", 0.4);
            await db.SaveChangesAsync();
        }
        await s.Job(new ScriptedExecutor((_, _) => Result(5))).Execute(queued.Id, CancellationToken.None);
        var stored = (await s.Evaluations.FindAsync(queued.Id))!;
        Assert.Equal((EvaluationState.Completed, "test:host:1", 5L), (stored.State, stored.Worker, stored.EncoderParameters));

        // A finished evaluation is never run twice.
        var again = new ScriptedExecutor((_, _) => Result(6));
        await s.Job(again).Execute(queued.Id, CancellationToken.None);
        Assert.Null(again.Seen);
    }

    [Fact]
    public async Task ACancelledQueuedEvaluationNeverRunsAndItsJobIsDeleted()
    {
        var s = await SetUpAsync();
        var (_, checkpoint) = await AddRunWithCheckpointAsync(s);
        var queued = await s.Evaluations.RequestCheckpointAsync(checkpoint.Id, new EvaluationSettings(PromptsPerCategory: 1, Steps: 2));

        var cancelled = await s.Evaluations.CancelAsync(queued.Id);
        Assert.Equal(EvaluationState.Cancelled, cancelled.State);
        Assert.Equal(EvaluationState.Cancelled, s.Published[^1].State);
        using (var connection = s.Storage.GetConnection())
            Assert.Equal("Deleted", connection.GetStateData(queued.HangfireJobId!).Name);
        // A worker that fetched the job before the deletion draws nothing.
        var executor = new ScriptedExecutor((_, _) => Result(1));
        await s.Job(executor).Execute(queued.Id, CancellationToken.None);
        Assert.Null(executor.Seen);
        await using var db = s.Db.CreateDbContext();
        Assert.Equal(EvaluationState.Cancelled, (await db.Evaluations.SingleAsync(v => v.Id == queued.Id)).State);
        var again = await Assert.ThrowsAsync<RunActionException>(() => s.Evaluations.CancelAsync(queued.Id));
        Assert.Equal($"evaluation {queued.Id} is cancelled, not queued or running", again.Message);
    }

    [Fact]
    public async Task ARunningEvaluationStoppedThroughItsJobIsCancelledNotFailedAndTheRunLogSaysSo()
    {
        var s = await SetUpAsync();
        var (run, checkpoint) = await AddRunWithCheckpointAsync(s);
        var queued = await s.Evaluations.RequestCheckpointAsync(checkpoint.Id, new EvaluationSettings(PromptsPerCategory: 1, Steps: 2));
        using var stop = new CancellationTokenSource();
        // What Hangfire does once the job is deleted: the job's token is cancelled and the evaluator stops between images.
        var executor = new ScriptedExecutor((_, _) => { stop.Cancel(); throw new OperationCanceledException(stop.Token); });
        await s.Job(executor).Execute(queued.Id, stop.Token);

        await using var db = s.Db.CreateDbContext();
        var stored = await db.Evaluations.SingleAsync(v => v.Id == queued.Id);
        Assert.Equal((EvaluationState.Cancelled, (double?)null), (stored.State, stored.Semantics));
        var line = await db.RunEvents.Where(e => e.RunId == run.Id).OrderBy(e => e.Id).LastAsync();
        Assert.Equal(("Info", "Evaluation of the step 40 checkpoint cancelled."), (line.Kind, line.Message));
    }

    [Fact]
    public async Task ACheckpointDeletedBeforeItsTurnFailsNamingIt()
    {
        var s = await SetUpAsync();
        var (_, checkpoint) = await AddRunWithCheckpointAsync(s);
        var queued = await s.Evaluations.RequestCheckpointAsync(checkpoint.Id);
        await using (var db = s.Db.CreateDbContext())
        {
            db.Checkpoints.Remove(await db.Checkpoints.SingleAsync(c => c.Id == checkpoint.Id));
            await db.SaveChangesAsync();
        }
        var executor = new ScriptedExecutor((_, _) => Result(1));
        await s.Job(executor).Execute(queued.Id, CancellationToken.None);
        Assert.Null(executor.Seen);
        var stored = (await s.Evaluations.FindAsync(queued.Id))!;
        Assert.Equal(EvaluationState.Failed, stored.State);
        Assert.Equal($"checkpoint {checkpoint.Id} (step 40) was deleted before it could be evaluated", stored.Error);
    }

    [Fact]
    public async Task ToyWorldTeachersAreScoredOtherTeachersMeasuredByAgreementAtTheirRunsSize()
    {
        var s = await SetUpAsync();
        // A FLUX.1 folder: its checkpoints are measured by teacher agreement, at the run's sample resolution and text length.
        var flux = Directory.CreateTempSubdirectory("flux-dev-").FullName;
        File.WriteAllText(Path.Combine(flux, "README.md"), "# FLUX.1-dev\n");
        File.WriteAllText(Path.Combine(flux, "model_index.json"), """{"_class_name": "FluxPipeline"}""");
        var (run, checkpoint) = await AddRunWithCheckpointAsync(s, teacher: flux, edit: c => { c.Samples.Resolution = 256; c.Text.MaxLength = 77; });
        var queued = await s.Evaluations.RequestCheckpointAsync(checkpoint.Id, new EvaluationSettings(PromptsPerCategory: 2));
        Assert.Equal((flux, 256, 77), (queued.Pipeline, queued.Resolution, queued.MaxSequenceLength));
        Assert.True(queued.IsAgreement);
        Assert.Equal("heldout · 2/category · 1 seed(s) · 20 steps · guidance 3.5 · agreement at 256 px, 77 tokens", queued.SettingsKey);
        // What the run page's chip says the run's own evaluations are: its settings with the agreement size.
        Assert.Equal("heldout · 10/category · 1 seed(s) · 20 steps · guidance 3.5 · agreement at 256 px, 77 tokens", s.Evaluations.AutoEvaluationKey(run));
        var options = EvaluationJob.OptionsOf(queued);
        Assert.Equal((false, 256, 77, 2, 25), (options.ScoreScenes, options.Resolution, options.MaxSequenceLength, options.PromptsPerCategory, options.BatchSize));
        // Larger images, fewer per call.
        Assert.Equal([25, 25, 6, 1], new[] { 64, 256, 512, 1024 }.Select(ToyEvaluationOptions.BatchFor));
        // Without samples.resolution, the last stage's; its teacher once at the same size, not twice.
        var (second, _) = await AddRunWithCheckpointAsync(s, teacher: flux, edit: c => { c.Samples.Resolution = 0; c.Stages[^1].Resolution = 128; });
        var teacher = await s.Evaluations.RequestRunTeacherOnceAsync(second.Id);
        Assert.Equal((flux, 128, 32, "teacher"), (teacher!.Pipeline, teacher.Resolution, teacher.MaxSequenceLength, teacher.Encoder));
        Assert.Null(await s.Evaluations.RequestRunTeacherOnceAsync(second.Id));
        Assert.NotNull(await s.Evaluations.RequestRunTeacherOnceAsync(run.Id));
        // A teacher asked for by folder alone: a run YAML's default size.
        Assert.Equal((512, 77), ((await s.Evaluations.RequestTeacherAsync(flux)).Resolution, (await s.Evaluations.RequestTeacherAsync(flux)).MaxSequenceLength));

        // An SD3 teacher is measured the same way; a folder whose model_index.json is missing or cannot be read, a missing folder and one
        // outside the allowed ones are refused, naming why.
        var sd3 = Directory.CreateTempSubdirectory("sd3-").FullName;
        File.WriteAllText(Path.Combine(sd3, "model_index.json"), """{"_class_name": "StableDiffusion3Pipeline"}""");
        var (_, sd3Checkpoint) = await AddRunWithCheckpointAsync(s, teacher: sd3);
        var sd3Row = await s.Evaluations.RequestCheckpointAsync(sd3Checkpoint.Id);
        Assert.Equal((sd3, 64, 32, true), (sd3Row.Pipeline, sd3Row.Resolution, sd3Row.MaxSequenceLength, sd3Row.IsAgreement));
        var damaged = Directory.CreateTempSubdirectory("damaged-").FullName;
        File.WriteAllText(Path.Combine(damaged, "model_index.json"), "{ \"_class_name\": ");
        var unreadable = await Assert.ThrowsAsync<RunActionException>(() => s.Evaluations.RequestTeacherAsync(damaged));
        Assert.Contains($"the teacher pipeline {damaged}: ", unreadable.Message);
        Assert.Contains("model_index.json", unreadable.Message);
        var noIndex = Directory.CreateTempSubdirectory("no-index-").FullName;
        Assert.Equal($"the teacher pipeline {noIndex}: no model_index.json (a teacher pipeline is a diffusers pipeline folder)",
            (await Assert.ThrowsAsync<RunActionException>(() => s.Evaluations.RequestTeacherAsync(noIndex))).Message);
        var missing = Path.Combine(flux, "not-there");
        Assert.Contains($"the teacher pipeline {missing}: no such folder", (await Assert.ThrowsAsync<RunActionException>(() => s.Evaluations.RequestTeacherAsync(missing))).Message);
        var outside = await Assert.ThrowsAsync<RunActionException>(() => s.Evaluations.RequestTeacherAsync("/etc"));
        Assert.Contains("the teacher pipeline: /etc is outside the allowed folders (Studio:AllowedRoots: ", outside.Message);

        // A folder `studio toy pretrain` wrote is of the toy world: scored, at the toy world's fixed size.
        var pretrained = Directory.CreateTempSubdirectory("toy-pretrained-").FullName;
        File.WriteAllText(Path.Combine(pretrained, "README.md"), "# Toy teacher (FluxPipeline layout)\n");
        var toy = await s.Evaluations.RequestTeacherAsync(pretrained);
        Assert.Equal((pretrained, null, null, false), (toy.Pipeline, toy.Resolution, toy.MaxSequenceLength, toy.IsAgreement));
        Assert.True(EvaluationJob.OptionsOf(toy).ScoreScenes);
        var (toyRun, _) = await AddRunWithCheckpointAsync(s);
        Assert.Equal(new EvaluationSettings().Key, s.Evaluations.AutoEvaluationKey(toyRun));
    }

    /// <summary>
    /// A teacher evaluated before its worker had a CLIP model has no CLIP score; a worker that has one evaluates it once
    /// more, so the checkpoints' CLIP scores have the teacher's line to compare with. Without a CLIP model it is not.
    /// </summary>
    [Fact]
    public async Task ATeacherEvaluatedWithoutAClipScoreIsEvaluatedAgainOnceAWorkerHasAClipModel()
    {
        var s = await SetUpAsync();
        var (run, _) = await AddRunWithCheckpointAsync(s);
        var first = await s.Evaluations.RequestRunTeacherOnceAsync(run.Id);
        await s.Job(new ScriptedExecutor((_, _) => Result(9_500_000))).Execute(first!.Id, CancellationToken.None);
        Assert.Equal((EvaluationState.Completed, (double?)null), ((await s.Evaluations.FindAsync(first.Id))!.State, (await s.Evaluations.FindAsync(first.Id))!.ClipScore));
        Assert.Null(await s.Evaluations.RequestRunTeacherOnceAsync(run.Id));

        var clip = Directory.CreateTempSubdirectory("clip-").FullName;
        var withClip = new EvaluationService(s.Db, new BackgroundJobClient(s.Storage), s.Feed, new StudioOptions
        {
            DataDirectory = s.Options.DataDirectory, AllowedRoots = s.Options.AllowedRoots, ClipModel = clip,
        });
        var again = await withClip.RequestRunTeacherOnceAsync(run.Id);
        Assert.NotNull(again);
        Assert.Equal((first.Pipeline, first.SettingsKey, EvaluationState.Queued), (again.Pipeline, again.SettingsKey, again.State));
        // Queued (and later running) once, not once per run that asks.
        Assert.Null(await withClip.RequestRunTeacherOnceAsync(run.Id));
        await s.Job(new ScriptedExecutor((_, _) => Result(9_500_000) with { ClipScore = 30.5 })).Execute(again.Id, CancellationToken.None);
        Assert.Equal(30.5, (await s.Evaluations.FindAsync(again.Id))!.ClipScore);
        Assert.Null(await withClip.RequestRunTeacherOnceAsync(run.Id));
    }

    /// <summary>
    /// An evaluation with a LoRA is another series (its settings key names the LoRA and scale), its teacher is evaluated
    /// with the same LoRA, the worker is given it, and a LoRA outside the worker's allowed folders fails it; a bad LoRA is
    /// refused by field before anything is queued.
    /// </summary>
    [Fact]
    public async Task AnEvaluationWithALoraIsItsOwnSeriesWithItsTeacherAndTheWorkerIsGivenIt()
    {
        var s = await SetUpAsync();
        var loras = Directory.CreateTempSubdirectory("studio-eval-lora-").FullName; // under the temp folder: allowed
        var lora = LoraFiles.Query(loras);
        var (run, checkpoint) = await AddRunWithCheckpointAsync(s);
        var plain = await s.Evaluations.RequestCheckpointAsync(checkpoint.Id);
        var settings = new EvaluationSettings(Lora: lora, LoraScale: 0.5);
        var merged = await s.Evaluations.RequestCheckpointAsync(checkpoint.Id, settings);
        Assert.NotEqual(plain.Id, merged.Id);
        Assert.Equal((lora, 0.5), (merged.LoraPath, merged.LoraScale));
        Assert.Equal($"heldout · 10/category · 1 seed(s) · 20 steps · guidance 3.5 · LoRA {lora} × 0.5", merged.SettingsKey);
        Assert.Equal(merged.Id, (await s.Evaluations.RequestCheckpointAsync(checkpoint.Id, settings)).Id); // waiting already: not queued twice
        var teacher = await s.Evaluations.RequestRunTeacherOnceAsync(run.Id, settings);
        Assert.Equal(merged.SettingsKey, teacher!.SettingsKey);
        Assert.Null(await s.Evaluations.RequestRunTeacherOnceAsync(run.Id, settings));

        foreach (var (bad, message) in new[]
        {
            (settings with { Lora = Path.Combine(loras, "gone.safetensors") }, $"lora: {Path.Combine(loras, "gone.safetensors")}: no such file"),
            (settings with { Lora = "/etc/passwd" }, "lora: /etc/passwd is outside the allowed folders"),
            (settings with { LoraScale = 12 }, "loraScale must be a number between -8 and 8 (got 12)"),
        })
            Assert.StartsWith(message, (await Assert.ThrowsAsync<RunActionException>(() => s.Evaluations.RequestCheckpointAsync(checkpoint.Id, bad))).Message);

        var executor = new ScriptedExecutor((_, _) => Result(1));
        await s.Job(executor).Execute(merged.Id, CancellationToken.None);
        Assert.Equal((lora, 0.5), (executor.Seen!.Lora, executor.Seen.LoraScale));
        Assert.Equal(EvaluationState.Completed, (await s.Evaluations.FindAsync(merged.Id))!.State);

        // A worker whose allowed folders do not hold the LoRA fails the evaluation, naming it.
        var strict = new EvaluationJob(s.Db, new ScriptedExecutor((_, _) => Result(1)), s.Feed, new RunFeed(),
            new StudioOptions { DataDirectory = s.Options.DataDirectory, AllowedRoots = [s.Db.Directory] }, new WorkerIdentity("test:host:2"));
        await strict.Execute(teacher.Id, CancellationToken.None);
        var refused = (await s.Evaluations.FindAsync(teacher.Id))!;
        Assert.Equal(EvaluationState.Failed, refused.State);
        Assert.StartsWith($"lora: {lora} is outside the allowed folders", refused.Error);
    }

    [Fact]
    public async Task TheLatestCheckpointOfEachRunIsQueuedOnceAndRunsWithoutOneAreNamed()
    {
        var s = await SetUpAsync();
        var (first, _) = await AddRunWithCheckpointAsync(s, step: 10);
        CheckpointEntry newest;
        await using (var db = s.Db.CreateDbContext())
        {
            newest = new CheckpointEntry { RunId = first.Id, Path = Directory.CreateDirectory(Path.Combine(s.Db.Directory, "step-20")).FullName, Step = 20 };
            // A newer entry whose folder was deleted by hand is passed over.
            db.Checkpoints.AddRange(newest, new CheckpointEntry { RunId = first.Id, Path = Path.Combine(s.Db.Directory, "step-25-deleted"), Step = 25 });
            await db.SaveChangesAsync();
        }
        var (second, secondCheckpoint) = await AddRunWithCheckpointAsync(s, step: 30);
        var queued = await s.Evaluations.RequestLatestCheckpointsAsync([first.Id, second.Id]);
        Assert.Equal([newest.Id, secondCheckpoint.Id], queued.Select(v => v.CheckpointId!.Value));
        // Asking again while they wait queues nothing new.
        var again = await s.Evaluations.RequestLatestCheckpointsAsync([first.Id, second.Id]);
        Assert.Equal(queued.Select(v => v.Id), again.Select(v => v.Id));

        var fresh = await s.Db.AddRunAsync("fresh", RunState.Queued);
        var refused = await Assert.ThrowsAsync<RunActionException>(() => s.Evaluations.RequestLatestCheckpointsAsync([first.Id, fresh.Id]));
        Assert.Equal($"run {fresh.Id} has no checkpoint yet (or none whose files are there)", refused.Message);
    }

    [Fact]
    public async Task ACheckpointWhoseFilesAreGoneIsRefusedNamingIt()
    {
        var s = await SetUpAsync();
        var (_, checkpoint) = await AddRunWithCheckpointAsync(s, step: 10);
        Directory.Delete(checkpoint.Path);
        var refused = await Assert.ThrowsAsync<RunActionException>(() => s.Evaluations.RequestCheckpointAsync(checkpoint.Id));
        Assert.Equal($"checkpoint {checkpoint.Id} (run {checkpoint.RunId}, step 10): its files are gone ({checkpoint.Path}); delete its entry on the run page", refused.Message);
        await using var db = s.Db.CreateDbContext();
        Assert.Empty(db.Evaluations);
    }
}
