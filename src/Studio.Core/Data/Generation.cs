namespace Studio.Core.Data;

public enum GenerationState { Queued, Running, Completed, Failed, Cancelled }

/// <summary>One Generate request: a prompt rendered with the same noise by each selected text encoder.</summary>
public class Generation
{
    public int Id { get; set; }
    public required string Prompt { get; set; }
    public long Seed { get; set; }
    public int Steps { get; set; }
    public double Guidance { get; set; }
    public int Width { get; set; }
    public int Height { get; set; }
    /// <summary>The teacher pipeline's model entry, when registered.</summary>
    public int? TeacherModelId { get; set; }
    public GenerationState State { get; set; } = GenerationState.Queued;
    public string? HangfireJobId { get; set; }
    public string? Worker { get; set; }
    public string? Error { get; set; }
    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;
    public DateTime? FinishedAt { get; set; }
    public List<GenerationImage> Images { get; set; } = [];
}

/// <summary>The image of one encoder (the teacher, or a run's checkpoint) for a generation.</summary>
public class GenerationImage
{
    public int Id { get; set; }
    public int GenerationId { get; set; }
    /// <summary>Null for the teacher's own encoder.</summary>
    public int? CheckpointId { get; set; }
    /// <summary>"teacher" or "run 3 · step 400".</summary>
    public required string Encoder { get; set; }
    public string? PngPath { get; set; }
    public double? Seconds { get; set; }
    public GenerationState State { get; set; } = GenerationState.Queued;
    public string? Error { get; set; }
}
