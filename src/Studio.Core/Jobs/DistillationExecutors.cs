using Studio.Ml;
using Studio.Ml.Distillation;
using Studio.Ml.Tensors;

namespace Studio.Core.Jobs;

/// <summary>
/// The trainer integration: runs a run's YAML with the step-following distiller on this worker. A run that finds
/// checkpoints in its own folder (the worker died and Hangfire handed the job out again) resumes from the newest good one.
/// </summary>
public sealed class DistillRunExecutor(StudioOptions options) : IRunExecutor
{
    public Task ExecuteAsync(RunExecution run, ITrainingReporter reporter, CancellationToken ct) => Task.Factory.StartNew(() =>
    {
        var config = RunConfig.FromYaml(run.ConfigYaml, $"run {run.RunId}");
        config.BaseDirectory ??= options.ResolvedDataDirectory;
        // A worker bound to one GPU (Studio:Device=cuda:1) runs every CUDA run on that GPU.
        if (!string.IsNullOrWhiteSpace(options.Device) && config.Device.StartsWith("cuda", StringComparison.OrdinalIgnoreCase))
            config.Device = options.Device;
        // Configuration errors are reported before any native library or weight is loaded.
        if (DistillationSetup.Validate(config) is { Count: > 0 } problems)
            throw new RunConfigException("run configuration", string.Join("; ", problems));
        TorchRuntime.Initialise(config.Threads > 0 ? config.Threads : null);
        var cacheDirectory = config.Cache.Directory is { } dir ? config.ResolvePath(dir) : DefaultCacheDirectory(options);
        using var setup = DistillationSetup.Prepare(config, cacheDirectory, reporter, ct);
        var distiller = new Distiller(config, setup.Context, run.ArtifactFolder, reporter);
        var resume = run.ResumeCheckpoint ?? TrainingCheckpoint.LatestGood(distiller.CheckpointsDirectory, (path, why) =>
            reporter.Event(new TrainingEvent(TrainingEventKind.Warning, 0, 0, $"refusing damaged checkpoint {path}: {why}")));
        distiller.Run(ct, resume);
        ct.ThrowIfCancellationRequested();
    }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    public static string DefaultCacheDirectory(StudioOptions options) =>
        Path.Combine(options.ResolvedDataDirectory, "cache", "teacher-embeddings");
}

/// <summary>Exports a training checkpoint's student (DistillT5 or T5 + projection).</summary>
public sealed class DistillCheckpointExporter : ICheckpointExporter
{
    public Task ExportAsync(string checkpointPath, string format, string outputFolder, CancellationToken ct) => Task.Run(() =>
    {
        TorchRuntime.Initialise();
        CheckpointExport.Export(checkpointPath, format, outputFolder, DType.ParseFriendly("float32"));
    }, ct);
}
