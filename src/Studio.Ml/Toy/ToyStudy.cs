using System.Diagnostics;
using System.Text.Json;
using SkiaSharp;
using Studio.Ml.Diffusion;
using Studio.Ml.Distillation;
using Studio.Ml.Tensors;
using TorchSharp;

namespace Studio.Ml.Toy;

/// <summary>What `studio toy study` runs; the defaults are the full study (README "The scaling study").</summary>
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

/// <summary>One row of the study: the teacher (no run) or a distilled student, with its evaluation.</summary>
public sealed record ToyStudyRow(string Name, string Student, string Loss, long Updates, double TrainSeconds, ToyEvaluationResult Evaluation);

public sealed record ToyStudyResult(IReadOnlyList<ToyStudyRow> Rows, ToyEvaluationOptions Evaluation, DateTime Time)
{
    public string Table()
    {
        var lines = new List<string>
        {
            $"{"model",-24}{"loss",8}{"updates",9}{"T5 params",12}{"enc. ms",9}{"FD iq",8}{"FD all",8}{"colour",8}{"spatial",8}{"count",8}{"semant.",8}{"text",8}",
        };
        foreach (var r in Rows)
        {
            var e = r.Evaluation;
            double? Category(string c) => e.Categories.FirstOrDefault(x => x.Category == c)?.Score;
            lines.Add($"{r.Name,-24}{r.Loss,8}{r.Updates,9}{e.EncoderParameters,12:N0}{e.EncoderLatencyMs,9:0.00}" +
                      $"{F(e.ImageQualityFrechet)}{F(e.FrechetAll)}{F(Category(ToyCriteria.SemanticsColour))}{F(Category(ToyCriteria.SemanticsSpatial))}" +
                      $"{F(Category(ToyCriteria.SemanticsNumeracy))}{F(e.Semantics)}{F(e.Text)}");
        }
        return string.Join(Environment.NewLine, lines);
    }

    static string F(double? value) => value is { } v ? $"{v,8:0.000}" : $"{"-",8}";
}

/// <summary>
/// The paper's scaling-down study in miniature: distils each preset from the toy teacher (resuming a run folder that
/// has a checkpoint), evaluates the teacher and every student on the same prompts and seeds, and writes
/// study.json and study.png into the output folder.
/// </summary>
public static class ToyStudy
{
    public static ToyStudyResult Run(ToyStudyOptions options, string outputFolder, string cacheDirectory, ITrainingReporter reporter,
        Action<string> log, CancellationToken cancel = default)
    {
        Directory.CreateDirectory(outputFolder);
        var teacherFolder = BuiltInSources.PipelineFolder(options.Teacher);
        var trained = new List<(RunConfig Config, string Checkpoint, double Seconds)>();
        foreach (var key in options.Presets)
        {
            var config = RunPresets.Find(key).Create();
            config.Teacher.Pipeline = teacherFolder;
            config.Device = options.Device;
            if (options.Updates is { } updates)
            {
                if (updates < 1) throw new ArgumentException($"--updates: {updates} must be at least 1");
                config.Stages[0].Updates = updates;
            }
            // One validation and one sample set, at the end: the study's evaluation is what it reports.
            config.Validation.Every = (int)config.TotalUpdates;
            config.Samples.Every = (int)config.TotalUpdates;
            config.Checkpoints.Every = (int)Math.Min(config.Checkpoints.Every, config.TotalUpdates);
            var runFolder = Path.Combine(outputFolder, "runs", key);
            trained.Add(Train(config, runFolder, cacheDirectory, reporter, log, cancel));
            cancel.ThrowIfCancellationRequested();
        }

        var rows = new List<ToyStudyRow>();
        using var pipeline = FluxPipeline.Load(teacherFolder, device: ComputeDevice.Parse(options.Device));
        log("evaluating the teacher");
        rows.Add(new ToyStudyRow("teacher (T5 " + Describe(pipeline.T5) + ")", "teacher", "-", 0, 0,
            ToyEvaluation.Run(pipeline, null, options.Evaluation, cancel: cancel)));
        foreach (var (config, checkpoint, seconds) in trained)
        {
            log($"evaluating {config.Name} ({checkpoint})");
            using var student = ToyEvaluation.LoadTextEncoder2(checkpoint);
            student.Module.to(pipeline.Device);
            var evaluation = ToyEvaluation.Run(pipeline, student, options.Evaluation, cancel: cancel);
            rows.Add(new ToyStudyRow(config.Name, config.Student.Preset, config.Loss.Word(), config.TotalUpdates, seconds, evaluation));
        }

        var result = new ToyStudyResult(rows, options.Evaluation, DateTime.UtcNow);
        var json = JsonSerializer.Serialize(result with { Rows = rows.Select(r => r with { Evaluation = r.Evaluation with { Items = [] } }).ToList() },
            new JsonSerializerOptions(ToyJson.Options) { WriteIndented = true });
        AtomicFile.WriteAllText(Path.Combine(outputFolder, "study.json"), json);
        SaveChart(result, Path.Combine(outputFolder, "study.png"));
        return result;
    }

