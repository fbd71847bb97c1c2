using System.IO.Compression;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.EntityFrameworkCore;
using Studio.Core;
using Studio.Core.Data;
using Studio.Core.Evaluations;
using Studio.Core.Generations;
using Studio.Core.Jobs;
using Studio.Core.Live;
using Studio.Core.Runs;
using Studio.Web.Auth;
using Studio.Core.Artifacts;

namespace Studio.Web.Api;

/// <summary>
/// A run; with <see cref="EvaluateWhenDone"/>, its last checkpoint is evaluated when it completes, with
/// <see cref="EvaluateEachCheckpoint"/> each checkpoint as it is written, with the settings of
/// <see cref="Evaluation"/> (left out: the defaults).
/// </summary>
public sealed record CreateRunRequest(string Name, string ConfigYaml, string? Queue = null, bool? EvaluateWhenDone = null, bool? EvaluateEachCheckpoint = null,
    EvaluationSettingsRequest? Evaluation = null)
{
    public AutoEvaluation AutoEvaluation() => EvaluationSettingsRequest.Auto(EvaluateWhenDone, EvaluateEachCheckpoint, Evaluation);
}

/// <summary>Evaluation settings; each left out is the default (`studio eval`'s).</summary>
public sealed record EvaluationSettingsRequest(string? Split = null, int? PromptsPerCategory = null, int? Seeds = null, int? Steps = null, double? Guidance = null, string? Lora = null, double? LoraScale = null)
{
    public EvaluationSettings Settings() => EvaluationSettings.Of(Split, PromptsPerCategory, Seeds, Steps, Guidance, Lora, LoraScale);

    public static AutoEvaluation Auto(bool? whenDone, bool? eachCheckpoint, EvaluationSettingsRequest? settings) =>
        new(whenDone ?? false, eachCheckpoint ?? false, settings?.Settings());
}
public sealed record ResumeRunRequest(int? CheckpointId = null);
public sealed record EditRunRequest(string? Name = null, string? Notes = null, string? Group = null);
/// <summary>
/// A sweep: one run per combination of the axes' values, each a YAML value written at the axis's field of
/// <see cref="ConfigYaml"/>; with <see cref="RandomRuns"/>, that many random draws instead (from <see cref="RandomSeed"/>, default 0);
/// with <see cref="Bayesian"/> too, that many runs of a Bayesian (TPE) search, <see cref="AtOnce"/> (default 2) queued or running at a time.
/// </summary>
public sealed record CreateSweepRequest(string Name, string ConfigYaml, IReadOnlyList<SweepAxisRequest>? Axes = null, string? Queue = null, int? RandomRuns = null, int? RandomSeed = null,
    bool? Bayesian = null, int? AtOnce = null, bool? EvaluateWhenDone = null, bool? EvaluateEachCheckpoint = null, EvaluationSettingsRequest? Evaluation = null);
public sealed record SweepAxisRequest(string Field, IReadOnlyList<string>? Values = null);
/// <summary>More runs for a Bayesian sweep.</summary>
public sealed record ExtendSweepRequest(int Runs);
public sealed record ForkRequest(string? Name = null, string? ConfigYaml = null, string? Queue = null);
public sealed record ExportRequest(string Format);
/// <summary>An evaluation request: a checkpoint, the latest checkpoint of runs, or a teacher pipeline (neither: the built-in toy teacher).</summary>
public sealed record EvaluationRequest(int? CheckpointId = null, IReadOnlyList<int>? LatestOfRuns = null, string? TeacherPipeline = null,
    string? Split = null, int? PromptsPerCategory = null, int? Seeds = null, int? Steps = null, double? Guidance = null, string? Lora = null, double? LoraScale = null)
{
    public EvaluationSettings Settings() => EvaluationSettings.Of(Split, PromptsPerCategory, Seeds, Steps, Guidance, Lora, LoraScale);
}

/// <summary>
/// Every refusal and failure of the API: what is wrong in plain words, and for a run configuration the problems by
/// field (the messages the New run form shows at its fields).
/// </summary>
public sealed record ApiError(string Error,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    IReadOnlyList<FieldProblem>? Problems = null);
/// <summary>A run a sweep would make (`POST /api/sweeps?preview=true`): its name, the values it sets, its whole YAML.</summary>
public sealed record SweepPreview(string Name, IReadOnlyDictionary<string, string> Settings, string ConfigYaml);
/// <summary>The runs a sweep queued, under their group.</summary>
public sealed record CreatedSweep(string? Group, IReadOnlyList<Run> Runs);
/// <summary>A Bayesian sweep extended: its runs in all, and those queued now.</summary>
public sealed record ExtendedSweep(string Group, int TotalRuns, IReadOnlyList<Run> Runs);
/// <summary>A queued background job (an export), by its Hangfire id.</summary>
public sealed record QueuedJob(string Job);

