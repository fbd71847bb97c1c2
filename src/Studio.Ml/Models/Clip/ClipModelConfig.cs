using Studio.Ml.Models.Common;

namespace Studio.Ml.Models.Clip;

/// <summary>A transformers `CLIPConfig` (model_type "clip"): both towers' configs and the shared embedding width.</summary>
public sealed record ClipModelConfig(ClipTextConfig Text, ClipVisionConfig Vision, int ProjectionDim)
{
    public static ClipModelConfig Load(string path) => From(ModelConfig.Load(path));

    public static ClipModelConfig From(ModelConfig json)
    {
        var type = json.OptionalString("model_type");
        if (type != "clip")
            throw json.Invalid("model_type", type is null ? "is missing; a CLIP model (text and image towers) has 'clip'"
                : $"is '{type}', not 'clip' (a CLIP model with its text and image towers, such as openai/clip-vit-large-patch14)");
        var projection = json.Int("projection_dim", 512);
        if (projection <= 0) throw json.Invalid("projection_dim", $"must be a positive integer, found {projection}");
        return new ClipModelConfig(ClipTextConfig.From(json.Section("text_config")), ClipVisionConfig.From(json.Section("vision_config")), projection);
    }
}
