using System.CommandLine;
using Studio.Ml.Toy;

namespace Studio.Cli;

/// <summary>`studio toy render`: writes toy prompts with their clean (or deliberately spoilt) renders.</summary>
public static class ToyRenderCommand
{
    public static Command Create()
    {
        var criterion = new Option<string>("--criterion") { Description = $"{ToyCriteria.All}, {ToyCriteria.ImageQuality}, {ToyCriteria.Semantics}, {ToyCriteria.Text} or one category such as {ToyCriteria.SemanticsSpatial}", DefaultValueFactory = _ => ToyCriteria.All };
        var count = new Option<int>("--count") { Description = "how many prompts", DefaultValueFactory = _ => 16 };
        var seed = new Option<int>("--seed") { Description = $"prompt seed (the standard held-out set is --split heldout --seed {ToyPrompts.HeldOutSeed})", DefaultValueFactory = _ => 0 };
        var split = new Option<string>("--split") { Description = "train or heldout", DefaultValueFactory = _ => "train" };
        var corrupt = new Option<string>("--corrupt") { Description = "none, noise, blur, wrong-colours, missing-objects, shuffled-letters, soft-blur or light-noise", DefaultValueFactory = _ => "none" };
        var output = new Option<DirectoryInfo>("--out") { Description = "folder for the PNGs and prompts.jsonl", Required = true };

        var command = new Command("render", "Render toy prompts to PNGs plus a prompts.jsonl with each prompt's scene.")
        {
            criterion, count, seed, split, corrupt, output,
        };
        command.SetAction(parse =>
        {
            var splitValue = parse.GetValue(split) switch
            {
                "train" => ToySplit.Train,
                "heldout" => ToySplit.HeldOut,
                var other => throw new ArgumentException($"--split: '{other}' is not train or heldout"),
            };
            var corruption = ParseCorruption(parse.GetValue(corrupt)!);
            int n = parse.GetValue(count);
            if (n < 1) throw new ArgumentException($"--count: {n} must be at least 1");
            int promptSeed = parse.GetValue(seed);
            var prompts = ToyPrompts.Generate(parse.GetValue(criterion)!, n, promptSeed, splitValue);

            var folder = parse.GetValue(output)!;
            folder.Create();
            var lines = new List<ToyPromptLine>();
            var images = new List<ToyImage>();
            for (int i = 0; i < prompts.Count; i++)
            {
                var file = $"{i:0000}.png";
                var image = ToyCorruptions.Apply(corruption, prompts[i].Scene, promptSeed * 100_003 + i);
                image.SavePng(Path.Combine(folder.FullName, file));
                images.Add(image);
                lines.Add(new ToyPromptLine(i, file, prompts[i].Category, prompts[i].Text, prompts[i].Scene));
            }
            ToyPromptFile.Write(Path.Combine(folder.FullName, ToyPromptFile.FileName), lines);
            ToyImage.SaveSheet(images, Path.Combine(folder.FullName, "sheet.png"), captions: prompts.Select(p => p.Text).ToList());
            Console.WriteLine($"wrote {prompts.Count} images, sheet.png and {ToyPromptFile.FileName} to {folder.FullName}");
            return 0;
        });
        return command;
    }

    static ToyCorruption ParseCorruption(string name) =>
        Enum.TryParse<ToyCorruption>(name.Replace("-", ""), ignoreCase: true, out var corruption) && Enum.IsDefined(corruption)
            ? corruption
            : throw new ArgumentException($"--corrupt: '{name}' is not one of none, noise, blur, wrong-colours, missing-objects, shuffled-letters, soft-blur, light-noise");
}