/// <summary>The studio's HTTP API (JSON): the same actions as the pages, for scripts. Documented in docs/HTTP-API.md.</summary>
public static partial class StudioApi
{
    public static void MapStudioApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");
        // Reading needs a signed-in user (the fallback policy); anything that changes state needs the researcher role.
        // Every GET also answers HEAD (the headers alone, as HTTP asks).
        // In the OpenAPI document (OpenApiPath) every endpoint is filed under its first segment (runs, sweeps, ...) and
        // may answer 400 with an ApiError, and one with an id 404.
        ((IEndpointConventionBuilder)api).Finally(endpoint =>
        {
            var methods = endpoint.Metadata.OfType<Microsoft.AspNetCore.Routing.HttpMethodMetadata>().SelectMany(m => m.HttpMethods).ToList();
            if (methods.Any(m => m != HttpMethods.Get && m != HttpMethods.Head))
                endpoint.Metadata.Add(new Microsoft.AspNetCore.Authorization.AuthorizeAttribute { Policy = StudioRoles.CanChange });
            if (methods.Contains(HttpMethods.Get) && !methods.Contains(HttpMethods.Head))
                endpoint.Metadata.Add(new Microsoft.AspNetCore.Routing.HttpMethodMetadata([.. methods, HttpMethods.Head]));
            if (endpoint is RouteEndpointBuilder { RoutePattern: var route })
            {
                endpoint.Metadata.Add(new TagsAttribute(route.PathSegments[1].Parts[0] is Microsoft.AspNetCore.Routing.Patterns.RoutePatternLiteralPart first ? first.Content : "api"));
                endpoint.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status400BadRequest, typeof(ApiError), ["application/json"]));
                if (route.Parameters.Count > 0)
                    endpoint.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status404NotFound, typeof(ApiError), ["application/json"]));
            }
        });
        app.MapOpenApi(OpenApiPath);

        api.MapGet("/runs", (HttpContext http, string? group, string? state, string? search, int? limit, int? before, RunData data, CancellationToken ct) =>
            Act(async () =>
            {
                // "state=" as a form sends it: every state.
                var listed = RunFilter.Find(state);
                if (listed is null && !string.IsNullOrWhiteSpace(state))
                    throw new RunActionException($"query 'state': '{state.Trim().ToLowerInvariant()}' is not one of {string.Join(", ", RunFilter.States)}");
                var runs = (await data.RunsAsync(group, ct)).Where(r => RunFilter.InState(r, listed) && RunFilter.Matches(r, search)).ToList();
                return Results.Ok(ApiPaging.Page(http, runs, r => r.Id, ApiPaging.Limit(limit), before));
            }))
            .Answers<List<Run>>("Runs, newest first: `group`, `state` (all, active, queued, running, completed, failed, cancelled) and `search` (name, notes, group, #id) filter them; `limit` and `before` page them (X-Total-Count; Link rel=next)");
        api.MapGet("/runs/{id:int}", async (int id, RunData data, CancellationToken ct) => await data.RunAsync(id, ct) is { } run ? Results.Ok(run) : NoRun(id))
            .Answers<Run>("A run");
        api.MapPost("/runs", (HttpRequest http, RunService runs, CancellationToken ct) =>
            WithBody<CreateRunRequest>(http, async request =>
            {
                var run = await runs.CreateAsync(request!.Name, request.ConfigYaml, request.Queue ?? "default", ct, request.AutoEvaluation());
                return Results.Created($"/api/runs/{run.Id}", run);
            }, ct))
            .Reads<CreateRunRequest>().Answers<Run>("Checks a run configuration and queues the run; a wrong field answers 400 with the problems by field and queues nothing", StatusCodes.Status201Created);
        api.MapPatch("/runs/{id:int}", (int id, HttpRequest http, RunService runs, CancellationToken ct) =>
            WithBody<EditRunRequest>(http, async request => Results.Ok(await runs.EditAsync(id, request!.Name, request.Notes, request.Group, ct)), ct))
            .Reads<EditRunRequest>().Answers<Run>("Sets a run's name, notes or group (a field left out stays)");
        api.MapPost("/sweeps", (HttpRequest http, bool? preview, RunService runs, CancellationToken ct) =>
            WithBody<CreateSweepRequest>(http, async request =>
            {
                var axes = (request!.Axes ?? []).Select(a => new SweepAxis(a?.Field ?? "", a?.Values ?? [])).ToList();
                var queue = request.Queue ?? "default";
                var search = new SweepSearch(request.RandomRuns, request.RandomSeed ?? 0, request.Bayesian ?? false, request.AtOnce ?? 2);
                if (preview == true)
                    return Results.Ok(runs.CheckSweep(request.Name, request.ConfigYaml, axes, queue, search)
                        .Select(v => new SweepPreview(v.Name, v.Settings.ToDictionary(s => s.Field, s => s.Value), v.ConfigYaml)));
                var created = await runs.CreateSweepAsync(request.Name, request.ConfigYaml, axes, queue, search, ct, EvaluationSettingsRequest.Auto(request.EvaluateWhenDone, request.EvaluateEachCheckpoint, request.Evaluation));
                return Results.Created($"/api/runs?group={Uri.EscapeDataString(created[0].Group!)}", new CreatedSweep(created[0].Group, created));
            }, ct))
            .Reads<CreateSweepRequest>().Answers<CreatedSweep>("Queues a sweep's runs, all or none; with `preview=true`, answers the runs it would make (200) and queues nothing", StatusCodes.Status201Created).Produces<List<SweepPreview>>();
        api.MapPost("/sweeps/{group}/extend", (string group, HttpRequest http, RunService runs, CancellationToken ct) =>
            WithBody<ExtendSweepRequest>(http, async request =>
            {
                var (total, queued) = await runs.ExtendSweepAsync(group, request!.Runs, ct);
                return Results.Ok(new ExtendedSweep(group, total, queued));
            }, ct))
            .Reads<ExtendSweepRequest>().Answers<ExtendedSweep>("More runs for a Bayesian (TPE) sweep, to 64 in all");
        api.MapPost("/runs/{id:int}/cancel", (int id, RunService runs, CancellationToken ct) => Act(async () => Results.Ok(await runs.CancelAsync(id, ct))))
            .Answers<Run>("Cancels a queued or running run");
        api.MapPost("/runs/{id:int}/resume", (int id, HttpRequest http, RunService runs, CancellationToken ct) =>
            WithBody<ResumeRunRequest>(http, async request => Results.Ok(await runs.ResumeAsync(id, request?.CheckpointId, ct)), ct, optional: true))
            .Reads<ResumeRunRequest>(optional: true).Answers<Run>("Queues a stopped run again from its newest checkpoint, or from the checkpoint named");
        api.MapDelete("/runs/{id:int}", (int id, bool? artifacts, RunService runs, CancellationToken ct) =>
            Act(async () => { await runs.DeleteAsync(id, artifacts ?? false, ct); return Results.NoContent(); }))
            .Answers("Deletes a stopped run; with `artifacts=true` its files too");

        api.MapGet("/runs/{id:int}/metrics", (int id, long? after, int? limit, RunData data, CancellationToken ct) =>
            Act(() => OfRun(id, data, async () => await data.MetricsSinceAsync(id, after ?? 0, ApiPaging.Limit(limit, 10_000, max: 100_000)!.Value, ct))))
            .Answers<List<MetricPoint>>("A run's training points after step `after` (0), at most `limit` (10,000; up to 100,000)");
        api.MapGet("/runs/{id:int}/validation", (int id, RunData data, CancellationToken ct) => OfRun(id, data, async () => await data.ValidationAsync(id, ct)))
            .Answers<List<ValidationPoint>>("A run's held-out validation points, by step and category");
        api.MapGet("/runs/{id:int}/metrics.csv", (int id, RunData data, IDbContextFactory<StudioDbContext> f, CancellationToken ct) =>
            Csv(id, "metrics", data, writer => RunCsv.WriteMetricsAsync(f, id, writer, ct)))
            .AnswersFile("Every training point of a run as CSV (run-ID-metrics.csv)", "text/csv");
        api.MapGet("/runs/{id:int}/validation.csv", (int id, RunData data, IDbContextFactory<StudioDbContext> f, CancellationToken ct) =>
            Csv(id, "validation", data, writer => RunCsv.WriteValidationAsync(f, id, writer, ct)))
            .AnswersFile("Every validation point of a run as CSV (run-ID-validation.csv)", "text/csv");
        api.MapGet("/runs/{id:int}/evaluations.csv", (int id, RunData data, IDbContextFactory<StudioDbContext> f, CancellationToken ct) =>
            Csv(id, "evaluations", data, writer => RunCsv.WriteEvaluationsAsync(f, id, writer, ct)))
            .AnswersFile("The completed evaluations of a run's checkpoints as CSV, after the teacher's (run-ID-evaluations.csv)", "text/csv");
        api.MapGet("/runs/{id:int}/events", (int id, long? after, RunData data, CancellationToken ct) =>
            OfRun(id, data, async () => await data.EventsSinceAsync(id, after ?? 0, ct: ct)))
            .Answers<List<RunEvent>>("A run's log lines after id `after` (0)");
        api.MapGet("/runs/{id:int}/checkpoints", (int id, RunData data, CancellationToken ct) => OfRun(id, data, async () => await data.CheckpointsAsync(id, ct)))
            .Answers<List<CheckpointEntry>>("A run's checkpoints");
        api.MapGet("/runs/{id:int}/samples", (int id, RunData data, CancellationToken ct) => OfRun(id, data, async () => await data.SamplesAsync(id, ct)))
            .Answers<List<SampleEntry>>("A run's sample images: the teacher's and the student's, by step, prompt and seed");
        api.MapGet("/runs/{id:int}/samples/{sampleId:long}/image", async (int id, long sampleId, IDbContextFactory<StudioDbContext> f, StudioOptions options, CancellationToken ct) =>
        {
            await using var db = await f.CreateDbContextAsync(ct);
            var sample = await db.Samples.AsNoTracking().SingleOrDefaultAsync(s => s.Id == sampleId && s.RunId == id, ct);
            return sample is null ? Results.NotFound(new ApiError($"run {id} has no sample {sampleId}")) : Png(sample.PngPath, options);
        })
            .AnswersFile("A sample image", "image/png");
        api.MapGet("/runs/{id:int}/samples/{sampleId:long}/difference", async (int id, long sampleId, IDbContextFactory<StudioDbContext> f, StudioOptions options, CancellationToken ct) =>
        {
            await using var db = await f.CreateDbContextAsync(ct);
            var sample = await db.Samples.AsNoTracking().SingleOrDefaultAsync(s => s.Id == sampleId && s.RunId == id && !s.IsTeacher, ct);
            var teacher = sample is null ? null : await db.Samples.AsNoTracking()
                .Where(s => s.RunId == id && s.IsTeacher && s.PromptIndex == sample.PromptIndex && s.Seed == sample.Seed).OrderByDescending(s => s.Id).FirstOrDefaultAsync(ct);
            if (sample is null || teacher is null) return Results.NotFound(new ApiError($"run {id} has no student sample {sampleId} with a teacher sample of the same prompt and seed"));
            try { return Heatmap(teacher.PngPath, sample.PngPath, options); }
            catch (InvalidDataException e) { return Results.NotFound(new ApiError(e.Message)); }
        })
            .AnswersFile("A student sample as a heat image of |student - teacher| against the teacher's sample of its prompt and seed", "image/png");

        api.MapGet("/checkpoints/{id:int}/download", async (int id, HttpContext http, IDbContextFactory<StudioDbContext> f, StudioOptions options, CancellationToken ct) =>
        {
            await using var db = await f.CreateDbContextAsync(ct);
            var c = await db.Checkpoints.AsNoTracking().SingleOrDefaultAsync(x => x.Id == id, ct);
            if (c is null) return Results.NotFound(new ApiError($"no checkpoint {id}"));
            if (!ArtifactFolders.Contains(options, c.Path)) return Forbidden($"checkpoint {id} lies outside the artifact folder");
            if (File.Exists(c.Path)) return Results.File(c.Path, "application/octet-stream", Path.GetFileName(c.Path), enableRangeProcessing: true);
            if (!Directory.Exists(c.Path)) return Results.NotFound(new ApiError($"{c.Path} is gone"));
            // A checkpoint folder goes out as a zip written straight to the response. ZipArchive writes each entry's data
            // descriptor synchronously even from its async API (.NET 10), which Kestrel refuses by default: allowed for
            // this response alone (a pool thread may wait on the client while it reads).
            http.Features.Get<IHttpBodyControlFeature>()!.AllowSynchronousIO = true;
            return Results.Stream(async stream =>
            {
                await using var zip = await ZipArchive.CreateAsync(stream, ZipArchiveMode.Create, leaveOpen: true, entryNameEncoding: null, ct);
                foreach (var file in Directory.EnumerateFiles(c.Path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                {
                    var entry = zip.CreateEntry(Path.GetRelativePath(c.Path, file), CompressionLevel.NoCompression);
                    await using var to = await entry.OpenAsync(ct);
                    await using var from = File.OpenRead(file);
                    await from.CopyToAsync(to, ct);
                }
            }, "application/zip", $"run-{c.RunId}-step-{c.Step}.zip");
        })
            .AnswersFile("A checkpoint: its file, or its folder as a zip (run-ID-step-N.zip)", "application/zip", "application/octet-stream");
        api.MapPost("/checkpoints/{id:int}/fork", (int id, HttpRequest http, RunService runs, CancellationToken ct) =>
            WithBody<ForkRequest>(http, async request =>
            {
                var run = await runs.ForkAsync(id, request?.Name, request?.ConfigYaml, request?.Queue, ct);
                return Results.Created($"/api/runs/{run.Id}", run);
            }, ct, optional: true))
            .Reads<ForkRequest>(optional: true).Answers<Run>("Queues a new run from a checkpoint, with an edited configuration (left out: its run's)", StatusCodes.Status201Created);
        api.MapPost("/checkpoints/{id:int}/export", (int id, HttpRequest http, RunService runs, CancellationToken ct) =>
            WithBody<ExportRequest>(http, async request => Results.Accepted(value: new QueuedJob(await runs.ExportCheckpointAsync(id, request!.Format, ct))), ct))
            .Reads<ExportRequest>().Answers<QueuedJob>("Queues an export of a checkpoint (`format`: distillt5 or t5); the export is registered as a model when it finishes", StatusCodes.Status202Accepted);
        api.MapDelete("/checkpoints/{id:int}", (int id, RunService runs, CancellationToken ct) =>
            Act(async () => { await runs.DeleteCheckpointAsync(id, ct); return Results.NoContent(); }))
            .Answers("Deletes a checkpoint and its files");

        api.MapPost("/evaluations", (HttpRequest http, EvaluationService evaluations, CancellationToken ct) =>
            WithBody<EvaluationRequest>(http, async request =>
            {
                // One thing to evaluate, named plainly (a second was ignored, an empty one meant the toy teacher).
                if ((request!.CheckpointId is null ? 0 : 1) + (request.LatestOfRuns is null ? 0 : 1) + (request.TeacherPipeline is null ? 0 : 1) > 1)
                    throw new RunActionException("give one of checkpointId, latestOfRuns and teacherPipeline (none: the built-in toy teacher)");
                if (request.LatestOfRuns is { Count: 0 }) throw new RunActionException("latestOfRuns: give at least one run id");
                if (request.TeacherPipeline is { } named && string.IsNullOrWhiteSpace(named))
                    throw new RunActionException("teacherPipeline: give a pipeline folder, or leave it out for the built-in toy teacher");
                var settings = request.Settings();
                List<CheckpointEvaluation> queued =
                    request.CheckpointId is { } checkpointId ? [await evaluations.RequestCheckpointAsync(checkpointId, settings, ct)]
                    : request.LatestOfRuns is { Count: > 0 } runIds ? await evaluations.RequestLatestCheckpointsAsync(runIds, settings, ct)
                    : [await evaluations.RequestTeacherAsync(request.TeacherPipeline ?? Studio.Core.ModelRegistry.ModelFolders.ToyTeacher, settings, ct)];
                return Results.Accepted(value: queued);
            }, ct))
            .Reads<EvaluationRequest>().Answers<List<CheckpointEvaluation>>("Queues evaluations: of a checkpoint, of the newest checkpoint of each of `latestOfRuns`, or of a teacher pipeline (neither: the built-in toy teacher)", StatusCodes.Status202Accepted);
        api.MapGet("/evaluations", (HttpContext http, string? runs, int? limit, int? before, EvaluationService evaluations, CancellationToken ct) => Act(async () =>
        {
            var parts = runs?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
            if (parts.FirstOrDefault(x => !int.TryParse(x, out _)) is { } bad) throw new RunActionException($"query 'runs': '{bad}' is not a run id");
            var listed = await evaluations.ListAsync(runs is null ? null : parts.Select(int.Parse).ToList(), ct: ct);
            return Results.Ok(ApiPaging.Page(http, listed, v => v.Id, ApiPaging.Limit(limit), before));
        }))
            .Answers<List<CheckpointEvaluation>>("Evaluations, newest first; `runs` (ids, comma-separated) keeps those of these runs and the teachers'; `limit` and `before` page them");
        api.MapPost("/evaluations/{id:int}/cancel", (int id, EvaluationService evaluations, CancellationToken ct) =>
            Act(async () => Results.Ok(await evaluations.CancelAsync(id, ct))))
            .Answers<CheckpointEvaluation>("Cancels a queued or running evaluation");
        api.MapGet("/evaluations/{id:int}", async (int id, EvaluationService evaluations, CancellationToken ct) =>
            await evaluations.FindAsync(id, ct) is { } v ? Results.Ok(v) : Results.NotFound(new ApiError($"no evaluation {id}")))
            .Answers<CheckpointEvaluation>("An evaluation, with its scores when completed");
        api.MapGet("/evaluations/{id:int}/report", async (int id, EvaluationService evaluations, StudioOptions options, CancellationToken ct) =>
        {
            var v = await evaluations.FindAsync(id, ct);
            if (v?.ReportPath is null) return Results.NotFound(new ApiError($"evaluation {id} has no report"));
            if (!ArtifactFolders.Contains(options, v.ReportPath)) return Forbidden("the report lies outside the artifact folder");
            return File.Exists(v.ReportPath) ? Results.File(v.ReportPath, "application/json") : Results.NotFound(new ApiError($"{v.ReportPath} is gone"));
        })
            .AnswersFile("An evaluation's whole report (studio eval's JSON: every score, interval and image)", "application/json");
        api.MapGet("/evaluations/{id:int}/figure", async (int id, EvaluationService evaluations, StudioOptions options, CancellationToken ct) =>
        {
            var v = await evaluations.FindAsync(id, ct);
            if (v?.FigurePath is not { } figure || !File.Exists(figure)) return Results.NotFound(new ApiError($"evaluation {id} has no figure of its images"));
            if (!ArtifactFolders.Contains(options, figure)) return Forbidden("the figure lies outside the artifact folder");
            return Results.File(figure, "image/png");
        })
            .AnswersFile("An evaluation's figure: the teacher's images and the checkpoint's beside them, with their |Δ| and SSIM", "image/png");

        api.MapGet("/workers", (Studio.Core.Queue.QueueStatus status) => Results.Ok(status.Workers()))
            .Answers<List<Studio.Core.Queue.WorkerInfo>>("The workers: their queues, slots, heartbeat, device and memory");
        api.MapPost("/generations", (HttpRequest http, GenerationService generations, CancellationToken ct) =>
            WithBody<GenerationRequest>(http, async request =>
            {
                var g = await generations.RequestAsync(request!, ct);
                return Results.Created($"/api/generations/{g.Id}", g);
            }, ct))
            .Reads<GenerationRequest>().Answers<Generation>("Queues a generation: the prompt drawn with the teacher's own T5 and with each student encoder chosen, from the same noise", StatusCodes.Status201Created);
        api.MapGet("/generations", (HttpContext http, int? limit, int? take, int? before, GenerationService generations, CancellationToken ct) => Act(async () =>
        {
            var size = limit is not null || take is null ? ApiPaging.Limit(limit, 50) : ApiPaging.Limit(take, query: "take");
            var (page, total, next) = await generations.HistoryPageAsync(size!.Value, before, ct);
            ApiPaging.SetHeaders(http, total, next);
            return Results.Ok(page);
        }))
            .Answers<List<Generation>>("Generations, newest first, with their images; `limit` (50) and `before` page them");
        api.MapGet("/runs/samples-figure.png", (string? runs, long? step, RunData data, StudioOptions options, CancellationToken ct) => Act(async () =>
        {
            var ids = FigureIds.Parse(runs, "runs", "run", "3,5,8", SamplesComparison.MaxRuns);
            return Results.File(await SamplesComparison.FigureAsync(data, ids, step, path => ArtifactFolders.Contains(options, path), ct), "image/png",
                $"samples-runs-{string.Join('-', ids.Take(8))}{(step is { } s ? $"-step-{s}" : "")}.png");
        }))
            .AnswersFile("One PNG of several runs' samples side by side (`runs`: ids, comma-separated; `step`: that step, else each run's newest)", "image/png");
        api.MapGet("/generations/figure.png", (string? ids, GenerationService generations, StudioOptions options, CancellationToken ct) =>
            Act(async () =>
            {
                var wanted = FigureIds.Parse(ids, "ids", "generation", "3,4,5", GenerationFigure.MaxGenerations);
                return Results.File(await generations.FigureAsync(wanted, path => ArtifactFolders.Contains(options, path), ct), "image/png",
                    $"generations-{string.Join('-', wanted.Take(8))}.png");
            }))
            .AnswersFile("One PNG of the generations `ids` (comma-separated): a row per generation, a column per encoder, the teacher's first", "image/png");
        api.MapGet("/generations/{id:int}", async (int id, GenerationService generations, CancellationToken ct) =>
            await generations.FindAsync(id, ct) is { } g ? Results.Ok(g) : Results.NotFound(new ApiError($"no generation {id}")))
            .Answers<Generation>("A generation, with its images");
        api.MapPost("/generations/{id:int}/cancel", (int id, GenerationService generations, CancellationToken ct) =>
            Act(async () => Results.Ok(await generations.CancelAsync(id, ct))))
            .Answers<Generation>("Cancels a generation; a running one stops between denoising steps and keeps the images drawn");
        api.MapGet("/generations/{id:int}/images/{imageId:int}", async (int id, int imageId, IDbContextFactory<StudioDbContext> f, StudioOptions options, CancellationToken ct) =>
        {
            await using var db = await f.CreateDbContextAsync(ct);
            var image = await db.GenerationImages.AsNoTracking().SingleOrDefaultAsync(i => i.Id == imageId && i.GenerationId == id, ct);
            return image?.PngPath is null ? Results.NotFound(new ApiError($"generation {id} has no image {imageId}")) : Png(image.PngPath, options);
        })
            .AnswersFile("A generation's image", "image/png");
        api.MapGet("/generations/{id:int}/images/{imageId:int}/difference", async (int id, int imageId, IDbContextFactory<StudioDbContext> f, StudioOptions options, CancellationToken ct) =>
        {
            await using var db = await f.CreateDbContextAsync(ct);
            var images = await db.GenerationImages.AsNoTracking().Where(i => i.GenerationId == id && i.PngPath != null).ToListAsync(ct);
            var image = images.SingleOrDefault(i => i.Id == imageId);
            var teacher = images.FirstOrDefault(i => i.CheckpointId is null && i.ModelId is null);
            if (image is null || teacher is null) return Results.NotFound(new ApiError("the image or the teacher's image of this generation is missing"));
            return Heatmap(teacher.PngPath!, image.PngPath!, options);
        })
            .AnswersFile("A student's image as a heat image of |student - teacher| against the teacher's image of the same generation", "image/png");
    }

    /// <summary>Where the OpenAPI 3.1 document of the API is served (for client generators and API browsers).</summary>
    public const string OpenApiPath = "/api/openapi.json";

    /// <summary>An endpoint's summary and answer in the OpenAPI document.</summary>
    static RouteHandlerBuilder Answers<T>(this RouteHandlerBuilder endpoint, string summary, int status = StatusCodes.Status200OK) =>
        endpoint.WithSummary(summary).Produces<T>(status);

    /// <summary>An endpoint that answers 204 with no body.</summary>
    static RouteHandlerBuilder Answers(this RouteHandlerBuilder endpoint, string summary) =>
        endpoint.WithSummary(summary).Produces(StatusCodes.Status204NoContent);

    /// <summary>An endpoint that answers a file (bytes) of one of <paramref name="contentTypes"/>.</summary>
    static RouteHandlerBuilder AnswersFile(this RouteHandlerBuilder endpoint, string summary, params string[] contentTypes) =>
        endpoint.WithSummary(summary).Produces<Stream>(StatusCodes.Status200OK, contentTypes[0], contentTypes[1..]);

    /// <summary>The JSON body an endpoint reads (<see cref="WithBody"/>), in the OpenAPI document.</summary>
    static RouteHandlerBuilder Reads<T>(this RouteHandlerBuilder endpoint, bool optional = false) where T : notnull =>
        endpoint.Accepts<T>(optional, "application/json");

    static IResult NoRun(int id) => Results.NotFound(new ApiError($"no run {id}"));

    /// <summary>403: a file the request leads to lies outside the studio's artifact folder.</summary>
    static IResult Forbidden(string error) => Results.Json(new ApiError(error), statusCode: StatusCodes.Status403Forbidden);

    /// <summary>What <paramref name="read"/> gives of run <paramref name="id"/>, or 404 naming the run when there is none (not an empty list).</summary>
    static async Task<IResult> OfRun(int id, RunData data, Func<Task<object>> read) =>
        await data.RunAsync(id) is null ? NoRun(id) : Results.Ok(await read());

    /// <summary>A run's series as a CSV download (run-ID-WHAT.csv), streamed as it is read (a closed download stops the reading).</summary>
    static async Task<IResult> Csv(int id, string what, RunData data, Func<TextWriter, Task> write) =>
        await data.RunAsync(id) is null ? NoRun(id)
        : Results.Stream(async stream =>
        {
            await using var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false));
            await write(writer);
        }, "text/csv; charset=utf-8", $"run-{id}-{what}.csv");

    /// <summary>The heat image of |student - teacher| (a generation's or a run's samples), both inside the artifact folder.</summary>
    static IResult Heatmap(string teacherPng, string studentPng, StudioOptions options) =>
        !ArtifactFolders.Contains(options, teacherPng) || !ArtifactFolders.Contains(options, studentPng)
            ? Forbidden("the image lies outside the artifact folder")
            : Results.File(ImageDifference.HeatmapPng(teacherPng, studentPng), "image/png");

    static IResult Png(string path, StudioOptions options) =>
        !ArtifactFolders.Contains(options, path) ? Forbidden("the image lies outside the artifact folder")
        : File.Exists(path) ? Results.File(path, "image/png")
        : Results.NotFound(new ApiError($"{path} is gone"));

    /// <summary>
    /// Runs an action; a refused action (wrong state, bad value) answers 400 with the reason and the problems by field,
    /// one on something that does not exist (an unknown id in the address) 404.
    /// </summary>
    static async Task<IResult> Act(Func<Task<IResult>> action)
    {
        try { return await action(); }
        catch (RunActionException e) when (e.NotFound) { return Results.NotFound(new ApiError(e.Message, e.Problems)); }
        catch (RunActionException e) { return Results.BadRequest(new ApiError(e.Message, e.Problems)); }
    }

    /// <summary>Reads the JSON body (<see cref="JsonBody"/>), then runs the action with it; an empty optional body is null.</summary>
    static async Task<IResult> WithBody<T>(HttpRequest http, Func<T?, Task<IResult>> action, CancellationToken ct, bool optional = false) where T : class
    {
        var (body, refusal) = await JsonBody.ReadAsync<T>(http, optional, ct);
        return refusal ?? await Act(() => action(body));
    }

    /// <summary>
    /// Query values that cannot be bound ("?after=abc") and bodies over the server's limit answer with a JSON body
    /// naming them instead of an empty 400.
    /// </summary>
    public static IApplicationBuilder UseStudioApiErrors(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (!context.Request.Path.StartsWithSegments("/api")) { await next(context); return; }
        try
        {
            await next(context);
            // An address no endpoint serves, or not with this method (routing's 405 names the methods in Allow): named
            // in the API's JSON shape, not an empty answer (the table in docs/HTTP-API.md lists the endpoints).
            var (method, path, status) = (context.Request.Method, context.Request.Path, context.Response.StatusCode);
            if (!context.Response.HasStarted && (status is 405 or 415 || status == 404 && context.GetEndpoint() is null))
                await Results.Json(new ApiError(status switch
                    {
                        405 => $"{method} is not served at {path} (allowed: {string.Join(", ", context.Response.Headers.Allow.ToString().Split(',', StringSplitOptions.TrimEntries).Where(m => m != HttpMethods.Head))})",
                        // The endpoints' Accepts: a body sent as text or a form is named, not answered with an empty 415.
                        415 => $"{method} {path} takes a JSON body: send it with Content-Type: application/json (not '{context.Request.ContentType}')",
                        _ => $"no API endpoint {method} {path} (see docs/HTTP-API.md or {OpenApiPath})",
                    }),
                    statusCode: status).ExecuteAsync(context);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            var bind = BindFailure().Match(e.Message);
            var error = bind.Success ? $"query '{bind.Groups[1].Value}': '{bind.Groups[2].Value}' is not a valid value" : e.Message;
            await Results.Json(new ApiError(error), statusCode: e.StatusCode).ExecuteAsync(context);
        }
        catch (Exception e) when (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
        {
            // A fault of the studio, not of the request: logged with its stack, answered in the API's own shape.
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Studio.Web.Api")
                .LogError(e, "{Method} {Path} failed", context.Request.Method, context.Request.Path);
            await Results.Json(new ApiError($"internal error: {e.Message} (the studio's log has the details)"), statusCode: 500).ExecuteAsync(context);
        }
    });

    /// <summary>Minimal APIs throw binding failures (instead of an empty 400) so <see cref="UseStudioApiErrors"/> can name them.</summary>
    /// <remarks>
    /// Also: enums as strings in every answer ("state": "Running"), and the OpenAPI document (<see cref="OpenApiPath"/>)
    /// of the endpoints under /api, HEAD (every GET's twin) left out.
    /// </remarks>
    public static IServiceCollection AddStudioApi(this IServiceCollection services)
    {
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter());
            // As JsonBody reads bodies: a number sent as a string is refused, so the document says "integer", not "integer or string".
            o.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
        });
        return services.AddOpenApi(o =>
        {
            o.ShouldInclude = description => description.RelativePath?.StartsWith("api/", StringComparison.Ordinal) == true
                && description.HttpMethod != HttpMethods.Head;
            o.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new()
                {
                    Title = "Distill Studio API",
                    Version = "1",
                    Description = "The studio's HTTP API: the same actions as the pages, for scripts (docs/HTTP-API.md). A refused " +
                                  "request answers 400 (404 for an unknown id) with an ApiError, {\"error\": \"...\"}, and changes nothing; " +
                                  "a run configuration's problems come by field in \"problems\". Reading needs a signed-in user, changing " +
                                  "anything the researcher role (single-user mode: no login). Enums are strings.",
                };
                return Task.CompletedTask;
            });
        });
    }

    [System.Text.RegularExpressions.GeneratedRegex("^Failed to bind parameter \"(?:[^\"]* )?(\\w+)\" from \"(.*)\"\\.$")]
    private static partial System.Text.RegularExpressions.Regex BindFailure();
}
