using Studio.Ml.Tensors;
using System.CommandLine;
using Studio.Ml.Distillation;
using Studio.Ml;
using Studio.Ml.Diffusion;
using Studio.Ml.Models.Vae;
using TorchSharp;
using Studio.Ml.Toy;

namespace Studio.Cli;

/// <summary>
/// `studio toy ceiling [--pipeline DIR|toy | --vae DIR] [--count N] [--seed S] [--report FILE]`: what a toy pipeline could
/// score at best, before training anything: the evaluator on held-out renders and on their VAE round trips per category,
/// and the transformer's held-out flow loss per category and sigma; with --vae, an autoencoder alone (docs/TOY-WORLD.md, "The toy teacher").
/// </summary>
public static class ToyCeilingCommand
{
    public static Command Create()
    {
        var defaults = new ToyCeilingOptions();
        var pipeline = new Option<string?>("--pipeline") { Description = "a FLUX pipeline folder of the toy world, or toy (the built-in teacher; the default)" };
        var vae = new Option<DirectoryInfo?>("--vae") { Description = "instead of a pipeline, an AutoencoderKL folder alone (e.g. WORK/vae of `studio toy pretrain --vae-only`): no flow loss" };
        var count = new Option<int>("--count") { Description = "held-out prompts per category (5 categories)", DefaultValueFactory = _ => defaults.PromptsPerCategory };
        var seed = new Option<int>("--seed") { Description = "prompt seed (0: the standard held-out set); also seeds the flow loss's noise", DefaultValueFactory = _ => defaults.Seed };
        var batch = new Option<int>("--batch") { Description = "prompts per forward pass", DefaultValueFactory = _ => defaults.BatchSize };
        var threads = new Option<int>("--threads") { Description = "CPU threads", DefaultValueFactory = _ => 2 };
        var report = new Option<FileInfo>("--report") { Description = "the JSON report", DefaultValueFactory = _ => new FileInfo("ceiling-report.json") };
        var sheet = new Option<FileInfo?>("--sheet") { Description = "also write a PNG sheet: each render followed by its VAE round trip" };
        var device = DeviceOption.Create();
        var command = new Command("ceiling", "Measure a toy pipeline's ceilings: evaluator scores of renders and of their VAE round trips per category, and the held-out flow loss per category and sigma.")
        {
            pipeline, vae, count, seed, batch, threads, report, sheet, device,
        };
        command.SetAction((parse, cancel) =>
        {
            var options = defaults with
            {
                PromptsPerCategory = parse.GetValue(count) is >= 1 and var n ? n : throw new ArgumentException($"--count: {parse.GetValue(count)} must be at least 1"),
                Seed = parse.GetValue(seed),
                BatchSize = parse.GetValue(batch) is >= 1 and var b ? b : throw new ArgumentException($"--batch: {parse.GetValue(batch)} must be at least 1"),
            };
            AtomicFile.CheckOption("--report", parse.GetValue(report)!.FullName);
            AtomicFile.CheckOption("--sheet", parse.GetValue(sheet)?.FullName);
            TorchRuntime.Initialise();
            TorchSharp.torch.set_num_threads(parse.GetValue(threads) is >= 1 and var t ? t : throw new ArgumentException($"--threads: {parse.GetValue(threads)} must be at least 1"));
            if (DeviceOption.Resolve(parse, device) is not { } on) return Task.FromResult(1);
            Action<string> progress = line => Console.Error.Write($"\r{line}   ");
            ToyCeilingResult result;
            if (parse.GetValue(vae) is { } vaeFolder)
            {
                if (parse.GetValue(pipeline) is not null) throw new ArgumentException("--vae and --pipeline: give one of them");
                using var autoencoder = AutoencoderKL.FromPretrained(vaeFolder.FullName);
                autoencoder.to(on);
                result = ToyCeiling.MeasureVae(autoencoder, vaeFolder.FullName, options, progress, parse.GetValue(sheet)?.FullName, cancel);
            }
            else
            {
                using var flux = FluxPipeline.Load(BuiltInSources.PipelineFolder(parse.GetValue(pipeline) ?? "toy"), device: on);
                result = ToyCeiling.Measure(flux, options, progress, parse.GetValue(sheet)?.FullName, cancel);
            }
            Console.Error.WriteLine();
            Console.WriteLine(result.Table());
            var path = parse.GetValue(report)!.FullName;
            result.Save(path);
            Console.WriteLine($"report: {path}");
            return Task.FromResult(0);
        });
        return command;
    }
}
