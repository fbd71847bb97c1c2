using System.Diagnostics;
using System.Text.Json;
using SkiaSharp;
using Studio.Ml.Diffusion;
using Studio.Ml.Distillation;
using Studio.Ml.Tensors;
using TorchSharp;

namespace Studio.Ml.Toy;

/// <summary>What `studio toy study` runs; the defaults are the full study (docs/TOY-WORLD.md, "The scaling study").</summary>
public sealed record ToyStudyOptions
{
    /// <summary>The run presets distilled, in order: three sizes with the vision loss, then the naive baseline at the middle size.</summary>
    public IReadOnlyList<string> Presets { get; init; } = ["toy-study-small", "toy-study-base", "toy-study-large", "toy-study-naive"];
    /// <summary>Updates per run (null: the preset's).</summary>
    public int? Updates { get; init; }
    public ToyEvaluationOptions Evaluation { get; init; } = new();
    public string Teacher { get; init; } = "toy";
    /// <summary>Where the runs train and the evaluation generates: cpu, cuda or cuda:N (each run's `device`).</summary>
    public string Device { get; init; } = "cpu";
}

/// <summary>
/// One row of the study: the teacher (no run) or a distilled student, with its evaluation and its run's validation
/// curve (empty for the teacher, and for a run trained before the study recorded curves).
/// </summary>
public sealed record ToyStudyRow(string Name, string Student, string Loss, long Updates, double TrainSeconds, ToyEvaluationResult Evaluation,
    IReadOnlyList<ToyCurvePoint>? Curve = null);

/// <summary>One validation of a study run: the vision loss on held-out prompts and the cosine of the projected states, each averaged over the categories.</summary>
public sealed record ToyCurvePoint(long Step, double VisionLoss, double EmbeddingCosine);

public sealed record ToyStudyResult(IReadOnlyList<ToyStudyRow> Rows, ToyEvaluationOptions Evaluation, DateTime Time)
{
    /// <summary>The scores of each row, then their 95% intervals over prompts, then where each run's validation loss went.</summary>
    public string Table()
    {
        string[] columns = ["FD iq", "FD all", "objects", "colour", "spatial", "count", "semant.", "text", "|Δ| tch.", "SSIM tch."];
        // Interval columns are wider: "1.104-11.356" must not run into its neighbour.
        string Header(int width) => string.Concat(columns.Select(c => c.PadLeft(width)));
        var lines = new List<string> { $"{"model",-24}{"loss",8}{"updates",9}{"T5 params",12}{"enc. ms",9}" + Header(12) };
        foreach (var r in Rows)
        {
            var e = r.Evaluation;
            lines.Add($"{r.Name,-24}{r.Loss,8}{r.Updates,9}{e.EncoderParameters,12:N0}{e.EncoderLatencyMs,9:0.00}" +
                      string.Concat(Scores(e).Select(s => s.Value is { } v ? $"{v,12:0.000}" : $"{"-",12}")));
        }
        lines.Add("");
        lines.Add($"95% intervals over prompts (percentile bootstrap, {Bootstrap.Resamples:N0} resamples of prompts with their seeds; FD recomputed on each, moved by the resamples' bias):");
        lines.Add($"{"model",-24}" + Header(15));
        foreach (var r in Rows)
            lines.Add($"{r.Name,-24}" + string.Concat(Scores(r.Evaluation).Select(s => $"{s.Interval?.ToString() ?? "-",15}")));
        lines.Add("");
        lines.Add("validation vision loss (mean over categories) at the first, middle and last validation:");
        foreach (var r in Rows.Where(r => r.Curve is { Count: > 0 }))
        {
            var c = r.Curve!;
            lines.Add($"{r.Name,-24}" + string.Join("  ", new[] { c[0], c[c.Count / 2], c[^1] }.Select(p => $"step {p.Step}: {p.VisionLoss:0.0000}")));
        }
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>The table's score columns: FD image quality, FD all, image-quality objects, colour, spatial, numeracy, semantics, text, mean |Δ| to the teacher's images (/255), their SSIM.</summary>
    static IEnumerable<(double? Value, ScoreInterval? Interval)> Scores(ToyEvaluationResult e)
    {
        yield return (e.ImageQualityFrechet, e.Intervals?.ImageQualityFrechet);
        yield return (e.FrechetAll, e.Intervals?.FrechetAll);
        foreach (var category in new[] { ToyCriteria.ImageQuality, ToyCriteria.SemanticsColour, ToyCriteria.SemanticsSpatial, ToyCriteria.SemanticsNumeracy })
            yield return e.Categories.FirstOrDefault(x => x.Category == category) is { } c ? (c.Score, c.Interval) : (null, null);
        yield return (e.Semantics, e.Intervals?.Semantics);
        yield return (e.Text, e.Intervals?.Text);
        yield return (e.TeacherDifference, e.Intervals?.TeacherDifference);
        yield return (e.TeacherSimilarity, e.Intervals?.TeacherSimilarity);
    }
}

/// <summary>
/// The paper's scaling-down study in miniature: distils each preset from the toy teacher (resuming a run folder that
/// has a checkpoint), evaluates the teacher and every student on the same prompts and seeds, and writes
/// study.json, study.png (the scores with their intervals) and curves.png (each run's validation loss) into the output folder.
/// </summary>
public static class ToyStudy
{
    /// <summary>Validations per run: enough points to see whether a student flattened.</summary>
    public const int CurvePoints = 20;
    /// <summary>Each run folder's validation points, rewritten whole after each validation.</summary>
    public const string CurveFile = "validation.json";

