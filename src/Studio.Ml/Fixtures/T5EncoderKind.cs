using Studio.Ml.Models.T5;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Fixtures;

/// <summary>
/// transformers `T5EncoderModel` cases (v1.0 relu and v1.1 gated-gelu): inputs `input_ids` [, `attention_mask`];
/// outputs `last_hidden_state_masked` (called with the mask) and `last_hidden_state_unmasked` / `last_hidden_state`
/// (called without it, as FluxPipeline does).
/// </summary>
public sealed class T5EncoderKind : IFixtureKind
{
    public string Name => "t5-encoder";

    public bool Matches(FixtureFolder fixture) =>
        fixture.ConfigString("model_type") == "t5" && fixture.ClassNames().Contains("T5EncoderModel") && fixture.HasWeights;

    public IReadOnlyDictionary<string, Tensor> Compute(FixtureFolder fixture, Device device)
    {
        using var checkpoint = Checkpoint.Open(fixture.WeightsPath);
        var (model, _) = T5Encoder.Load(T5Config.Load(fixture.ConfigPath), checkpoint);
        model.to(device);
        using (model)
        using (torch.no_grad())
        {
            using var ids = fixture.Input("input_ids", device);
            var outputs = new Dictionary<string, Tensor>();
            foreach (var name in fixture.Outputs.Keys)
            {
                outputs[name] = name switch
                {
                    "last_hidden_state_masked" => Masked(),
                    "last_hidden_state_unmasked" or "last_hidden_state" => model.forward(ids),
                    _ => throw new NotSupportedException($"{fixture.Directory}: the {Name} kind does not know the output '{name}'"),
                };
            }
            return outputs;

            Tensor Masked()
            {
                using var mask = fixture.Input("attention_mask", device);
                return model.forward(ids, mask);
            }
        }
    }
}
