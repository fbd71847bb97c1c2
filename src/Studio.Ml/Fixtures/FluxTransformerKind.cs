using Studio.Ml.Models.Common;
using Studio.Ml.Models.Flux;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Fixtures;

/// <summary>diffusers `FluxTransformer2DModel`: `sample` = model(hidden_states, encoder_hidden_states, pooled_projections, timestep, img_ids, txt_ids, guidance).</summary>
public sealed class FluxTransformerKind : IFixtureKind
{
    public string Name => "flux-transformer";

    public bool Matches(FixtureFolder fixture) => fixture.ClassNames().Contains("FluxTransformer2DModel");

    public IReadOnlyDictionary<string, Tensor> Compute(FixtureFolder fixture, Device device)
    {
        using var model = new FluxTransformer(FluxTransformerConfig.From(new ModelConfig(fixture.Config, fixture.ConfigPath)));
        using (var weights = Checkpoint.Open(fixture.WeightsPath)) ModuleLoader.Load(model, weights);
        model.to(device);
        model.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Tensor Input(string name) => fixture.Input(name, device);
        var guidance = model.Config.GuidanceEmbeds ? Input("guidance") : null;
        return new Dictionary<string, Tensor>
        {
            ["sample"] = model.forward(Input("hidden_states"), Input("encoder_hidden_states"), Input("pooled_projections"),
                Input("timestep"), Input("img_ids"), Input("txt_ids"), guidance).MoveToOuterDisposeScope(),
        };
    }
}
