using Studio.Ml.Models.Flux;
using Studio.Ml.Models.T5;
using static TorchSharp.torch;

namespace Studio.Ml.Distillation;

/// <summary>The teacher side of training: conditioning computed without the teacher encoder in memory.</summary>
public interface ITeacherConditioning
{
    /// <summary>Teacher T5 states [batch, max_length, D] of the prompts (from the embedding cache).</summary>
    Tensor States(IReadOnlyList<string> prompts);

    /// <summary>Pooled CLIP vectors [batch, pooled_dim] (used only when text.zero_pooled is false).</summary>
    Tensor Pooled(IReadOnlyList<string> prompts);
}

/// <summary>Renders periodic samples with the current student (and once with the teacher); returns the PNG paths.</summary>
public interface ISampleRenderer
{
    IReadOnlyList<string> Render(StudentEncoder? student, IReadOnlyList<string> prompts, IReadOnlyList<int> seeds,
        int steps, double guidance, int resolution, string outputDirectory);
}

/// <summary>Everything the distiller works with, loaded by the caller (the run job, the CLI, a test).</summary>
public sealed class DistillationContext
{
    public required FluxTransformer Transformer { get; init; }
    public required StudentEncoder Student { get; init; }
    /// <summary>Token ids [batch, max_length] (and the attention mask) for prompts, with the teacher's tokenizer.</summary>
    public required Func<IReadOnlyList<string>, int, (Tensor Ids, Tensor Mask)> Tokenize { get; init; }
    public required ITeacherConditioning Teacher { get; init; }
    /// <summary>Resolves a stage's prompt source to its prompts (files, built-in sets).</summary>
    public required Func<PromptSource, IReadOnlyList<Prompt>> Prompts { get; init; }
    public ISampleRenderer? Samples { get; init; }
    /// <summary>VAE downsampling factor (8 for FLUX): latents are resolution / factor.</summary>
    public int VaeScaleFactor { get; init; } = 8;
    public Device Device { get; init; } = CPU;
}
