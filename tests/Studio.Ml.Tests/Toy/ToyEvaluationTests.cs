using System.Text.Json;
using Studio.Ml.Diffusion;
using Studio.Ml.Toy;

namespace Studio.Ml.Tests.Toy;

/// <summary>`studio eval`'s routine on the shipped teacher, at tiny settings (1 prompt per category, 2 steps).</summary>
public class ToyEvaluationTests
{
    public ToyEvaluationTests() => TorchRuntime.Initialise();

    [Fact]
    public void ScoresEveryCategoryAndWritesAReadableReport()
    {
        using var pipeline = FluxPipeline.Load(ToyTeacher.Folder);
        var options = new ToyEvaluationOptions { PromptsPerCategory = 1, Seeds = 2, Steps = 2, BatchSize = 3 };
        var result = ToyEvaluation.Run(pipeline, null, options);

        Assert.Equal(ToyCriteria.Categories, result.Categories.Select(c => c.Category));
        Assert.All(result.Categories, c => Assert.Equal(2, c.Count));
        Assert.Equal(10, result.Items.Count);
        Assert.All(result.Items, i => Assert.InRange(i.Score, 0, 1));
        Assert.True(result.FrechetAll is > 0 and < double.PositiveInfinity, $"FD {result.FrechetAll}");
        Assert.Equal(pipeline.T5.Module.parameters().Sum(p => p.numel()), result.EncoderParameters);
        Assert.Contains("text (char. accuracy)", result.Table());

        var root = TestPaths.NewTempDirectory("toy-eval");
        try
        {
            var path = Path.Combine(root, "report.json");
            result.Save(path);
            using var json = JsonDocument.Parse(File.ReadAllText(path));
            Assert.Equal(5, json.RootElement.GetProperty("categories").GetArrayLength());
            Assert.Equal("heldout", json.RootElement.GetProperty("split").GetString());
            Assert.Single(Directory.GetFiles(root));
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void TheSameSeedsGiveTheSameScores()
    {
        using var pipeline = FluxPipeline.Load(ToyTeacher.Folder);
        var options = new ToyEvaluationOptions { PromptsPerCategory = 1, Steps = 2 };
        var first = ToyEvaluation.Run(pipeline, null, options);
        var second = ToyEvaluation.Run(pipeline, null, options);
        Assert.Equal(first.FrechetAll, second.FrechetAll);
        Assert.Equal(first.Items.Select(i => i.Detail), second.Items.Select(i => i.Detail));
    }

    [Fact]
    public void AMissingTextEncoderFolderIsNamed()
    {
        var missing = Path.Combine(Path.GetTempPath(), "no-such-student-" + Guid.NewGuid().ToString("N"));
        var error = Assert.Throws<DirectoryNotFoundException>(() => ToyEvaluation.LoadTextEncoder2(missing));
        Assert.Contains(missing, error.Message);
    }
}
