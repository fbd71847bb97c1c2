using Studio.Ml;
using Studio.Ml.Distillation;
using Studio.Ml.Tensors;

namespace Studio.Core.Jobs;

/// <summary>
/// The trainer integration: runs a run's YAML on this worker through <see cref="DistillationRun"/>. A run that finds
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
        DistillationRun.Run(config, options, run.ArtifactFolder, run.ResumeCheckpoint, reporter, ct);
        ct.ThrowIfCancellationRequested();
    }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
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
