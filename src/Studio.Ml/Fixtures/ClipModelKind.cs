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
        var outputs = new Dictionary<string, Tensor>();
        foreach (var name in fixture.Outputs.Keys)
        {
            switch (name)
            {
                case "text_embeds": outputs[name] = model.TextFeatures(ids); break;
                case "image_embeds": outputs[name] = model.ImageFeatures(pixels); break;
                case "logits_per_image": outputs[name] = model.LogitsPerImage(ids, pixels); break;
                case "vision_last_hidden_state" or "vision_pooler_output" when !outputs.ContainsKey(name):
                    var (last, pooled) = model.Vision(pixels);
                    outputs["vision_last_hidden_state"] = last;
                    outputs["vision_pooler_output"] = pooled;
                    break;
                case "vision_last_hidden_state" or "vision_pooler_output": break;
                default: throw new NotSupportedException($"{fixture.Directory}: the {Name} kind does not compute '{name}'");
            }
        }
        return outputs;
    }
}
