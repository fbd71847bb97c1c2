using System.Text.Json;
using SkiaSharp;
using Studio.Ml.Distillation;
using Studio.Ml.Toy;

namespace Studio.Ml.Tests.Toy;

public class ToyStudyTests
{
    [Fact]
    public void TheStudyDistilsEvaluatesEveryRowAndResumesFinishedRuns()
    {
        var folder = Directory.CreateTempSubdirectory("studio-study-").FullName;
        var cache = Path.Combine(folder, "cache");
        var options = new ToyStudyOptions
        {
            Presets = ["toy-study-small", "toy-study-naive"],
            Updates = 2,
            Evaluation = new ToyEvaluationOptions { PromptsPerCategory = 1, Steps = 2 },
        };
        var reporter = new ConsoleReporter(TextWriter.Null, redraw: false);
        var first = ToyStudy.Run(options, folder, cache, reporter, _ => { });

        Assert.Equal(["teacher", "toy-small", "toy-base"], first.Rows.Select(r => r.Student));
        Assert.Equal(["-", "vision", "naive"], first.Rows.Select(r => r.Loss));
        Assert.Equal([0L, 2L, 2L], first.Rows.Select(r => r.Updates));
        // Each row is scored with what filled the T5 slot: the students are smaller than the teacher's T5, small < base.
        var parameters = first.Rows.Select(r => r.Evaluation.EncoderParameters).ToList();
        Assert.True(parameters[1] < parameters[2] && parameters[2] < parameters[0], string.Join(", ", parameters));
        Assert.All(first.Rows, r => Assert.Equal(ToyCriteria.Categories.Length, r.Evaluation.Prompts));
        Assert.All(first.Rows, r => Assert.NotNull(r.Evaluation.FrechetAll));
        // Every score has its interval; the students' runs validated at every update (2 updates / 20 points: every 1).
        Assert.All(first.Rows, r => Assert.NotNull(r.Evaluation.Intervals?.FrechetAll));
        Assert.Empty(first.Rows[0].Curve ?? []);
        Assert.All(first.Rows.Skip(1), r => Assert.Equal([1L, 2L], r.Curve!.Select(p => p.Step)));
        Assert.All(first.Rows.Skip(1), r => Assert.All(r.Curve!, p => Assert.True(p.VisionLoss > 0 && double.IsFinite(p.VisionLoss))));
        Assert.True(File.Exists(Path.Combine(folder, "runs", "toy-study-small", ToyStudy.CurveFile)));
        Assert.Contains("95% intervals over prompts", first.Table());

        using (var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "study.json"))))
        {
            var rows = json.RootElement.GetProperty("rows");
            Assert.Equal(3, rows.GetArrayLength());
            Assert.Equal("toy-study-naive", rows[2].GetProperty("name").GetString());
            Assert.Equal(2, rows[2].GetProperty("curve").GetArrayLength());
            Assert.True(rows[2].GetProperty("evaluation").GetProperty("intervals").TryGetProperty("frechetAll", out _));
            // Students are measured against the teacher's images; the teacher (row 0) is not.
            Assert.True(rows[2].GetProperty("evaluation").GetProperty("teacherDifference").GetDouble() > 0);
            Assert.False(rows[0].GetProperty("evaluation").TryGetProperty("teacherDifference", out _));
        }
        using (var chart = SKBitmap.Decode(Path.Combine(folder, "study.png")))
            Assert.Equal(4 * 300, chart.Width); // four panels: semantics, text, image-quality FD, |Δ| to the teacher
        using (var curves = SKBitmap.Decode(Path.Combine(folder, "curves.png")))
            Assert.Equal(640, curves.Width);

        // A second run finds both runs' final checkpoints, trains nothing, and scores the same checkpoints the same.
        var log = new List<string>();
        var second = ToyStudy.Run(options, folder, cache, reporter, log.Add);
        Assert.Equal(2, log.Count(l => l.Contains("already trained")));
        Assert.All(second.Rows, r => Assert.Equal(0, r.TrainSeconds));
        Assert.Equal(first.Rows.Select(r => r.Evaluation.FrechetAll), second.Rows.Select(r => r.Evaluation.FrechetAll));
        Assert.Equal(first.Rows.Select(r => r.Curve ?? []), second.Rows.Select(r => r.Curve ?? []));
        Directory.Delete(folder, true);
    }

    [Fact]
    public void TheChartDrawsItsTitlesAndRowLabels()
    {
        ToyEvaluationResult Scores(long parameters, double fd, double semantics, double text) =>
            new("toy", "t5", parameters, 1.0, "heldout", 5, 1, 2, 3.5, fd, fd, semantics, text, [], 1.0, []);
        var result = new ToyStudyResult(
        [
            new ToyStudyRow("teacher", "teacher", "-", 0, 0, Scores(9_000_000, 1.2, 0.6, 0.3)),
            new ToyStudyRow("toy-study-small", "toy-small", "vision", 400, 60, Scores(1_000_000, 1.5, 0.4, 0.1)),
            new ToyStudyRow("toy-study-naive", "toy-base", "naive", 400, 60, Scores(2_000_000, 1.9, 0.2, 0.0)),
        ], new ToyEvaluationOptions(), DateTime.UtcNow);
        var path = Path.Combine(Directory.CreateTempSubdirectory("studio-study-chart-").FullName, "study.png");

        ToyStudy.SaveChart(result, path);

        using var chart = SKBitmap.Decode(path);
        // Bars and axes stay between y 40 and 250; above them is each panel's title, below them the row labels.
        Assert.True(DarkPixels(chart, 0, 4, 290, 26) > 40, "the first panel's title is not drawn");
        Assert.True(DarkPixels(chart, 40, 256, 290, 340) > 40, "the row labels under the bars are not drawn");
        Directory.Delete(Path.GetDirectoryName(path)!, true);
    }

    static ToyEvaluationResult Semantics(double semantics, ScoreInterval? interval) =>
        new("toy", "t5", 1_000_000, 1.0, "heldout", 5, 1, 2, 3.5, 1.0, 1.0, semantics, 0.1, [], 1.0, [],
            interval is null ? null : new ToyIntervals(null, null, interval, null));

    [Fact]
    public void EachBarCarriesItsIntervalAsAnErrorBar()
    {
        // Three rows in the first panel (x 40..290, bars from y 250 up to 40 for 0..1): the second row's bar is
        // centred at x 165 and reaches y 166 for 0.4 (its label just above); its interval 0.2..0.8 draws a black whisker up to y 82.
        ToyStudyResult Study(ScoreInterval? interval) => new(
        [
            new ToyStudyRow("teacher", "teacher", "-", 0, 0, Semantics(0.1, null)),
            new ToyStudyRow("toy-study-small", "toy-small", "vision", 400, 60, Semantics(0.4, interval)),
            new ToyStudyRow("toy-study-base", "toy-base", "vision", 400, 60, Semantics(0.1, null)),
        ], new ToyEvaluationOptions(), DateTime.UtcNow);
        var folder = Directory.CreateTempSubdirectory("studio-study-bars-").FullName;
        ToyStudy.SaveChart(Study(null), Path.Combine(folder, "plain.png"));
        ToyStudy.SaveChart(Study(new ScoreInterval(0.2, 0.8)), Path.Combine(folder, "bars.png"));

        using (var plain = SKBitmap.Decode(Path.Combine(folder, "plain.png")))
            Assert.Equal(0, DarkPixels(plain, 150, 90, 180, 150));
        using (var bars = SKBitmap.Decode(Path.Combine(folder, "bars.png")))
            Assert.True(DarkPixels(bars, 150, 90, 180, 150) > 50, "no whisker above the bar");
        Directory.Delete(folder, true);
    }

    [Fact]
    public void TheCurvesChartDrawsEachRunsValidationLossWhereItWas()
    {
        // Plot x 60..490 for steps 0..20, y 320 (0) up to 40 (1.1 = the highest loss + 10%): the light-blue run's
        // points (10, 1.0) and (20, 0.5) sit at (275, 65) and (490, 193); the teacher has no curve and no line.
        var result = new ToyStudyResult(
        [
            new ToyStudyRow("teacher", "teacher", "-", 0, 0, Semantics(0.1, null)),
            new ToyStudyRow("toy-study-small", "toy-small", "vision", 20, 60, Semantics(0.4, null), [new(10, 1.0, 0.5), new(20, 0.5, 0.7)]),
        ], new ToyEvaluationOptions(), DateTime.UtcNow);
        var path = Path.Combine(Directory.CreateTempSubdirectory("studio-study-curves-").FullName, "curves.png");

        ToyStudy.SaveCurves(result, path);

        using var chart = SKBitmap.Decode(path);
        static bool Blue(SKColor c) => c.Blue > 180 && c.Red < 180;
        Assert.True(Blue(chart.GetPixel(275, 65)), $"{chart.GetPixel(275, 65)}");
        Assert.True(Blue(chart.GetPixel(489, 193)), $"{chart.GetPixel(489, 193)}");
        Assert.False(Blue(chart.GetPixel(275, 193)));
        Assert.True(DarkPixels(chart, 0, 4, 400, 26) > 40, "the title is not drawn");
        Directory.Delete(Path.GetDirectoryName(path)!, true);
    }

    static int DarkPixels(SKBitmap bitmap, int x0, int y0, int x1, int y1)
    {
        var count = 0;
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++)
            {
                var c = bitmap.GetPixel(x, y);
                if (c.Red + c.Green + c.Blue < 300) count++;
            }
        return count;
    }
}
