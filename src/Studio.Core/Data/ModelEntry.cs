namespace Studio.Core.Data;

public enum ModelKind { TeacherPipeline, StudentInit, ExportedStudent }

/// <summary>A local model folder the studio knows: what it is, how big, and what is wrong with it.</summary>
public class ModelEntry
{
    public int Id { get; set; }
    public required string Name { get; set; }
    public ModelKind Kind { get; set; }
    public required string Folder { get; set; }
    /// <summary>From config.json (architectures / model_type) or model_index.json (_class_name).</summary>
    public string? Architecture { get; set; }
    public long? ParameterCount { get; set; }
    /// <summary>The tensor dtypes found ("F32", "BF16, F32").</summary>
    public string? DType { get; set; }
    public long SizeBytes { get; set; }
    /// <summary>One problem per line; empty when the folder is usable.</summary>
    public string ValidationErrors { get; set; } = "";
    public DateTime RegisteredAt { get; set; } = DateTime.UtcNow;
    public DateTime CheckedAt { get; set; } = DateTime.UtcNow;
}
