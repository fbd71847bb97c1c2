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
        var config = new Option<string>("--config") { Description = "The run YAML (the schema of docs/DISTILLATION.md, 'Run YAML'; the web form imports/exports the same)", Required = true };
        var resume = new Option<string?>("--resume") { Description = "A checkpoint folder (or a run's checkpoints folder: its newest good checkpoint) to continue from" };
        var output = new Option<string?>("--out") { Description = "The run folder (checkpoints, samples); default DATA/runs/NAME" };
        var set = new Option<string[]>("--set")
        {
            Description = "FIELD=VALUE: overrides one field of the run YAML (a YAML path and a YAML value: optimizer.lr=3e-4, stages[0].updates=500, trajectory.guidance=[3.5]); repeatable",
            AllowMultipleArgumentsPerToken = false,
        };
        var command = new Command("distill", "Run a distillation in the foreground, with a progress line and live numbers.") { config, resume, output, set };
        command.SetAction((parse, cancel) =>
        {
            var run = Load(parse.GetValue(config)!, parse.GetValue(set) ?? []);
            var options = CliSettings.Options();
            if (parse.GetValue(output) is null && !IsFolderName(run.Name))
                throw new ArgumentException($"name: '{run.Name}' is no folder name, and without --out the run goes to DATA/runs/NAME; give --out or a name without '/', '\\' or '..'");
            var runDirectory = Path.GetFullPath(parse.GetValue(output) ?? Path.Combine(options.ResolvedDataDirectory, "runs", run.Name));
            var reporter = new ConsoleReporter(Console.Out, redraw: !Console.IsOutputRedirected);
            var resumeFrom = ResolveResume(parse.GetValue(resume), reporter);
            var (state, checkpoints, stoppedEarly) = DistillationRun.Run(run, options, runDirectory, resumeFrom, reporter, cancel);
            Console.WriteLine();
            Console.WriteLine(cancel.IsCancellationRequested
                ? $"stopped at step {state.GlobalStep}; the same command continues it (or --resume {checkpoints})"
                : $"finished: {state.GlobalStep} updates{(stoppedEarly is null ? "" : $" ({stoppedEarly})")}; checkpoints in {checkpoints}");
            return Task.FromResult(cancel.IsCancellationRequested ? 130 : 0);
        });
        return command;
    }

    /// <summary>A name that stays one folder below DATA/runs: no separator, not "." or "..", no character a file name cannot hold.</summary>
    static bool IsFolderName(string name) =>
        name.Trim().Length > 0 && name is not ("." or "..") && name.IndexOfAny(['/', '\\']) < 0 && name.IndexOfAny(Path.GetInvalidFileNameChars()) < 0;

    /// <summary>The run YAML with the --set overrides written in, read as `RunConfig.Load` reads a file.</summary>
    static RunConfig Load(string path, string[] overrides)
    {
        if (overrides.Length == 0) return RunConfig.Load(path);
        if (!File.Exists(path)) throw new RunConfigException(path, "file not found");
        var settings = new List<(string, string)>();
        foreach (var o in overrides)
        {
            var eq = o.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"--set '{o}': expected FIELD=VALUE (optimizer.lr=3e-4)");
            settings.Add((o[..eq].Trim(), o[(eq + 1)..]));
        }
        var yaml = Studio.Core.Runs.RunSweep.Apply(File.ReadAllText(path), settings, out var problems)
                   ?? throw new ArgumentException(string.Join("; ", problems.Select(p =>
                       p.Field.StartsWith("set[", StringComparison.Ordinal) ? $"--set '{overrides[int.Parse(p.Field[4..^1])]}': {p.Message}" : $"{path}: {p.Message}")));
        var run = RunConfig.FromYaml(yaml, $"{path} with --set");
        run.BaseDirectory = Path.GetDirectoryName(Path.GetFullPath(path));
        return run;
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
