using Studio.Ml.Models.Common;
using Studio.Ml.Models.Flux;
using Studio.Ml.Tensors;
using static TorchSharp.torch;

namespace Studio.Ml.Fixtures;

/// <summary>diffusers `FluxTransformer2DModel`: `sample` = model(hidden_states, encoder_hidden_states, pooled_projections, timestep, img_ids, txt_ids, guidance).</summary>
public sealed class FluxTransformerKind : IFixtureKind
{
    public string Name => "flux-transformer";

    public bool Matches(FixtureFolder fixture) => fixture.ClassNames().Contains("FluxTransformer2DModel");

    public IReadOnlyDictionary<string, Tensor> Compute(FixtureFolder fixture)
    {
        using var model = new FluxTransformer(FluxTransformerConfig.From(new ModelConfig(fixture.Config, fixture.ConfigPath)));
        using (var weights = Checkpoint.Open(fixture.WeightsPath)) ModuleLoader.Load(model, weights);
        model.eval();
        using var noGrad = no_grad();
        var guidance = model.Config.GuidanceEmbeds ? fixture.Input("guidance") : null;
        return new Dictionary<string, Tensor>
        {
            ["sample"] = model.forward(fixture.Input("hidden_states"), fixture.Input("encoder_hidden_states"), fixture.Input("pooled_projections"),
                fixture.Input("timestep"), fixture.Input("img_ids"), fixture.Input("txt_ids"), guidance),
        };
    }
}
