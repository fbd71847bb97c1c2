namespace Studio.Core.Data;

/// <summary>A checkpoint a run wrote (a file or a folder under the run's artifact folder).</summary>
public class CheckpointEntry
{
    public int Id { get; set; }
    public int RunId { get; set; }
    public required string Path { get; set; }
    public int Stage { get; set; }
    public long Step { get; set; }
    public long SizeBytes { get; set; }
    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;

    /// <summary>Whether its file or folder is still there (a person, or a version before checkpoint removals were recorded, may have deleted it).</summary>
    public bool FilesPresent() => File.Exists(Path) || Directory.Exists(Path);

    /// <summary>Why a checkpoint whose files are gone cannot be used.</summary>
    public string FilesGone() => $"checkpoint {Id} (run {RunId}, step {Step:N0}): its files are gone ({Path}); delete its entry on the run page";
}

/// <summary>One periodic sample image: a fixed prompt and seed rendered with the student at a step (or once with the teacher).</summary>
public class SampleEntry
{
    public long Id { get; set; }
    public int RunId { get; set; }
    public int? CheckpointId { get; set; }
    public long Step { get; set; }
    public int PromptIndex { get; set; }
    public string Prompt { get; set; } = "";
    public long Seed { get; set; }
    /// <summary>True for the teacher's rendering of the same prompt and seed (the reference row of the grid).</summary>
    public bool IsTeacher { get; set; }
    public required string PngPath { get; set; }
    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;
}
