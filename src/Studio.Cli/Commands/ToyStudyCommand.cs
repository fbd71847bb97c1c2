using System.CommandLine;
using Studio.Ml;
using Studio.Ml.Distillation;
using Studio.Ml.Toy;

namespace Studio.Cli;

/// <summary>
/// `studio toy study --out DIR`: the scaling-down study in miniature (three student sizes with the vision loss, the
/// naive baseline at the middle size, and the teacher), evaluated on held-out prompts; table, study.json, study.png.
/// </summary>
public static class ToyStudyCommand
{
    public static Command Create()
    {
        var defaults = new ToyStudyOptions();
        var output = new Option<DirectoryInfo>("--out") { Description = "the study folder (run folders, study.json, study.png); an existing one is resumed", Required = true };
        var teacher = new Option<string>("--teacher") { Description = "the teacher pipeline folder, or toy (the built-in one)", DefaultValueFactory = _ => defaults.Teacher };
        var updates = new Option<int?>("--updates") { Description = $"updates per run (default: the presets' {RunPresets.StudyUpdates})" };
        var count = new Option<int>("--count") { Description = "held-out prompts per category (5 categories)", DefaultValueFactory = _ => defaults.Evaluation.PromptsPerCategory };
        var seeds = new Option<int>("--seeds") { Description = "images per prompt", DefaultValueFactory = _ => defaults.Evaluation.Seeds };
        var steps = new Option<int>("--steps") { Description = "sampling steps of the evaluation", DefaultValueFactory = _ => defaults.Evaluation.Steps };
        var trueCfg = new Option<double>("--true-cfg") { Description = "true classifier-free guidance scale of the evaluation, against the empty prompt (1: off)", DefaultValueFactory = _ => defaults.Evaluation.TrueCfgScale };
        var presets = new Option<string[]>("--preset") { Description = "run presets to distil (repeat; default: the four study presets)", AllowMultipleArgumentsPerToken = true };
        var device = DeviceOption.Create();
        var command = new Command("study", "Distil three student sizes and the naive baseline from the toy teacher, evaluate all on held-out prompts.")
        {
            output, teacher, updates, count, seeds, steps, trueCfg, presets, device,
        };
        command.SetAction((parse, cancel) =>
        {
            var chosen = parse.GetValue(presets) is { Length: > 0 } p ? p : defaults.Presets;
            var options = defaults with
            {
                Presets = chosen.Select(k => RunPresets.Find(k).Key).ToList(),
                Teacher = parse.GetValue(teacher)!,
                Updates = parse.GetValue(updates),
                Device = parse.GetValue(device)!,
                Evaluation = defaults.Evaluation with { PromptsPerCategory = parse.GetValue(count), Seeds = parse.GetValue(seeds), Steps = parse.GetValue(steps), TrueCfgScale = parse.GetValue(trueCfg) },
            };
            TorchRuntime.Initialise();
            if (DeviceOption.Resolve(parse, device) is null) return Task.FromResult(1);
            var folder = parse.GetValue(output)!.FullName;
            var reporter = new ConsoleReporter(Console.Out, redraw: !Console.IsOutputRedirected);
            var cache = Path.Combine(CliSettings.Options().ResolvedDataDirectory, "cache", "teacher-embeddings");
            var result = ToyStudy.Run(options, folder, cache, reporter, line => Console.WriteLine($"{DateTime.UtcNow:HH:mm:ss} {line}"), cancel);
            Console.WriteLine(result.Table());
            Console.WriteLine($"wrote {Path.Combine(folder, "study.json")} and {Path.Combine(folder, "study.png")}");
            return Task.FromResult(0);
        });
        return command;
    }
}
