using System.Text.Json;
using Studio.Ml.Toy;

namespace Studio.Cli.Tests;

[Collection("console")]
public class ToyCommandTests
{
    [Fact]
    public void RenderWritesImagesAndScenesThatScorePerfectly()
    {
        var dir = Directory.CreateTempSubdirectory("studio-toy-").FullName;
        var (code, output, _) = Cli.Run("toy", "render", "--criterion", "text", "--count", "6", "--seed", "0", "--out", dir);
        Assert.Equal(0, code);
        Assert.Contains("wrote 6 images", output);

        var lines = ToyPromptFile.Read(Path.Combine(dir, "prompts.jsonl"));
        Assert.Equal(6, lines.Count);
        Assert.All(lines, l => Assert.Equal(ToyCriteria.Text, l.Category));
        Assert.Equal(ToyPrompts.Generate("text", 6, 0, ToySplit.Train).Select(p => p.Text), lines.Select(l => l.Prompt));
        foreach (var line in lines)
            Assert.Equal(ToyRenderer.RenderRgb(line.Scene), ToyImage.LoadPng(Path.Combine(dir, line.Image)).ToRgb());
        Assert.True(File.Exists(Path.Combine(dir, "sheet.png")));

        (code, output, _) = Cli.Run("toy", "score", dir);
        Assert.Equal(0, code);
        Assert.Matches(@"text\s+6\s+1\.000", output);
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "report.json")));
        Assert.Equal(1.0, report.RootElement.GetProperty("text").GetDouble());
        Assert.Equal(6, report.RootElement.GetProperty("items").GetArrayLength());
        Directory.Delete(dir, true);
    }

    [Fact]
    public void ScoringACorruptedSetShowsTheDamage()
    {
        var dir = Directory.CreateTempSubdirectory("studio-toy-").FullName;
        Assert.Equal(0, Cli.Run("toy", "render", "--criterion", "semantics/numeracy", "--count", "8", "--split", "heldout", "--corrupt", "missing-objects", "--out", dir).Code);
        var (code, output, _) = Cli.Run("toy", "score", dir, "--report", Path.Combine(dir, "r.json"));
        Assert.Equal(0, code);
        // Every numeracy scene lost one object, so no count is right.
        Assert.Matches(@"semantics/numeracy\s+8\s+0\.000", output);
        Assert.True(File.Exists(Path.Combine(dir, "r.json")));
        Directory.Delete(dir, true);
    }

    [Theory]
    [InlineData("--split", "validation", "--split: 'validation' is not train or heldout")]
    [InlineData("--criterion", "colour", "unknown criterion 'colour'")]
    [InlineData("--corrupt", "smudge", "--corrupt: 'smudge' is not one of")]
    public void RenderRejectsBadOptionsWithAClearMessage(string option, string value, string message)
    {
        var dir = Directory.CreateTempSubdirectory("studio-toy-").FullName;
        var (code, output, error) = Cli.Run("toy", "render", option, value, "--out", dir);
        Assert.NotEqual(0, code);
        Assert.Contains(message, output + error);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void ScoreNamesAMissingPromptsFile()
    {
        var dir = Directory.CreateTempSubdirectory("studio-toy-").FullName;
        var (code, output, error) = Cli.Run("toy", "score", dir);
        Assert.NotEqual(0, code);
        Assert.Contains("prompts.jsonl: no such prompts file", output + error);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void CeilingPrintsARowPerCategoryAndWritesTheReport()
    {
        var dir = Directory.CreateTempSubdirectory("studio-toy-").FullName;
        var path = Path.Combine(dir, "ceiling.json");
        var (code, output, _) = Cli.Run("toy", "ceiling", "--count", "1", "--report", path, "--threads", "1");
        Assert.Equal(0, code);
        foreach (var category in ToyCriteria.Categories.Append("all"))
            Assert.Matches($@"(?m)^{category}\s+\d+\s+1\.000\s", output); // the renders score 1
        Assert.Contains("16x16x16 -> 64 image tokens", output);
        using var report = JsonDocument.Parse(File.ReadAllText(path));
        Assert.Equal(ToyCriteria.Categories, report.RootElement.GetProperty("categories").EnumerateArray().Select(c => c.GetProperty("category").GetString()));
        Assert.Equal(5, report.RootElement.GetProperty("items").GetArrayLength());
        Assert.Equal(5, report.RootElement.GetProperty("all").GetProperty("flowMseBySigma").GetArrayLength());
        Directory.Delete(dir, true);
    }

    [Fact]
    public void CeilingOfAnAutoencoderAloneHasRoundTripsAndNoFlowLoss()
    {
        var dir = Directory.CreateTempSubdirectory("studio-toy-").FullName;
        var path = Path.Combine(dir, "ceiling.json");
        var (code, output, _) = Cli.Run("toy", "ceiling", "--vae", Path.Combine(ToyTeacher.Folder, "vae"), "--count", "1", "--report", path, "--threads", "1");
        Assert.Equal(0, code);
        Assert.Contains("16x16x16 -> 64 image tokens, autoencoder alone (no flow loss)", output);
        Assert.Matches(@"(?m)^all\s+5\s+1\.000\s+\d\.\d{3}\s+\d\.\d{3}\s+-\s", output); // renders, VAE rt, rt L1, then no flow
        using var report = JsonDocument.Parse(File.ReadAllText(path));
        Assert.True(report.RootElement.GetProperty("all").TryGetProperty("roundTripScore", out _));
        Assert.False(report.RootElement.GetProperty("all").TryGetProperty("flowMse", out _)); // null, left out
        Directory.Delete(dir, true);
    }

    [Fact]
    public void CeilingTakesAPipelineOrAnAutoencoderNotBoth()
    {
        var (code, output, error) = Cli.Run("toy", "ceiling", "--vae", Path.Combine(ToyTeacher.Folder, "vae"), "--pipeline", "toy", "--count", "1");
        Assert.NotEqual(0, code);
        Assert.Contains("--vae and --pipeline: give one of them", output + error);
    }

    [Fact]
    public void PretrainRejectsAnUnknownArchitecture()
    {
        var dir = Directory.CreateTempSubdirectory("studio-toy-").FullName;
        var (code, output, error) = Cli.Run("toy", "pretrain", "--out", Path.Combine(dir, "teacher"), "--architecture", "huge");
        Assert.NotEqual(0, code);
        Assert.Contains("--architecture: unknown huge; one of latent16, latent8", output + error);
        Assert.False(Directory.Exists(Path.Combine(dir, "teacher.work")));
        Directory.Delete(dir, true);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("-0.1")]
    public void PretrainRejectsAPromptDropoutOutsideZeroToOne(string value)
    {
        var dir = Directory.CreateTempSubdirectory("studio-toy-").FullName;
        var (code, output, error) = Cli.Run("toy", "pretrain", "--out", Path.Combine(dir, "teacher"), "--prompt-dropout", value);
        Assert.NotEqual(0, code);
        Assert.Contains($"--prompt-dropout: {value} must be at least 0 and below 1", output + error);
        Assert.False(Directory.Exists(Path.Combine(dir, "teacher.work")));
        Directory.Delete(dir, true);
    }

    [Fact]
    public void CeilingRejectsABadCount()
    {
        var (code, output, error) = Cli.Run("toy", "ceiling", "--count", "0");
        Assert.NotEqual(0, code);
        Assert.Contains("--count: 0 must be at least 1", output + error);
    }

    [Fact]
    public void HelpListsTheToySubcommands()
    {
        var (code, output, _) = Cli.Run("toy", "--help");
        Assert.Equal(0, code);
        Assert.Contains("render", output);
        Assert.Contains("score", output);
        Assert.Contains("ceiling", output);
    }

    [Fact]
    public void StudyHelpGivesTheUpdatesTheStudyPresetsTrain()
    {
        var (code, output, _) = Cli.Run("toy", "study", "--help");
        Assert.Equal(0, code);
        var updates = Studio.Ml.Distillation.RunPresets.Find("toy-study-small").Create().Stages.Sum(s => s.Updates);
        Assert.Equal(2000, updates);
        Assert.Contains($"(default: the presets' {updates})", output);
    }
}
