using Studio.Ml.Models.Clip;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Fixtures;

/// <summary>
/// transformers `CLIPModel` cases (model_type "clip", both towers): inputs `input_ids` and `pixel_values`; outputs
/// `text_embeds` and `image_embeds` (the projected features, not normalised), `logits_per_image`, and the vision
/// tower's `vision_last_hidden_state` and `vision_pooler_output`.
/// </summary>
public sealed class ClipModelKind : IFixtureKind
{
    public string Name => "clip";

    public bool Matches(FixtureFolder fixture) => fixture.ConfigString("model_type") == "clip" && fixture.HasWeights;

    public IReadOnlyDictionary<string, Tensor> Compute(FixtureFolder fixture, Device device)
    {
        using var checkpoint = Checkpoint.Open(fixture.WeightsPath);
        using var model = ClipModel.Load(ClipModelConfig.Load(fixture.ConfigPath), checkpoint);
        model.to(device);
        using var _ = torch.no_grad();
        using var ids = fixture.Input("input_ids", device);
        using var pixels = fixture.Input("pixel_values", device);
        var names = fixture.Outputs.Keys.ToList();
        var outputs = new Dictionary<string, Tensor>();
        if (names.Contains("text_embeds")) outputs["text_embeds"] = model.TextFeatures(ids);
        if (names.Contains("image_embeds")) outputs["image_embeds"] = model.ImageFeatures(pixels);
        if (names.Contains("logits_per_image")) outputs["logits_per_image"] = model.LogitsPerImage(ids, pixels);
        if (names.Any(n => n is "vision_last_hidden_state" or "vision_pooler_output"))
            (outputs["vision_last_hidden_state"], outputs["vision_pooler_output"]) = model.Vision(pixels);
        foreach (var name in names.Where(n => !outputs.ContainsKey(n)))
            throw new NotSupportedException($"{fixture.Directory}: the {Name} kind does not compute '{name}'");
        return outputs;
    }
}
