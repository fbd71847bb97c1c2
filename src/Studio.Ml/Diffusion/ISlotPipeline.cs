using Studio.Ml.Models.Common;
using Studio.Ml.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Diffusion;

/// <summary>
/// One pipeline call: one image per prompt, the batch's noise from one seed. <paramref name="Guidance"/> is what the
/// family reads (FLUX: the embedded guidance; SD3: the classifier-free scale). <paramref name="NegativePrompt"/> (null:
/// the empty prompt) is what SD3 always guides from, and what FLUX steers from only with a <paramref name="TrueCfgScale"/>
/// above 1 (diffusers' true_cfg_scale).
/// </summary>
public sealed record SlotRequest(IReadOnlyList<string> Prompts, long Seed, int Steps, double Guidance, int Width, int Height, int MaxSequenceLength,
    double TrueCfgScale = 1.0, string? NegativePrompt = null);

/// <summary>
/// A text-to-image pipeline whose T5 slot can be lent another encoder for a call, as evaluations and generations use it: FLUX
/// (<see cref="FluxPipeline"/>, the toy teacher's family) or SD3 (<see cref="Sd3Pipeline"/>); a folder's is loaded by
/// <c>TeacherFamily.LoadPipeline</c>.
/// </summary>
public interface ISlotPipeline : IDisposable
{
    /// <summary>The folder it was loaded from.</summary>
    string Source { get; }
    Device Device { get; }
    /// <summary>The pipeline's own T5-slot encoder (null: an SD3 pipeline without `text_encoder_3/`).</summary>
    T5SlotEncoder? T5 { get; }
    /// <summary>The T5 slot's tokenizer (null with <see cref="T5"/>).</summary>
    TextTokenizer? T5Tokenizer { get; }
    FlowMatchEulerScheduler Scheduler { get; }
    /// <summary>Every module whose weights decide an image, named by its folder (the transformer first).</summary>
    IReadOnlyList<(string Part, nn.Module Module)> WeightedParts { get; }
    /// <summary>Whether the text encoders are freed after each call's encoding and loaded again from the folder by the next.</summary>
    bool FreeTextEncodersAfterEncoding { get; }
    /// <summary>Bytes of the weights in memory (a pipeline cache's measure).</summary>
    long ParameterBytes { get; }
    /// <summary>T5 tokens per prompt when a call names none: the family's default, capped by the tokenizer's.</summary>
    int MaxSequenceLength { get; }

    /// <summary>
    /// Applies <paramref name="apply"/> to the CLIP encoders (by folder, as in <see cref="WeightedParts"/>; never the T5
    /// slot) now and again each time encoders freed after encoding are loaded back; disposing the result undoes it.
    /// </summary>
    IDisposable AdaptClips(Func<IReadOnlyList<(string Part, nn.Module Module)>, IDisposable> apply);

    /// <summary>
    /// Draws <paramref name="request"/> with <paramref name="slot"/> lent to the T5 slot (null: the pipeline's own);
    /// <paramref name="onStep"/> is called after each denoising step.
    /// </summary>
    GeneratedImages Draw(SlotRequest request, T5SlotEncoder? slot = null, Action<int>? onStep = null);
}

public static class SlotPipelineLora
{
    /// <summary>
    /// Merges <paramref name="lora"/> at <paramref name="scale"/> into the pipeline's transformer and, for its CLIP layers,
    /// its CLIP encoder(s) (<see cref="LoraWeights.MergeInto(IReadOnlyList{ValueTuple{string, nn.Module}}, double, Func{LoraLayer, bool})"/>),
    /// merged again whenever a pipeline that frees its text encoders after encoding loads them back (<see cref="ISlotPipeline.AdaptClips"/>);
    /// disposing the result gives the weights back. The T5 slot's encoder is never a target (LoraWeights refuses T5
    /// layers): a CLIP layer meant for SD3's `text_encoder_2` is refused on a FLUX pipeline as a part it does not have,
    /// not aimed at FLUX's T5. <paramref name="lora"/> must outlive the result.
    /// </summary>
    public static IDisposable MergeLora(this ISlotPipeline pipeline, LoraWeights lora, double scale)
    {
        static bool OfTransformer(LoraLayer layer) => layer.Part == LoraWeights.Transformer;
        var transformer = lora.MergeInto(pipeline.WeightedParts.Where(p => p.Part == LoraWeights.Transformer).ToList(), scale, OfTransformer);
        if (lora.Layers.All(OfTransformer)) return transformer;
        try
        {
            var clips = pipeline.AdaptClips(parts => lora.MergeInto(parts, scale, layer => !OfTransformer(layer)));
            return new DisposeAll(clips, transformer); // the CLIPs' merges undone first, then the transformer's
        }
        catch
        {
            transformer.Dispose();
            throw;
        }
    }
}
