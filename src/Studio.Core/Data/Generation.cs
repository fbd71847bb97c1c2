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
    /// <summary>diffusers' `true_cfg_scale`: above 1, every step also runs on <see cref="NegativePrompt"/> (1: off).</summary>
    public double TrueCfgScale { get; set; } = 1;
    /// <summary>The negative prompt of true CFG ("" is the empty prompt); unused while <see cref="TrueCfgScale"/> is 1.</summary>
    public string NegativePrompt { get; set; } = "";
    /// <summary>A LoRA of the transformer (and CLIP) merged for every image of this generation; null: none.</summary>
    public string? LoraPath { get; set; }
    /// <summary>How much of <see cref="LoraPath"/> (diffusers' lora_scale).</summary>
    public double LoraScale { get; set; } = 1;
    public int Width { get; set; }
    public int Height { get; set; }
    /// <summary>The teacher pipeline's model entry, when registered.</summary>
    public int? TeacherModelId { get; set; }
    public GenerationState State { get; set; } = GenerationState.Queued;
    public string? HangfireJobId { get; set; }
    /// <summary>What the worker is doing ("loading the teacher pipeline", "run 3 · step 400: step 12/28").</summary>
    public string? Activity { get; set; }
    /// <summary>Done fraction in [0, 1] over every image's denoising steps.</summary>
    public double Progress { get; set; }
    public string? Worker { get; set; }
    /// <summary>The device the images were computed on ("cpu", "cuda:0"): the worker's Studio:Device.</summary>
    public string? Device { get; set; }
    /// <summary>The dtype they were computed in ("float32", "bfloat16"): the worker's Studio:DType; null before it was stored (float32).</summary>
    public string? DType { get; set; }
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
    /// <summary>A run's checkpoint in the T5 slot; null with a null ModelId for the teacher's own encoder.</summary>
    public int? CheckpointId { get; set; }
    /// <summary>A registered model (an exported student) in the T5 slot.</summary>
    public int? ModelId { get; set; }
    /// <summary>"teacher", "run 3 · step 400", or a model's name.</summary>
    public required string Encoder { get; set; }
    public string? PngPath { get; set; }
    public double? Seconds { get; set; }
    /// <summary>Mean |this image - the teacher's image| over pixels and channels, in 0-255 units (students only).</summary>
    public double? DifferenceToTeacher { get; set; }
    /// <summary>SSIM of this image to the teacher's (1 = the same; students only; null before it was measured).</summary>
    public double? SimilarityToTeacher { get; set; }
    /// <summary>CLIP score of this image against the prompt (100 x cosine; the worker's Studio:ClipModel, null without one).</summary>
    public double? ClipScore { get; set; }
    public GenerationState State { get; set; } = GenerationState.Queued;
    public string? Error { get; set; }
}
