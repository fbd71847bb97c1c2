using Studio.Ml.Models.Common;
using Studio.Ml.Models.Vae;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Fixtures;

/// <summary>
/// diffusers `AutoencoderKL` cases: `decoded` = decode(latents) (no scaling or shift), `latent_mean` /
/// `latent_logvar` = the posterior of encode(image).
/// </summary>
public sealed class AutoencoderKLKind : IFixtureKind
{
    public string Name => "autoencoder-kl";

    public bool Matches(FixtureFolder fixture) => fixture.ConfigString("_class_name") == "AutoencoderKL";

    public IReadOnlyDictionary<string, Tensor> Compute(FixtureFolder fixture, Device device)
    {
        using var vae = new AutoencoderKL(AutoencoderKLConfig.Parse(new ModelConfig(fixture.Config, fixture.ConfigPath)));
        using (var checkpoint = Checkpoint.Open(fixture.WeightsPath)) vae.Load(checkpoint);
        vae.to(device);
        vae.eval();
        using var _ = no_grad();
        var outputs = new Dictionary<string, Tensor>();
        if (fixture.Outputs.ContainsKey("decoded"))
        {
            using var latents = fixture.Input("latents", device);
            outputs["decoded"] = vae.Decode(latents);
        }
        if (fixture.Outputs.ContainsKey("latent_mean") || fixture.Outputs.ContainsKey("latent_logvar"))
        {
            using var image = fixture.Input("image", device);
            var posterior = vae.Encode(image);
            outputs["latent_mean"] = posterior.Mean;
            outputs["latent_logvar"] = posterior.LogVar;
        }
        return outputs;
    }
}