    public static ToyStudyResult Run(ToyStudyOptions options, string outputFolder, string cacheDirectory, ITrainingReporter reporter,
        Action<string> log, CancellationToken cancel = default)
    {
        if (options.Updates is < 1) throw new ArgumentException($"--updates: {options.Updates} must be at least 1");
        if (options.Evaluation.Problem() is { } problem) throw new ArgumentException(problem);
        if (AtomicFile.FileInTheWay(outputFolder) is { } file) throw new IOException($"--out {outputFolder}: {file} is a file, not a folder");
        Directory.CreateDirectory(outputFolder);
        var teacherFolder = BuiltInSources.PipelineFolder(options.Teacher);
        var trained = new List<(RunConfig Config, string Checkpoint, double Seconds, IReadOnlyList<ToyCurvePoint> Curve)>();
        foreach (var key in options.Presets)
        {
            var config = RunPresets.Find(key).Create();
            config.Teacher.Pipeline = teacherFolder;
            config.Device = options.Device;
            if (options.Updates is { } updates) config.Stages[0].Updates = updates;
            // Validations at regular intervals for the curves (and one at the end); one sample set, at the end. The
            // preset's validation (8 prompts per category, 2 noises: 120 denoiser calls on batches of 8) cost about
            // 25 updates on the CPU, +25% on a 2,000-update run at 20 points; 4 prompts and 1 noise cost a quarter.
            config.Validation.Every = (int)Math.Max(1, config.TotalUpdates / CurvePoints);
            config.Validation.PromptsPerCategory = 4;
            config.Validation.Noises = 1;
            config.Samples.Every = (int)config.TotalUpdates;
            config.Checkpoints.Every = (int)Math.Min(config.Checkpoints.Every, config.TotalUpdates);
            var runFolder = Path.Combine(outputFolder, "runs", key);
            var (checkpoint, seconds) = Train(config, runFolder, cacheDirectory, reporter, log, cancel);
            trained.Add((config, checkpoint, seconds, ReadCurve(runFolder)));
            cancel.ThrowIfCancellationRequested();
        }

        var rows = new List<ToyStudyRow>();
        using var pipeline = FluxPipeline.Load(teacherFolder, device: ComputeDevice.Parse(options.Device));
        // The teacher's row draws the teacher's images once; each student's difference to them reads them from here.
        var teacherImages = new TeacherImageStore(Path.Combine(outputFolder, "teacher-images"));
        log("evaluating the teacher");
        rows.Add(new ToyStudyRow("teacher (T5 " + Describe(pipeline.T5) + ")", "teacher", "-", 0, 0,
            ToyEvaluation.Run(pipeline, null, options.Evaluation, cancel: cancel, teacherImages: teacherImages)));
        foreach (var (config, checkpoint, seconds, curve) in trained)
        {
            log($"evaluating {config.Name} ({checkpoint})");
            using var student = ToyEvaluation.LoadTextEncoder2(checkpoint);
            student.Module.to(pipeline.Device);
            var evaluation = ToyEvaluation.Run(pipeline, student, options.Evaluation, cancel: cancel, teacherImages: teacherImages);
            rows.Add(new ToyStudyRow(config.Name, config.Student.Preset, config.Loss.Word(), config.TotalUpdates, seconds, evaluation, curve));
        }

        var result = new ToyStudyResult(rows, options.Evaluation, DateTime.UtcNow);
        var json = JsonSerializer.Serialize(result with { Rows = rows.Select(r => r with { Evaluation = r.Evaluation with { Items = [] } }).ToList() },
            new JsonSerializerOptions(ToyJson.Options) { WriteIndented = true });
        AtomicFile.WriteAllText(Path.Combine(outputFolder, "study.json"), json);
        SaveChart(result, Path.Combine(outputFolder, "study.png"));
        SaveCurves(result, Path.Combine(outputFolder, "curves.png"));
        return result;
    }