    static string Describe(T5SlotEncoder encoder) => $"{encoder.Module.parameters().Sum(p => p.numel()) / 1e6:0.0}M";

    /// <summary>Distils one preset into its run folder, or resumes it from its newest good checkpoint; returns the final checkpoint.</summary>
    static (RunConfig, string, double) Train(RunConfig config, string runFolder, string cacheDirectory, ITrainingReporter reporter,
        Action<string> log, CancellationToken cancel)
    {
        var checkpoints = Path.Combine(runFolder, "checkpoints");
        var latest = Directory.Exists(checkpoints) ? TrainingCheckpoint.LatestGood(checkpoints) : null;
        if (latest is not null && TrainingCheckpoint.Verify(latest).GlobalStep >= config.TotalUpdates)
        {
            log($"{config.Name}: already trained ({latest})");
            return (config, latest, 0);
        }
        log($"{config.Name}: distilling a {config.Student.Preset} student with the {config.Loss.Word()} loss, {config.TotalUpdates} updates");
        var clock = Stopwatch.StartNew();
        Directory.CreateDirectory(runFolder);
        using (var setup = DistillationSetup.Prepare(config, cacheDirectory, reporter, cancel))
            new Distiller(config, setup.Context, runFolder, reporter).Run(cancel, latest);
        cancel.ThrowIfCancellationRequested();
        var final = TrainingCheckpoint.LatestGood(checkpoints) ?? throw new InvalidOperationException($"{config.Name}: the run wrote no checkpoint in {checkpoints}");
        return (config, final, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Three bar panels (semantics, text: higher is better; image-quality FD: lower is better), one bar per row.</summary>
    public static void SaveChart(ToyStudyResult result, string path)
    {
        const int panelWidth = 300, height = 340, top = 40, bottom = 90, left = 40;
        var panels = new (string Title, Func<ToyEvaluationResult, double?> Value, double Max)[]
        {
            ("semantic accuracy (higher is better)", e => e.Semantics, 1.0),
            ("text character accuracy (higher is better)", e => e.Text, 1.0),
            ("image quality: FD to renders (lower is better)", e => e.ImageQualityFrechet,
                Math.Max(0.1, result.Rows.Max(r => r.Evaluation.ImageQualityFrechet ?? 0) * 1.1)),
        };
        var colours = new[] { new SKColor(60, 60, 60), new SKColor(120, 170, 230), new SKColor(50, 110, 200), new SKColor(20, 50, 130), new SKColor(220, 120, 60) };
        using var surface = SKSurface.Create(new SKImageInfo(panelWidth * panels.Length, height));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var typeface = ToyCaptions.Typeface();
        using var font = new SKFont(typeface, 12);
        using var small = new SKFont(typeface, 10);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var axis = new SKPaint { Color = SKColors.Gray, StrokeWidth = 1 };
        for (int p = 0; p < panels.Length; p++)
        {
            var (title, value, max) = panels[p];
            float x0 = p * panelWidth + left, plotWidth = panelWidth - left - 10, plotHeight = height - top - bottom;
            canvas.DrawText(title, p * panelWidth + 8, 20, SKTextAlign.Left, font, ink);
            canvas.DrawLine(x0, top, x0, top + plotHeight, axis);
            canvas.DrawLine(x0, top + plotHeight, x0 + plotWidth, top + plotHeight, axis);
            canvas.DrawText($"{max:0.##}", x0 - 4, top + 4, SKTextAlign.Right, small, ink);
            canvas.DrawText("0", x0 - 4, top + plotHeight, SKTextAlign.Right, small, ink);
            var slot = plotWidth / Math.Max(1, result.Rows.Count);
            for (int i = 0; i < result.Rows.Count; i++)
            {
                var row = result.Rows[i];
                var v = value(row.Evaluation);
                float bx = x0 + i * slot + slot * 0.15f, bw = slot * 0.7f;
                if (v is { } val)
                {
                    var h = (float)(Math.Clamp(val / max, 0, 1) * plotHeight);
                    using var fill = new SKPaint { Color = colours[i % colours.Length] };
                    canvas.DrawRect(bx, top + plotHeight - h, bw, h, fill);
                    canvas.DrawText($"{val:0.00}", bx + bw / 2, top + plotHeight - h - 3, SKTextAlign.Center, small, ink);
                }
                canvas.Save();
                canvas.Translate(bx + bw / 2, top + plotHeight + 8);
                canvas.RotateDegrees(60);
                var label = row.Student == "teacher" ? "teacher" : $"{row.Student}{(row.Loss == "naive" ? " naive" : "")}";
                canvas.DrawText(label, 0, 8, SKTextAlign.Left, small, ink);
                canvas.Restore();
            }
        }
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        var temp = path + ".tmp";
        using (var file = File.Create(temp)) data.SaveTo(file);
        File.Move(temp, path, overwrite: true);
    }
}
