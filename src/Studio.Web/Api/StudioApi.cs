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
public sealed record CreateRunRequest(string Name, string ConfigYaml, string? Queue, bool? EvaluateWhenDone = null, bool? EvaluateEachCheckpoint = null,
    EvaluationSettingsRequest? Evaluation = null)
{
    public AutoEvaluation AutoEvaluation() => EvaluationSettingsRequest.Auto(EvaluateWhenDone, EvaluateEachCheckpoint, Evaluation);
}

/// <summary>Evaluation settings; each left out is the default (`studio eval`'s).</summary>
public sealed record EvaluationSettingsRequest(string? Split, int? PromptsPerCategory, int? Seeds, int? Steps, double? Guidance, string? Lora = null, double? LoraScale = null)
{
    public EvaluationSettings Settings() => EvaluationSettings.Of(Split, PromptsPerCategory, Seeds, Steps, Guidance, Lora, LoraScale);

    public static AutoEvaluation Auto(bool? whenDone, bool? eachCheckpoint, EvaluationSettingsRequest? settings) =>
        new(whenDone ?? false, eachCheckpoint ?? false, settings?.Settings());
}
public sealed record ResumeRunRequest(int? CheckpointId);
public sealed record EditRunRequest(string? Name, string? Notes, string? Group);
/// <summary>
/// A sweep: one run per combination of the axes' values, each a YAML value written at the axis's field of
/// <see cref="ConfigYaml"/>; with <see cref="RandomRuns"/>, that many random draws instead (from <see cref="RandomSeed"/>, default 0);
/// with <see cref="Bayesian"/> too, that many runs of a Bayesian (TPE) search, <see cref="AtOnce"/> (default 2) queued or running at a time.
/// </summary>
public sealed record CreateSweepRequest(string Name, string ConfigYaml, IReadOnlyList<SweepAxisRequest>? Axes, string? Queue, int? RandomRuns, int? RandomSeed,
    bool? Bayesian = null, int? AtOnce = null, bool? EvaluateWhenDone = null, bool? EvaluateEachCheckpoint = null, EvaluationSettingsRequest? Evaluation = null);
public sealed record SweepAxisRequest(string Field, IReadOnlyList<string>? Values);
/// <summary>More runs for a Bayesian sweep.</summary>
public sealed record ExtendSweepRequest(int Runs);
public sealed record ForkRequest(string? Name, string? ConfigYaml, string? Queue);
public sealed record ExportRequest(string Format);
/// <summary>An evaluation request: a checkpoint, the latest checkpoint of runs, or a teacher pipeline (neither: the built-in toy teacher).</summary>
public sealed record EvaluationRequest(int? CheckpointId, IReadOnlyList<int>? LatestOfRuns, string? TeacherPipeline,
    string? Split, int? PromptsPerCategory, int? Seeds, int? Steps, double? Guidance, string? Lora = null, double? LoraScale = null)
{
    public EvaluationSettings Settings() => EvaluationSettings.Of(Split, PromptsPerCategory, Seeds, Steps, Guidance, Lora, LoraScale);
}

/// <summary>The studio's HTTP API (JSON): the same actions as the pages, for scripts. Documented in the README.</summary>
public static partial class StudioApi
{
    public static void MapStudioApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");
        // Reading needs a signed-in user (the fallback policy); anything that changes state needs the researcher role.
        // Every GET also answers HEAD (the headers alone, as HTTP asks).
        ((IEndpointConventionBuilder)api).Finally(endpoint =>
        {
            var methods = endpoint.Metadata.OfType<Microsoft.AspNetCore.Routing.HttpMethodMetadata>().SelectMany(m => m.HttpMethods).ToList();
            if (methods.Any(m => m != HttpMethods.Get && m != HttpMethods.Head))
                endpoint.Metadata.Add(new Microsoft.AspNetCore.Authorization.AuthorizeAttribute { Policy = StudioRoles.CanChange });
            if (methods.Contains(HttpMethods.Get) && !methods.Contains(HttpMethods.Head))
                endpoint.Metadata.Add(new Microsoft.AspNetCore.Routing.HttpMethodMetadata([.. methods, HttpMethods.Head]));
        });