    static string Describe(T5SlotEncoder encoder) => $"{encoder.Module.parameters().Sum(p => p.numel()) / 1e6:0.0}M";

    /// <summary>
    /// Distils one preset into its run folder, or resumes it from its newest good checkpoint; returns the final
    /// checkpoint and the seconds trained. Each validation is added to the run folder's <see cref="CurveFile"/>.
    /// </summary>
    static (string, double) Train(RunConfig config, string runFolder, string cacheDirectory, ITrainingReporter reporter,
        Action<string> log, CancellationToken cancel)
    {
        var checkpoints = Path.Combine(runFolder, "checkpoints");
        var latest = Directory.Exists(checkpoints) ? TrainingCheckpoint.LatestGood(checkpoints) : null;
        if (latest is not null && TrainingCheckpoint.Verify(latest).GlobalStep >= config.TotalUpdates)
        {
            log($"{config.Name}: already trained ({latest})");
            return (latest, 0);
        }
        log($"{config.Name}: distilling a {config.Student.Preset} student with the {config.Loss.Word()} loss, {config.TotalUpdates} updates");
        var clock = Stopwatch.StartNew();
        Directory.CreateDirectory(runFolder);
        using (var setup = DistillationSetup.Prepare(config, cacheDirectory, reporter, cancel))
            new Distiller(config, setup.Context, runFolder, new CurveRecorder(reporter, runFolder)).Run(cancel, latest);
        cancel.ThrowIfCancellationRequested();
        var final = TrainingCheckpoint.LatestGood(checkpoints) ?? throw new InvalidOperationException($"{config.Name}: the run wrote no checkpoint in {checkpoints}");
        return (final, clock.Elapsed.TotalSeconds);
    }

    /// <summary>A run folder's validation points by step; none when the run has no <see cref="CurveFile"/>.</summary>
    public static IReadOnlyList<ToyCurvePoint> ReadCurve(string runFolder)
    {
        var path = Path.Combine(runFolder, CurveFile);
        if (!File.Exists(path)) return [];
        try { return JsonSerializer.Deserialize<List<ToyCurvePoint>>(File.ReadAllText(path), ToyJson.Options) ?? []; }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a list of validation points: {e.Message}", e); }
    }

    /// <summary>
    /// Passes everything on, and keeps each validation (averaged over the categories) in the run's curve file. A resumed
    /// run validates again at the steps it repeats: the newer point replaces the older one.
    /// </summary>
    sealed class CurveRecorder(ITrainingReporter inner, string runFolder) : ITrainingReporter
    {
        public void Update(UpdateMetrics metrics) => inner.Update(metrics);
        public void Event(TrainingEvent e) => inner.Event(e);

        public void Validation(ValidationMetrics metrics)
        {
            inner.Validation(metrics);
            if (metrics.ByCategory.Count == 0) return;
            var point = new ToyCurvePoint(metrics.Step, metrics.ByCategory.Values.Average(v => v.VisionLoss), metrics.ByCategory.Values.Average(v => v.EmbeddingCosine));
            var curve = ReadCurve(runFolder).Where(p => p.Step != point.Step).Append(point).OrderBy(p => p.Step).ToList();
            AtomicFile.WriteAllText(Path.Combine(runFolder, CurveFile), JsonSerializer.Serialize(curve, new JsonSerializerOptions(ToyJson.Options) { WriteIndented = true }));
        }
    }

    /// <summary>The fonts and paints both study charts draw with: titles, small labels, black ink, grey axes.</summary>
    sealed class ChartPens : IDisposable
    {
        readonly SKTypeface _typeface = ToyCaptions.Typeface();
        public SKFont Font { get; }
        public SKFont Small { get; }
        public SKPaint Ink { get; } = new() { Color = SKColors.Black, IsAntialias = true };
        public SKPaint Axis { get; } = new() { Color = SKColors.Gray, StrokeWidth = 1 };

