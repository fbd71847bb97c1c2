using Studio.Ml.Diffusion;
using Studio.Ml.Models.Common;
using static TorchSharp.torch;

namespace Studio.Ml.Distillation;

/// <summary>The text-to-image model families a student can be distilled for.</summary>
public enum ModelFamily
{
    /// <summary>FLUX.1 (and the toy teacher): T5 in `text_encoder_2/`, CLIP's pooled vector.</summary>
    Flux,
    /// <summary>Stable Diffusion 3 / 3.5: T5 in `text_encoder_3/`, CLIP-L and CLIP-G states kept beside it.</summary>
    Sd3,
}

/// <summary>Which family a teacher folder holds, and where its T5 slot lives.</summary>
public static class TeacherFamily
{
    /// <summary>
    /// From `model_index.json`'s `_class_name` (StableDiffusion3... or Flux...), else from the transformer config's
    /// (`SD3Transformer2DModel`); a folder that names neither is taken for FLUX (whose checks then name what is missing).
    /// </summary>
    public static ModelFamily Of(string teacherFolder)
    {
        foreach (var config in new[] { "model_index.json", Path.Combine("transformer", "config.json") })
        {
            var path = Path.Combine(teacherFolder, config);
            if (File.Exists(path) && ModelConfig.Load(path).OptionalString("_class_name") is { } name)
                return name.StartsWith("StableDiffusion3", StringComparison.Ordinal) || name == "SD3Transformer2DModel" ? ModelFamily.Sd3 : ModelFamily.Flux;
        }
        return ModelFamily.Flux;
    }

    /// <summary>
    /// The pipeline of the family <paramref name="folder"/> holds (<see cref="Of"/>), as evaluations and generations draw
    /// with it (<paramref name="freeTextEncoders"/>: see <see cref="FluxPipeline.Load"/>).
    /// </summary>
    public static ISlotPipeline LoadPipeline(string folder, ScalarType dtype = ScalarType.Float32, Device? device = null, bool freeTextEncoders = false) =>
        Of(folder) == ModelFamily.Sd3
            ? Sd3Pipeline.Load(folder, dtype, device: device, freeTextEncoders: freeTextEncoders)
            : FluxPipeline.Load(folder, dtype, device: device, freeTextEncoders: freeTextEncoders);

    /// <summary>The T5 slot's encoder folder: `text_encoder_2` (FLUX) or `text_encoder_3` (SD3).</summary>
    public static string SlotEncoder(ModelFamily family) => family == ModelFamily.Sd3 ? "text_encoder_3" : "text_encoder_2";

    /// <summary>The T5 slot's tokenizer folder: `tokenizer_2` (FLUX) or `tokenizer_3` (SD3).</summary>
    public static string SlotTokenizer(ModelFamily family) => family == ModelFamily.Sd3 ? "tokenizer_3" : "tokenizer_2";

    /// <summary>Every part a run reads from a teacher folder of this family.</summary>
    public static IReadOnlyList<string> Parts(ModelFamily family) => family == ModelFamily.Sd3
        ? ["transformer/config.json", "tokenizer_3", "text_encoder_3/config.json", "tokenizer", "text_encoder/config.json", "tokenizer_2", "text_encoder_2/config.json"]
        : ["transformer/config.json", "tokenizer_2", "text_encoder_2/config.json"];
}