        api.MapGet("/runs", (HttpContext http, string? group, string? state, string? search, int? limit, int? before, RunData data, CancellationToken ct) =>
            Act(async () =>
            {
                // "state=" as a form sends it: every state.
                var listed = RunFilter.Find(state);
                if (listed is null && !string.IsNullOrWhiteSpace(state))
                    throw new RunActionException($"query 'state': '{state.Trim().ToLowerInvariant()}' is not one of {string.Join(", ", RunFilter.States)}");
                var runs = (await data.RunsAsync(group, ct)).Where(r => RunFilter.InState(r, listed) && RunFilter.Matches(r, search)).ToList();
                return Results.Ok(ApiPaging.Page(http, runs, r => r.Id, ApiPaging.Limit(limit), before));
            }));
        api.MapGet("/runs/{id:int}", async (int id, RunData data, CancellationToken ct) => await data.RunAsync(id, ct) is { } run ? Results.Ok(run) : NoRun(id));
        api.MapPost("/runs", (HttpRequest http, RunService runs, CancellationToken ct) =>
            WithBody<CreateRunRequest>(http, async request =>
            {
                var run = await runs.CreateAsync(request!.Name, request.ConfigYaml, request.Queue ?? "default", ct, request.AutoEvaluation());
                return Results.Created($"/api/runs/{run.Id}", run);
            }, ct));
        api.MapPatch("/runs/{id:int}", (int id, HttpRequest http, RunService runs, CancellationToken ct) =>
            WithBody<EditRunRequest>(http, async request => Results.Ok(await runs.EditAsync(id, request!.Name, request.Notes, request.Group, ct)), ct));
        api.MapPost("/sweeps", (HttpRequest http, bool? preview, RunService runs, CancellationToken ct) =>
            WithBody<CreateSweepRequest>(http, async request =>
            {
                var axes = (request!.Axes ?? []).Select(a => new SweepAxis(a?.Field ?? "", a?.Values ?? [])).ToList();
                var queue = request.Queue ?? "default";
                var search = new SweepSearch(request.RandomRuns, request.RandomSeed ?? 0, request.Bayesian ?? false, request.AtOnce ?? 2);
                if (preview == true)
                    return Results.Ok(runs.CheckSweep(request.Name, request.ConfigYaml, axes, queue, search)
                        .Select(v => new { v.Name, Settings = v.Settings.ToDictionary(s => s.Field, s => s.Value), v.ConfigYaml }));
                var created = await runs.CreateSweepAsync(request.Name, request.ConfigYaml, axes, queue, search, ct, EvaluationSettingsRequest.Auto(request.EvaluateWhenDone, request.EvaluateEachCheckpoint, request.Evaluation));
                return Results.Created($"/api/runs?group={Uri.EscapeDataString(created[0].Group!)}", new { created[0].Group, Runs = created });
            }, ct));
        api.MapPost("/sweeps/{group}/extend", (string group, HttpRequest http, RunService runs, CancellationToken ct) =>
            WithBody<ExtendSweepRequest>(http, async request =>
            {
                var (total, queued) = await runs.ExtendSweepAsync(group, request!.Runs, ct);
                return Results.Ok(new { Group = group, TotalRuns = total, Runs = queued });
            }, ct));
        api.MapPost("/runs/{id:int}/cancel", (int id, RunService runs, CancellationToken ct) => Act(async () => Results.Ok(await runs.CancelAsync(id, ct))));
        api.MapPost("/runs/{id:int}/resume", (int id, HttpRequest http, RunService runs, CancellationToken ct) =>
            WithBody<ResumeRunRequest>(http, async request => Results.Ok(await runs.ResumeAsync(id, request?.CheckpointId, ct)), ct, optional: true));
        api.MapDelete("/runs/{id:int}", (int id, bool? artifacts, RunService runs, CancellationToken ct) =>
            Act(async () => { await runs.DeleteAsync(id, artifacts ?? false, ct); return Results.NoContent(); }));

