using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Studio.Core.Hosting;
using Studio.Ml;
using Studio.Ml.Distillation;

namespace Studio.Cli;

/// <summary>`studio distill --config RUN.yaml [--resume CHECKPOINT] [--out DIR]`: a whole run in the foreground.</summary>
public static class DistillCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "The run YAML (the schema of README 'Run YAML'; the web form imports/exports the same)", Required = true };
        var resume = new Option<string?>("--resume") { Description = "A checkpoint folder (or a run's checkpoints folder: its newest good checkpoint) to continue from" };
        var output = new Option<string?>("--out") { Description = "The run folder (checkpoints, samples); default DATA/runs/NAME" };
        var command = new Command("distill", "Run a distillation in the foreground, with a progress line and live numbers.") { config, resume, output };
        command.SetAction((parse, cancel) =>
        {
            var run = RunConfig.Load(parse.GetValue(config)!);
            var options = CliSettings.Options();
            var runDirectory = Path.GetFullPath(parse.GetValue(output) ?? Path.Combine(options.ResolvedDataDirectory, "runs", run.Name));
            Directory.CreateDirectory(runDirectory);
            TorchRuntime.Initialise(run.Threads > 0 ? run.Threads : null);
            var reporter = new ConsoleReporter(Console.Out, redraw: !Console.IsOutputRedirected);
            var resumeFrom = ResolveResume(parse.GetValue(resume), reporter);
            using var setup = DistillationSetup.Prepare(run, CliSettings.CacheDirectory(run, options), reporter, cancel);
            var distiller = new Distiller(run, setup.Context, runDirectory, reporter);
            var state = distiller.Run(cancel, resumeFrom);
            Console.WriteLine();
            Console.WriteLine(cancel.IsCancellationRequested
                ? $"stopped at step {state.GlobalStep}; resume with --resume {distiller.CheckpointsDirectory}"
                : $"finished: {state.GlobalStep} updates; checkpoints in {distiller.CheckpointsDirectory}");
            return Task.FromResult(cancel.IsCancellationRequested ? 130 : 0);
        });
        return command;
    }

    static string? ResolveResume(string? path, ITrainingReporter reporter)
    {
        if (path is null) return null;
        if (File.Exists(Path.Combine(path, TrainingCheckpoint.ManifestFile))) return path;
        return TrainingCheckpoint.LatestGood(path, (dir, why) =>
                   reporter.Event(new TrainingEvent(TrainingEventKind.Warning, 0, 0, $"skipping damaged checkpoint {dir}: {why}")))
               ?? throw new FileNotFoundException($"--resume {path}: no good checkpoint there");
    }
}

/// <summary>The CLI's view of appsettings.json (the same file the web host and workers read).</summary>
public static class CliSettings
{
    public static Studio.Core.StudioOptions Options() =>
        new ConfigurationBuilder().AddStudioSettings().Build().ReadStudioOptions();

    public static string CacheDirectory(RunConfig run, Studio.Core.StudioOptions options) =>
        run.Cache.Directory is { } dir ? run.ResolvePath(dir) : Path.Combine(options.ResolvedDataDirectory, "cache", "teacher-embeddings");
}