        public ChartPens() => (Font, Small) = (new SKFont(_typeface, 12), new SKFont(_typeface, 10));

        public void Dispose()
        {
            Font.Dispose(); Small.Dispose(); Ink.Dispose(); Axis.Dispose(); _typeface.Dispose();
        }
    }

    /// <summary>The colour of each row, in order: the teacher grey, the students blue from light to dark, then orange.</summary>
    static readonly SKColor[] Colours = [new(60, 60, 60), new(120, 170, 230), new(50, 110, 200), new(20, 50, 130), new(220, 120, 60)];

    /// <summary>What the charts call a row: the teacher, or the student's size (and "naive" for the baseline).</summary>
    static string Label(ToyStudyRow row) => row.Student == "teacher" ? "teacher" : $"{row.Student}{(row.Loss == "naive" ? " naive" : "")}";

    /// <summary>
    /// Four bar panels (semantics, text: higher is better; image-quality FD, a student's mean |Δ| to the teacher's images:
    /// lower is better), one bar per row (the teacher has no |Δ| bar), each with its 95% interval over prompts as an
    /// error bar when the evaluation has one.
    /// </summary>
    public static void SaveChart(ToyStudyResult result, string path)
    {
        const int panelWidth = 300, height = 340, top = 40, bottom = 90, left = 40;
        var panels = new (string Title, Func<ToyEvaluationResult, double?> Value, Func<ToyEvaluationResult, ScoreInterval?> Interval, double Max)[]
        {
            ("semantic accuracy (higher is better)", e => e.Semantics, e => e.Intervals?.Semantics, 1.0),
            ("text character accuracy (higher is better)", e => e.Text, e => e.Intervals?.Text, 1.0),
            ("image quality: FD to renders (lower is better)", e => e.ImageQualityFrechet, e => e.Intervals?.ImageQualityFrechet,
                Math.Max(0.1, result.Rows.Max(r => Math.Max(r.Evaluation.ImageQualityFrechet ?? 0, r.Evaluation.Intervals?.ImageQualityFrechet?.High ?? 0)) * 1.1)),
            ("mean |Δ| to the teacher's images, /255 (lower)", e => e.TeacherDifference, e => e.Intervals?.TeacherDifference,
                Math.Max(1, result.Rows.Max(r => Math.Max(r.Evaluation.TeacherDifference ?? 0, r.Evaluation.Intervals?.TeacherDifference?.High ?? 0)) * 1.1)),
        };
        using var surface = SKSurface.Create(new SKImageInfo(panelWidth * panels.Length, height));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var pens = new ChartPens();
        using var whisker = new SKPaint { Color = SKColors.Black, StrokeWidth = 1.5f, IsAntialias = true };
        for (int p = 0; p < panels.Length; p++)
        {
            var (title, value, interval, max) = panels[p];
            float x0 = p * panelWidth + left, plotWidth = panelWidth - left - 10, plotHeight = height - top - bottom;
            float Y(double v) => top + plotHeight - (float)(Math.Clamp(v / max, 0, 1) * plotHeight);
            canvas.DrawText(title, p * panelWidth + 8, 20, SKTextAlign.Left, pens.Font, pens.Ink);
            canvas.DrawLine(x0, top, x0, top + plotHeight, pens.Axis);
            canvas.DrawLine(x0, top + plotHeight, x0 + plotWidth, top + plotHeight, pens.Axis);
            canvas.DrawText($"{max:0.##}", x0 - 4, top + 4, SKTextAlign.Right, pens.Small, pens.Ink);
            canvas.DrawText("0", x0 - 4, top + plotHeight, SKTextAlign.Right, pens.Small, pens.Ink);
            var slot = plotWidth / Math.Max(1, result.Rows.Count);
            for (int i = 0; i < result.Rows.Count; i++)
            {
                var row = result.Rows[i];
                float bx = x0 + i * slot + slot * 0.15f, bw = slot * 0.7f, centre = bx + bw / 2;
                if (value(row.Evaluation) is { } val)
                {
                    using var fill = new SKPaint { Color = Colours[i % Colours.Length] };
                    canvas.DrawRect(bx, Y(val), bw, top + plotHeight - Y(val), fill);
                    var labelY = Y(val) - 3;
                    if (interval(row.Evaluation) is { } ci)
                    {
                        float low = Y(ci.Low), high = Y(ci.High), cap = bw * 0.15f;
                        canvas.DrawLine(centre, low, centre, high, whisker);
                        canvas.DrawLine(centre - cap, low, centre + cap, low, whisker);
                        canvas.DrawLine(centre - cap, high, centre + cap, high, whisker);
                        labelY = Math.Min(labelY, high - 3);
                    }
                    canvas.DrawText($"{val:0.00}", centre, labelY, SKTextAlign.Center, pens.Small, pens.Ink);
                }
                canvas.Save();
                canvas.Translate(centre, top + plotHeight + 8);
                canvas.RotateDegrees(60);
                canvas.DrawText(Label(row), 0, 8, SKTextAlign.Left, pens.Small, pens.Ink);
                canvas.Restore();
            }
        }
        SavePng(surface, path);
    }

