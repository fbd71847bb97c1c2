namespace Studio.Ml.Distillation;

/// <summary>
/// The keys of <see cref="TrainingEvent.Data"/> the studio reads: a CheckpointWritten event carries the checkpoint's
/// path (and size), a SampleReady event the PNG's path, prompt index, prompt, seed and whether the teacher drew it; a
/// Progress event of a counted activity (filling the teacher-embedding cache) how many of how many items are done and,
/// once it can be told, the seconds it has left.
/// Paths may be absolute or relative to the run's artifact folder; counts are invariant-culture integers.
/// </summary>
public static class TrainingEventData
{
    public const string Path = "path";
    public const string Bytes = "bytes";
    public const string PromptIndex = "prompt_index";
    public const string Prompt = "prompt";
    public const string Seed = "seed";
    public const string Teacher = "teacher";
    public const string Done = "done";
    public const string Total = "total";
    public const string EtaSeconds = "eta_seconds";
}