        api.MapGet("/runs/{id:int}/metrics", (int id, long? after, int? limit, RunData data, CancellationToken ct) =>
            OfRun(id, data, async () => await data.MetricsSinceAsync(id, after ?? 0, Math.Clamp(limit ?? 10_000, 1, 100_000), ct)));
        api.MapGet("/runs/{id:int}/validation", (int id, RunData data, CancellationToken ct) => OfRun(id, data, async () => await data.ValidationAsync(id, ct)));
        api.MapGet("/runs/{id:int}/metrics.csv", (int id, RunData data, IDbContextFactory<StudioDbContext> f, CancellationToken ct) =>
            Csv(id, "metrics", data, writer => RunCsv.WriteMetricsAsync(f, id, writer, ct)));
        api.MapGet("/runs/{id:int}/validation.csv", (int id, RunData data, IDbContextFactory<StudioDbContext> f, CancellationToken ct) =>
            Csv(id, "validation", data, writer => RunCsv.WriteValidationAsync(f, id, writer, ct)));
        api.MapGet("/runs/{id:int}/evaluations.csv", (int id, RunData data, IDbContextFactory<StudioDbContext> f, CancellationToken ct) =>
            Csv(id, "evaluations", data, writer => RunCsv.WriteEvaluationsAsync(f, id, writer, ct)));
        api.MapGet("/runs/{id:int}/events", (int id, long? after, RunData data, CancellationToken ct) =>
            OfRun(id, data, async () => await data.EventsSinceAsync(id, after ?? 0, ct: ct)));
        api.MapGet("/runs/{id:int}/checkpoints", (int id, RunData data, CancellationToken ct) => OfRun(id, data, async () => await data.CheckpointsAsync(id, ct)));
        api.MapGet("/runs/{id:int}/samples", (int id, RunData data, CancellationToken ct) => OfRun(id, data, async () => await data.SamplesAsync(id, ct)));
        api.MapGet("/runs/{id:int}/samples/{sampleId:long}/image", async (int id, long sampleId, IDbContextFactory<StudioDbContext> f, StudioOptions options, CancellationToken ct) =>
        {
            await using var db = await f.CreateDbContextAsync(ct);
            var sample = await db.Samples.AsNoTracking().SingleOrDefaultAsync(s => s.Id == sampleId && s.RunId == id, ct);
            return sample is null ? Results.NotFound() : Png(sample.PngPath, options);
        });
        api.MapGet("/runs/{id:int}/samples/{sampleId:long}/difference", async (int id, long sampleId, IDbContextFactory<StudioDbContext> f, StudioOptions options, CancellationToken ct) =>
        {
            await using var db = await f.CreateDbContextAsync(ct);
            var sample = await db.Samples.AsNoTracking().SingleOrDefaultAsync(s => s.Id == sampleId && s.RunId == id && !s.IsTeacher, ct);
            var teacher = sample is null ? null : await db.Samples.AsNoTracking()
                .Where(s => s.RunId == id && s.IsTeacher && s.PromptIndex == sample.PromptIndex && s.Seed == sample.Seed).OrderByDescending(s => s.Id).FirstOrDefaultAsync(ct);
            if (sample is null || teacher is null) return Results.NotFound(new { error = $"run {id} has no student sample {sampleId} with a teacher sample of the same prompt and seed" });
            try { return Heatmap(teacher.PngPath, sample.PngPath, options); }
            catch (InvalidDataException e) { return Results.NotFound(new { error = e.Message }); }
        });

        api.MapGet("/checkpoints/{id:int}/download", async (int id, HttpContext http, IDbContextFactory<StudioDbContext> f, StudioOptions options, CancellationToken ct) =>
        {
            await using var db = await f.CreateDbContextAsync(ct);
            var c = await db.Checkpoints.AsNoTracking().SingleOrDefaultAsync(x => x.Id == id, ct);
            if (c is null) return Results.NotFound(new { error = $"no checkpoint {id}" });
            if (!ArtifactFolders.Contains(options, c.Path)) return Results.Problem($"checkpoint {id} lies outside the artifact folder", statusCode: 403);
            if (File.Exists(c.Path)) return Results.File(c.Path, "application/octet-stream", Path.GetFileName(c.Path), enableRangeProcessing: true);
            if (!Directory.Exists(c.Path)) return Results.NotFound(new { error = $"{c.Path} is gone" });
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
        });
        api.MapPost("/checkpoints/{id:int}/fork", (int id, HttpRequest http, RunService runs, CancellationToken ct) =>
            WithBody<ForkRequest>(http, async request =>
            {
                var run = await runs.ForkAsync(id, request?.Name, request?.ConfigYaml, request?.Queue, ct);
                return Results.Created($"/api/runs/{run.Id}", run);
            }, ct, optional: true));
        api.MapPost("/checkpoints/{id:int}/export", (int id, HttpRequest http, RunService runs, CancellationToken ct) =>
            WithBody<ExportRequest>(http, async request => Results.Accepted(value: new { job = await runs.ExportCheckpointAsync(id, request!.Format, ct) }), ct));
        api.MapDelete("/checkpoints/{id:int}", (int id, RunService runs, CancellationToken ct) =>
            Act(async () => { await runs.DeleteCheckpointAsync(id, ct); return Results.NoContent(); }));

