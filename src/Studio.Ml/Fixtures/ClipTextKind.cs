using Studio.Ml.Models.Clip;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Fixtures;

/// <summary>
/// transformers `CLIPTextModel` / `CLIPTextModelWithProjection` cases: input `input_ids` [, `attention_mask`];
/// outputs `last_hidden_state`, `pooler_output`, `text_embeds` (called without a mask, as FLUX and SD3 do) and
/// `last_hidden_state_masked` (called with the mask).
/// </summary>
public sealed class ClipTextKind : IFixtureKind
{
    public string Name => "clip-text";

    public bool Matches(FixtureFolder fixture) =>
        fixture.ConfigString("model_type") == "clip_text_model"
        && fixture.ClassNames().Any(c => c is "CLIPTextModel" or "CLIPTextModelWithProjection")
        && fixture.HasWeights;

    public IReadOnlyDictionary<string, Tensor> Compute(FixtureFolder fixture, Device device)
    {
        using var checkpoint = Checkpoint.Open(fixture.WeightsPath);
        var (model, _) = ClipTextEncoder.Load(ClipTextConfig.Load(fixture.ConfigPath), checkpoint);
        model.to(device);
        using (model)
        using (torch.no_grad())
        {
            using var ids = fixture.Input("input_ids", device);
            var names = fixture.Outputs.Keys.ToList();
            var outputs = new Dictionary<string, Tensor>();
            if (names.Any(n => n is "last_hidden_state" or "pooler_output" or "text_embeds"))
            {
                var plain = model.forward(ids);
                outputs["last_hidden_state"] = plain.LastHiddenState;
                outputs["pooler_output"] = plain.PoolerOutput;
                if (plain.TextEmbeds is { } embeds) outputs["text_embeds"] = embeds;
            }
            if (names.Contains("last_hidden_state_masked"))
            {
                using var mask = fixture.Input("attention_mask", device);
                var masked = model.forward(ids, mask);
                outputs["last_hidden_state_masked"] = masked.LastHiddenState;
                masked.PoolerOutput.Dispose();
                masked.TextEmbeds?.Dispose();
            }
            foreach (var name in names.Where(n => !outputs.ContainsKey(n)))
                throw new NotSupportedException($"{fixture.Directory}: the {Name} kind does not compute '{name}' for {string.Join(", ", fixture.ClassNames())}");
            return outputs;
        }
    }
}
