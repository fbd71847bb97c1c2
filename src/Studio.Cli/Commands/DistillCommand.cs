using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Studio.Core.Hosting;
using Studio.Core.Jobs;
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
            var reporter = new ConsoleReporter(Console.Out, redraw: !Console.IsOutputRedirected);
            var resumeFrom = ResolveResume(parse.GetValue(resume), reporter);
            var (state, checkpoints) = DistillationRun.Run(run, options, runDirectory, resumeFrom, reporter, cancel);
            Console.WriteLine();
            Console.WriteLine(cancel.IsCancellationRequested
                ? $"stopped at step {state.GlobalStep}; the same command continues it (or --resume {checkpoints})"
                : $"finished: {state.GlobalStep} updates; checkpoints in {checkpoints}");
            return Task.FromResult(cancel.IsCancellationRequested ? 130 : 0);
        });
        return command;
    }

    /// <summary>--resume: a checkpoint folder, or a folder of checkpoints (its newest good one).</summary>
    static string? ResolveResume(string? path, ITrainingReporter reporter)
    {
        if (path is null) return null;
        if (File.Exists(Path.Combine(path, TrainingCheckpoint.ManifestFile))) return path;
        return DistillationRun.NewestGood(path, reporter) ?? throw new FileNotFoundException($"--resume {path}: no good checkpoint there");
    }
}

/// <summary>The CLI's view of appsettings.json (the same file the web host and workers read).</summary>
public static class CliSettings
{
    public static Studio.Core.StudioOptions Options() =>
        new ConfigurationBuilder().AddStudioSettings().Build().ReadStudioOptions();
}
