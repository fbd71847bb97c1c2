using Studio.Ml.Diffusion;
using static TorchSharp.torch;

namespace Studio.Ml.Fixtures;

/// <summary>
/// FluxPipeline's latent packing (no weights; config.json describes shapes, it is not a diffusers config):
/// `packed` = Pack(latents), `unpacked` = Unpack(packed), `img_ids` of the packed grid.
/// </summary>
public sealed class FluxPackingKind : IFixtureKind
{
    public string Name => "flux-packing";

    public bool Matches(FixtureFolder fixture) =>
        fixture.ClassNames().Count == 0 && !fixture.HasWeights
        && fixture.Config["latent_channels"] is not null && fixture.Config["latent_height"] is not null && fixture.Config["latent_width"] is not null;

    public IReadOnlyDictionary<string, Tensor> Compute(FixtureFolder fixture, Device device)
    {
        using var latents = fixture.Input("latents", device);
        var (height, width) = (latents.shape[2], latents.shape[3]);
        var packed = LatentPacking.Pack(latents);
        return new Dictionary<string, Tensor>
        {
            ["packed"] = packed,
            ["unpacked"] = LatentPacking.Unpack(packed, height, width),
            ["img_ids"] = LatentPacking.ImageIds(height / 2, width / 2, device: device),
        };
    }
}