        api.MapPost("/evaluations", (HttpRequest http, EvaluationService evaluations, CancellationToken ct) =>
            WithBody<EvaluationRequest>(http, async request =>
            {
                var settings = request!.Settings();
                List<CheckpointEvaluation> queued =
                    request.CheckpointId is { } checkpointId ? [await evaluations.RequestCheckpointAsync(checkpointId, settings, ct)]
                    : request.LatestOfRuns is { Count: > 0 } runIds ? await evaluations.RequestLatestCheckpointsAsync(runIds, settings, ct)
                    : [await evaluations.RequestTeacherAsync(request.TeacherPipeline ?? Studio.Core.ModelRegistry.ModelFolders.ToyTeacher, settings, ct)];
                return Results.Accepted(value: queued);
            }, ct));
        api.MapGet("/evaluations", (HttpContext http, string? runs, int? limit, int? before, EvaluationService evaluations, CancellationToken ct) => Act(async () =>
        {
            var parts = runs?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
            if (parts.FirstOrDefault(x => !int.TryParse(x, out _)) is { } bad) throw new RunActionException($"query 'runs': '{bad}' is not a run id");
            var listed = await evaluations.ListAsync(runs is null ? null : parts.Select(int.Parse).ToList(), ct: ct);
            return Results.Ok(ApiPaging.Page(http, listed, v => v.Id, ApiPaging.Limit(limit), before));
        }));
        api.MapPost("/evaluations/{id:int}/cancel", (int id, EvaluationService evaluations, CancellationToken ct) =>
            Act(async () => Results.Ok(await evaluations.CancelAsync(id, ct))));
        api.MapGet("/evaluations/{id:int}", async (int id, EvaluationService evaluations, CancellationToken ct) =>
            await evaluations.FindAsync(id, ct) is { } v ? Results.Ok(v) : Results.NotFound(new { error = $"no evaluation {id}" }));
        api.MapGet("/evaluations/{id:int}/report", async (int id, EvaluationService evaluations, StudioOptions options, CancellationToken ct) =>
        {
            var v = await evaluations.FindAsync(id, ct);
            if (v?.ReportPath is null) return Results.NotFound(new { error = $"evaluation {id} has no report" });
            if (!ArtifactFolders.Contains(options, v.ReportPath)) return Results.Problem("the report lies outside the artifact folder", statusCode: 403);
            return File.Exists(v.ReportPath) ? Results.File(v.ReportPath, "application/json") : Results.NotFound(new { error = $"{v.ReportPath} is gone" });
        });
        api.MapGet("/evaluations/{id:int}/figure", async (int id, EvaluationService evaluations, StudioOptions options, CancellationToken ct) =>
        {
            var v = await evaluations.FindAsync(id, ct);
            if (v?.FigurePath is not { } figure || !File.Exists(figure)) return Results.NotFound(new { error = $"evaluation {id} has no figure of its images" });
            if (!ArtifactFolders.Contains(options, figure)) return Results.Problem("the figure lies outside the artifact folder", statusCode: 403);
            return Results.File(figure, "image/png");
        });