    /// <summary>
    /// Each run's validation vision loss against its update, one line per row with a curve (the teacher has none), in
    /// the rows' colours, so a reader sees whether each student flattened.
    /// </summary>
    public static void SaveCurves(ToyStudyResult result, string path)
    {
        const int width = 640, height = 360, top = 40, bottom = 40, left = 60, right = 150;
        var curves = result.Rows.Select((r, i) => (Row: r, Colour: Colours[i % Colours.Length])).Where(c => c.Row.Curve is { Count: > 0 }).ToList();
        using var surface = SKSurface.Create(new SKImageInfo(width, height));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var pens = new ChartPens();
        float plotWidth = width - left - right, plotHeight = height - top - bottom;
        canvas.DrawText("validation vision loss (held-out prompts, mean over categories)", 8, 20, SKTextAlign.Left, pens.Font, pens.Ink);
        canvas.DrawLine(left, top, left, top + plotHeight, pens.Axis);
        canvas.DrawLine(left, top + plotHeight, left + plotWidth, top + plotHeight, pens.Axis);
        if (curves.Count == 0)
        {
            canvas.DrawText("no validation points", left + plotWidth / 2, top + plotHeight / 2, SKTextAlign.Center, pens.Font, pens.Ink);
            SavePng(surface, path);
            return;
        }
        var maxStep = Math.Max(1, curves.Max(c => c.Row.Curve!.Max(p => p.Step)));
        var maxLoss = Math.Max(1e-9, curves.Max(c => c.Row.Curve!.Max(p => p.VisionLoss)) * 1.1);
        float X(long step) => left + (float)step / maxStep * plotWidth;
        float Y(double loss) => top + plotHeight - (float)(loss / maxLoss) * plotHeight;
        canvas.DrawText($"{maxLoss:0.####}", left - 4, top + 4, SKTextAlign.Right, pens.Small, pens.Ink);
        canvas.DrawText("0", left - 4, top + plotHeight, SKTextAlign.Right, pens.Small, pens.Ink);
        canvas.DrawText("0", left, top + plotHeight + 14, SKTextAlign.Center, pens.Small, pens.Ink);
        canvas.DrawText($"{maxStep} updates", left + plotWidth, top + plotHeight + 14, SKTextAlign.Right, pens.Small, pens.Ink);
        for (int k = 0; k < curves.Count; k++)
        {
            var (row, colour) = curves[k];
            using var line = new SKPaint { Color = colour, StrokeWidth = 2, IsAntialias = true, Style = SKPaintStyle.Stroke };
            using var dot = new SKPaint { Color = colour, IsAntialias = true };
            var points = row.Curve!;
            for (int i = 1; i < points.Count; i++)
                canvas.DrawLine(X(points[i - 1].Step), Y(points[i - 1].VisionLoss), X(points[i].Step), Y(points[i].VisionLoss), line);
            foreach (var p in points) canvas.DrawCircle(X(p.Step), Y(p.VisionLoss), 2.5f, dot);
            float legendY = top + 10 + k * 18;
            canvas.DrawLine(width - right + 12, legendY - 4, width - right + 32, legendY - 4, line);
            canvas.DrawText(Label(row), width - right + 38, legendY, SKTextAlign.Left, pens.Small, pens.Ink);
        }
        SavePng(surface, path);
    }

    /// <summary>Encodes the surface as a PNG and writes it atomically.</summary>
    static void SavePng(SKSurface surface, string path)
    {
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.Write(path, data.SaveTo);
    }
}
