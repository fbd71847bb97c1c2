using Studio.Ml.Models.T5;
using static TorchSharp.torch;

namespace Studio.Ml.Distillation;

/// <summary>The teacher side of training: conditioning computed without the teacher encoder in memory.</summary>
public interface ITeacherConditioning
{
    /// <summary>The teacher's T5-slot states [batch, max_length, D] of the prompts (from the embedding cache): what the student replaces.</summary>
    Tensor States(IReadOnlyList<string> prompts);

    /// <summary>The text states the family keeps beside the T5 slot's (SD3's CLIP-L and CLIP-G states); null for FLUX.</summary>
    Tensor? Kept(IReadOnlyList<string> prompts);

    /// <summary>Pooled CLIP vectors [batch, pooled_dim] (used only when text.zero_pooled is false).</summary>
    Tensor Pooled(IReadOnlyList<string> prompts);
}

/// <summary>Renders periodic samples with the current student (and once with the teacher); returns the PNG paths.</summary>
public interface ISampleRenderer : IDisposable
{
    IReadOnlyList<string> Render(StudentEncoder? student, IReadOnlyList<string> prompts, IReadOnlyList<int> seeds,
        int steps, double guidance, int resolution, string outputDirectory);
}

/// <summary>Everything the distiller works with, loaded by the caller (the run job, the CLI, a test).</summary>
public sealed class DistillationContext
{
    /// <summary>The frozen model family's transformer, as the trainer sees it.</summary>
    public required IFrozenDenoiser Denoiser { get; init; }
    public required StudentEncoder Student { get; init; }
    /// <summary>Token ids [batch, max_length] (and the attention mask) for prompts, with the teacher's tokenizer.</summary>
    public required Func<IReadOnlyList<string>, int, (Tensor Ids, Tensor Mask)> Tokenize { get; init; }
    public required ITeacherConditioning Teacher { get; init; }
    /// <summary>Resolves a stage's prompt source to its prompts (files, built-in sets).</summary>
    public required Func<PromptSource, IReadOnlyList<Prompt>> Prompts { get; init; }
    public ISampleRenderer? Samples { get; init; }
    public Device Device { get; init; } = CPU;
}
