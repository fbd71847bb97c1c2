namespace Studio.Core.Data;

/// <summary>A named list of prompts imported from a file (txt, JSON, JSONL, CSV) or built in.</summary>
public class PromptSet
{
    public int Id { get; set; }
    public required string Name { get; set; }
    public string? Description { get; set; }
    /// <summary>The file it was imported from ("colours.jsonl"), or "built-in".</summary>
    public string Source { get; set; } = "";
    public string Format { get; set; } = "";
    public bool IsBuiltIn { get; set; }
    public int PromptCount { get; set; }
    /// <summary>What the import skipped and why: counted, never silent.</summary>
    public int SkippedEmpty { get; set; }
    public int SkippedTooLong { get; set; }
    public int BadLines { get; set; }
    /// <summary>The import's report (bad lines by number), as shown on the page.</summary>
    public string? ImportReport { get; set; }
    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;
    public List<PromptRow> Rows { get; set; } = [];
}

public class PromptRow
{
    public long Id { get; set; }
    public int PromptSetId { get; set; }
    /// <summary>The line (or element) number in the source file, 1-based.</summary>
    public int LineNumber { get; set; }
    public required string Text { get; set; }
    /// <summary>"image-quality", "semantics/colour", "text", ...; null when unassigned.</summary>
    public string? Category { get; set; }
    /// <summary>A toy-world scene description, when the prompt was generated from one.</summary>
    public string? SceneJson { get; set; }
}