        api.MapGet("/workers", (Studio.Core.Queue.QueueStatus status) => Results.Ok(status.Workers()));
        api.MapPost("/generations", (HttpRequest http, GenerationService generations, CancellationToken ct) =>
            WithBody<GenerationRequest>(http, async request =>
            {
                var g = await generations.RequestAsync(request!, ct);
                return Results.Created($"/api/generations/{g.Id}", g);
            }, ct));
        api.MapGet("/generations", (HttpContext http, int? limit, int? take, int? before, GenerationService generations, CancellationToken ct) => Act(async () =>
        {
            var size = limit is not null || take is null ? ApiPaging.Limit(limit, 50) : ApiPaging.Limit(take, query: "take");
            var (page, total, next) = await generations.HistoryPageAsync(size!.Value, before, ct);
            ApiPaging.SetHeaders(http, total, next);
            return Results.Ok(page);
        }));
        api.MapGet("/runs/samples-figure.png", (string? runs, long? step, RunData data, StudioOptions options, CancellationToken ct) => Act(async () =>
        {
            var ids = FigureIds.Parse(runs, "runs", "run", "3,5,8", SamplesComparison.MaxRuns);
            return Results.File(await SamplesComparison.FigureAsync(data, ids, step, path => ArtifactFolders.Contains(options, path), ct), "image/png",
                $"samples-runs-{string.Join('-', ids.Take(8))}{(step is { } s ? $"-step-{s}" : "")}.png");
        }));
        api.MapGet("/generations/figure.png", (string? ids, GenerationService generations, StudioOptions options, CancellationToken ct) =>
            Act(async () =>
            {
                var wanted = FigureIds.Parse(ids, "ids", "generation", "3,4,5", GenerationFigure.MaxGenerations);
                return Results.File(await generations.FigureAsync(wanted, path => ArtifactFolders.Contains(options, path), ct), "image/png",
                    $"generations-{string.Join('-', wanted.Take(8))}.png");
            }));
        api.MapGet("/generations/{id:int}", async (int id, GenerationService generations, CancellationToken ct) =>
            await generations.FindAsync(id, ct) is { } g ? Results.Ok(g) : Results.NotFound(new { error = $"no generation {id}" }));
        api.MapPost("/generations/{id:int}/cancel", (int id, GenerationService generations, CancellationToken ct) =>
            Act(async () => Results.Ok(await generations.CancelAsync(id, ct))));
        api.MapGet("/generations/{id:int}/images/{imageId:int}", async (int id, int imageId, IDbContextFactory<StudioDbContext> f, StudioOptions options, CancellationToken ct) =>
        {
            await using var db = await f.CreateDbContextAsync(ct);
            var image = await db.GenerationImages.AsNoTracking().SingleOrDefaultAsync(i => i.Id == imageId && i.GenerationId == id, ct);
            return image?.PngPath is null ? Results.NotFound() : Png(image.PngPath, options);
        });
        api.MapGet("/generations/{id:int}/images/{imageId:int}/difference", async (int id, int imageId, IDbContextFactory<StudioDbContext> f, StudioOptions options, CancellationToken ct) =>
        {
            await using var db = await f.CreateDbContextAsync(ct);
            var images = await db.GenerationImages.AsNoTracking().Where(i => i.GenerationId == id && i.PngPath != null).ToListAsync(ct);
            var image = images.SingleOrDefault(i => i.Id == imageId);
            var teacher = images.FirstOrDefault(i => i.CheckpointId is null && i.ModelId is null);
            if (image is null || teacher is null) return Results.NotFound(new { error = "the image or the teacher's image of this generation is missing" });
            return Heatmap(teacher.PngPath!, image.PngPath!, options);
        });
    }

    static IResult NoRun(int id) => Results.NotFound(new { error = $"no run {id}" });

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
            ? Results.Problem("the image lies outside the artifact folder", statusCode: 403)
            : Results.File(ImageDifference.HeatmapPng(teacherPng, studentPng), "image/png");

    static IResult Png(string path, StudioOptions options) =>
        !ArtifactFolders.Contains(options, path) ? Results.Problem("the image lies outside the artifact folder", statusCode: 403)
        : File.Exists(path) ? Results.File(path, "image/png")
        : Results.NotFound();

    /// <summary>Runs an action; a refused action (wrong state, unknown id, bad value) answers 400 with the reason and the problems by field.</summary>
    static async Task<IResult> Act(Func<Task<IResult>> action)
    {
        try { return await action(); }
        catch (RunActionException e) { return Results.BadRequest(new { error = e.Message, problems = e.Problems }); }
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
            // in the API's JSON shape, not an empty answer (the table in README lists the endpoints).
            var (method, path, status) = (context.Request.Method, context.Request.Path, context.Response.StatusCode);
            if (!context.Response.HasStarted && (status == 405 || status == 404 && context.GetEndpoint() is null))
                await Results.Json(new
                {
                    error = status == 405
                        ? $"{method} is not served at {path} (allowed: {string.Join(", ", context.Response.Headers.Allow.ToString().Split(',', StringSplitOptions.TrimEntries).Where(m => m != HttpMethods.Head))})"
                        : $"no API endpoint {method} {path} (see README, HTTP API)",
                }, statusCode: status).ExecuteAsync(context);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            var bind = BindFailure().Match(e.Message);
            var error = bind.Success ? $"query '{bind.Groups[1].Value}': '{bind.Groups[2].Value}' is not a valid value" : e.Message;
            await Results.Json(new { error }, statusCode: e.StatusCode).ExecuteAsync(context);
        }
        catch (Exception e) when (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
        {
            // A fault of the studio, not of the request: logged with its stack, answered in the API's own shape.
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Studio.Web.Api")
                .LogError(e, "{Method} {Path} failed", context.Request.Method, context.Request.Path);
            await Results.Json(new { error = $"internal error: {e.Message} (the studio's log has the details)" }, statusCode: 500).ExecuteAsync(context);
        }
    });

    /// <summary>Minimal APIs throw binding failures (instead of an empty 400) so <see cref="UseStudioApiErrors"/> can name them.</summary>
    public static IServiceCollection AddStudioApi(this IServiceCollection services) =>
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);

    [System.Text.RegularExpressions.GeneratedRegex("^Failed to bind parameter \"(?:[^\"]* )?(\\w+)\" from \"(.*)\"\\.$")]
    private static partial System.Text.RegularExpressions.Regex BindFailure();
}
