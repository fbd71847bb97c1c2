using Studio.Ml;
using Studio.Ml.Distillation;

namespace Studio.Core.Jobs;

/// <summary>
/// The one way a distillation run is set up and started, by the worker (<see cref="DistillRunExecutor"/>) and by
/// `studio distill`: the configuration is checked before any native library or weight is loaded, the CPU threads are
/// set, the teacher is prepared with its embedding cache, and the distiller runs in the run folder. A run folder that
/// already holds checkpoints continues from its newest good one unless a checkpoint to resume from is given.
/// </summary>
public static class DistillationRun
{
    /// <summary>Runs <paramref name="config"/> to its end (or until <paramref name="ct"/> is cancelled, after a checkpoint); returns where it stopped.</summary>
    /// <param name="resume">The checkpoint folder to continue from; null: the run folder's newest good checkpoint, if any.</param>
    public static (TrainingState State, string CheckpointsFolder, string? StoppedEarly) Run(RunConfig config, StudioOptions options, string runFolder, string? resume,
        ITrainingReporter reporter, CancellationToken ct)
    {
        if (DistillationSetup.Validate(config) is { Count: > 0 } problems)
            throw new RunConfigException("run configuration", string.Join("; ", problems));
        Directory.CreateDirectory(runFolder); // only once the configuration is known to run: a refused one leaves no folder
        TorchRuntime.Initialise(config.Threads > 0 ? config.Threads : null);
        var checkpoints = Distiller.CheckpointsFolder(runFolder);
        resume ??= NewestGood(checkpoints, reporter);
        using var setup = DistillationSetup.Prepare(config, CacheDirectory(config, options), reporter, ct, resuming: resume is not null);
        var distiller = new Distiller(config, setup.Context, runFolder, reporter);
        var state = distiller.Run(ct, resume);
        return (state, distiller.CheckpointsDirectory, distiller.StoppedEarly);
    }

    /// <summary>The newest checkpoint in <paramref name="checkpointsFolder"/> that verifies, or null; each damaged one is reported as a warning and skipped.</summary>
    public static string? NewestGood(string checkpointsFolder, ITrainingReporter reporter) =>
        TrainingCheckpoint.LatestGood(checkpointsFolder, (path, why) =>
            reporter.Event(new TrainingEvent(TrainingEventKind.Warning, 0, 0, $"skipping damaged checkpoint {path}: {why}")));

    /// <summary>The teacher-embedding cache of a run: its `cache.directory`, else DATA/cache/teacher-embeddings.</summary>
    public static string CacheDirectory(RunConfig config, StudioOptions options) =>
        config.Cache.Directory is { } dir ? config.ResolvePath(dir) : Path.Combine(options.ResolvedDataDirectory, "cache", "teacher-embeddings");
}
