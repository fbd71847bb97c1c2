using Studio.Ml.Models.Common;
using Studio.Ml.Models.Sd3;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Fixtures;

/// <summary>diffusers `SD3Transformer2DModel` cases: `sample` = model(hidden_states, encoder_hidden_states, pooled_projections, timestep).</summary>
public sealed class Sd3TransformerKind : IFixtureKind
{
    public string Name => "sd3-transformer";

    public bool Matches(FixtureFolder fixture) => fixture.ConfigString("_class_name") == "SD3Transformer2DModel";

    public IReadOnlyDictionary<string, Tensor> Compute(FixtureFolder fixture, Device device)
    {
        using var model = new Sd3Transformer(Sd3TransformerConfig.Parse(new ModelConfig(fixture.Config, fixture.ConfigPath)));
        using (var checkpoint = Checkpoint.Open(fixture.WeightsPath)) ModuleLoader.Load(model, checkpoint);
        model.to(device);
        model.eval();
        using var _ = no_grad();
        using var hidden = fixture.Input("hidden_states", device);
        using var context = fixture.Input("encoder_hidden_states", device);
        using var pooled = fixture.Input("pooled_projections", device);
        using var timestep = fixture.Input("timestep", device);
        return new Dictionary<string, Tensor> { ["sample"] = model.forward(hidden, context, pooled, timestep) };
    }
}
