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

        using (var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "study.json"))))
        {
            var rows = json.RootElement.GetProperty("rows");
            Assert.Equal(3, rows.GetArrayLength());
            Assert.Equal("toy-study-naive", rows[2].GetProperty("name").GetString());
        }
        using (var chart = SKBitmap.Decode(Path.Combine(folder, "study.png")))
            Assert.Equal(900, chart.Width);

        // A second run finds both runs' final checkpoints, trains nothing, and scores the same checkpoints the same.
        var log = new List<string>();
        var second = ToyStudy.Run(options, folder, cache, reporter, log.Add);
        Assert.Equal(2, log.Count(l => l.Contains("already trained")));
        Assert.All(second.Rows, r => Assert.Equal(0, r.TrainSeconds));
        Assert.Equal(first.Rows.Select(r => r.Evaluation.FrechetAll), second.Rows.Select(r => r.Evaluation.FrechetAll));
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
