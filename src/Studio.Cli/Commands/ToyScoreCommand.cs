using Studio.Ml.Tensors;
using System.CommandLine;
using System.Text.Json;
using Studio.Ml.Toy;

namespace Studio.Cli;

/// <summary>`studio toy score DIR`: scores the images of a prompts.jsonl folder against their scenes.</summary>
public static class ToyScoreCommand
{
    public static Command Create()
    {
        var folder = new Argument<DirectoryInfo>("dir") { Description = $"a folder with {ToyPromptFile.FileName} and the images it names (as `toy render` writes)" };
        var report = new Option<FileInfo?>("--report") { Description = "where to write the JSON report (default DIR/report.json)" };
        var command = new Command("score", "Score toy images against their prompts' scenes: per-criterion table and a JSON report.") { folder, report };
        command.SetAction(parse =>
        {
            var dir = parse.GetValue(folder)!;
            var reportPath = parse.GetValue(report)?.FullName ?? Path.Combine(dir.FullName, "report.json");
            AtomicFile.CheckOption("--report", reportPath);
            var lines = ToyPromptFile.Read(Path.Combine(dir.FullName, ToyPromptFile.FileName));
            var images = lines.Select(l => ToyImage.LoadPng(Path.Combine(dir.FullName, l.Image))).ToArray();
            var result = ToyEvaluator.Evaluate(lines.Select(l => l.ToPrompt()).ToArray(), images);
            Print(result);

            AtomicFile.WriteAllText(reportPath, JsonSerializer.Serialize(result, new JsonSerializerOptions(ToyJson.Options) { WriteIndented = true }));
            Console.WriteLine($"report: {reportPath}");
            return 0;
        });
        return command;
    }

    public static void Print(ToyReport report)
    {
        Console.WriteLine($"{"category",-22}{"prompts",8}{"score",8}");
        foreach (var c in report.Categories) Console.WriteLine($"{c.Category,-22}{c.Count,8}{c.Score,8:0.000}");
        if (report.ImageQualityFrechet is { } fd) Console.WriteLine($"image quality: Fréchet distance to renders {fd:0.0000} (lower is better)");
        if (report.FrechetAll is { } all) Console.WriteLine($"all images: Fréchet distance to renders {all:0.0000}");
        if (report.Semantics is { } semantics) Console.WriteLine($"semantics: {semantics:0.000}");
        if (report.Text is { } text) Console.WriteLine($"text: character accuracy {text:0.000}");
    }
}
