using System.Text.Json.Nodes;
using Studio.Ml.Models.Common;
using Studio.Ml.Models.Vae;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Models;

public class AutoencoderKLTests
{
    public AutoencoderKLTests() => TorchRuntime.Initialise();

    static string FixtureDir => TestPaths.Fixture("vae_decoder");

    static AutoencoderKL LoadFixtureVae()
    {
        var vae = new AutoencoderKL(AutoencoderKLConfig.Load(Path.Combine(FixtureDir, "config.json")));
        using var checkpoint = Checkpoint.Open(Path.Combine(FixtureDir, "model.safetensors"));
        vae.Load(checkpoint);
        vae.eval();
        return vae;
    }

    static Tensor Reference(string name)
    {
        using var file = SafeTensorsFile.Open(Path.Combine(FixtureDir, "outputs.safetensors"));
        return file.Read(name);
    }

    static Tensor Input(string name)
    {
        using var file = SafeTensorsFile.Open(Path.Combine(FixtureDir, "inputs.safetensors"));
        return file.Read(name);
    }

    [Fact]
    public void MatchesTheDiffusersReference() => FixtureAssert.Matches("vae_decoder");

    [Fact]
    public void Bf16DecodeStaysCloseToTheFloat32Reference()
    {
        using var vae = LoadFixtureVae();
        vae.to(ScalarType.BFloat16);
        using var _ = no_grad();
        using var latents = Input("latents");
        using var decoded = vae.Decode(latents);
        Assert.Equal(ScalarType.BFloat16, decoded.dtype);
        using var expected = Reference("decoded");
        var maxRef = expected.abs().max().item<float>();
        var maxDiff = (decoded.to_type(ScalarType.Float32) - expected).abs().max().item<float>();
        // bf16 keeps 8 bits of mantissa; after ~20 layers about 1.4% of the output range here (measured).
        Assert.True(maxDiff <= 0.03 * Math.Max(1, maxRef), $"bf16 max|diff| {maxDiff} (max|ref| {maxRef})");
    }

    [Fact]
    public void LoadsCheckpointsWithTheLegacyAttentionNames()
    {
        var path = Path.Combine(TestPaths.NewTempDirectory("vae-legacy"), "vae.safetensors");
        using (var original = Checkpoint.Open(Path.Combine(FixtureDir, "model.safetensors")))
        {
            var renamed = original.Names.ToDictionary(
                n => n.Replace(".to_q.", ".query.").Replace(".to_k.", ".key.").Replace(".to_v.", ".value.").Replace(".to_out.0.", ".proj_attn."),
                original.Read);
            Assert.Contains("decoder.mid_block.attentions.0.proj_attn.weight", renamed.Keys);
            SafeTensorsWriter.Save(path, renamed);
            foreach (var t in renamed.Values) t.Dispose();
        }
        using var vae = new AutoencoderKL(AutoencoderKLConfig.Load(Path.Combine(FixtureDir, "config.json")));
        using (var checkpoint = Checkpoint.Open(path)) Assert.True(vae.Load(checkpoint).IsClean);
        using var _ = no_grad();
        using var latents = Input("latents");
        using var decoded = vae.Decode(latents);
        using var expected = Reference("decoded");
        Assert.True(decoded.allclose(expected, rtol: 0, atol: 1e-4));
    }

    [Fact]
    public void TiledDecodeOfLatentsThatFitOneTileIsThePlainDecode()
    {
        using var vae = LoadFixtureVae();
        using var _ = no_grad();
        using var latents = Input("latents");
        using var plain = vae.Decode(latents);
        using var tiled = vae.DecodeTiled(latents, tileSampleSize: 8);
        Assert.True(plain.eq(tiled).all().item<bool>());
    }

    [Fact]
    public void TiledDecodeCrossFadesNeighbouringTilesAsDiffusersDoes()
    {
        using var vae = LoadFixtureVae();
        using var _ = no_grad();
        var generator = new Generator(7);
        using var latents = randn([1, 16, 10, 10], generator: generator);
        // Downscale factor 2 here: tiles of 4 latents (8 pixels) every 3 latents, blended over 2 pixels, 6 pixels kept.
        using var tiled = vae.DecodeTiled(latents, tileSampleSize: 8);
        Assert.Equal([1L, 3, 20, 20], tiled.shape);

        using var first = vae.Decode(latents[.., .., 0..4, 0..4]);
        using var second = vae.Decode(latents[.., .., 0..4, 3..7]);
        // The first tile is kept as decoded.
        Assert.True(tiled[.., .., 0..6, 0..6].equal(first[.., .., 0..6, 0..6]).all().item<bool>());
        // The second tile's first two columns fade from the first tile's columns 6, 7 into its own: weights x / 2.
        Assert.True(tiled[.., .., 0..6, 6].allclose(first[.., .., 0..6, 6], rtol: 0, atol: 1e-6));
        using var fade = first[.., .., 0..6, 7] * 0.5 + second[.., .., 0..6, 1] * 0.5;
        Assert.True(tiled[.., .., 0..6, 7].allclose(fade, rtol: 0, atol: 1e-6));
        Assert.True(tiled[.., .., 0..6, 8..12].equal(second[.., .., 0..6, 2..6]).all().item<bool>());
    }

    [Fact]
    public void BuildsTheClassicSdLayoutWithQuantConvsAndChannelChanges()
    {
        var json = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(FixtureDir, "config.json")))!;
        json["block_out_channels"] = new JsonArray(16, 32, 32);
        json["down_block_types"] = new JsonArray("DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D");
        json["up_block_types"] = new JsonArray("UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D");
        json["layers_per_block"] = 2;
        json["latent_channels"] = 4;
        json["use_quant_conv"] = true;
        json["use_post_quant_conv"] = true;
        json.Remove("shift_factor");
        using var vae = new AutoencoderKL(AutoencoderKLConfig.Parse(new ModelConfig(json, "sd-vae/config.json")));
        var shapes = vae.state_dict().ToDictionary(p => p.Key, p => p.Value.shape);
        Assert.Equal([8L, 8, 1, 1], shapes["quant_conv.weight"]);
        Assert.Equal([4L, 4, 1, 1], shapes["post_quant_conv.weight"]);
        Assert.Equal([32L, 16, 1, 1], shapes["encoder.down_blocks.1.resnets.0.conv_shortcut.weight"]);
        Assert.Equal([16L, 32, 1, 1], shapes["decoder.up_blocks.2.resnets.0.conv_shortcut.weight"]);
        Assert.Contains("decoder.up_blocks.2.resnets.2.conv2.weight", shapes.Keys);      // layers_per_block + 1 resnets
        Assert.DoesNotContain("decoder.up_blocks.2.upsamplers.0.conv.weight", shapes.Keys);
        Assert.DoesNotContain("encoder.down_blocks.2.downsamplers.0.conv.weight", shapes.Keys);

        using var _ = no_grad();
        using var image = rand(1, 3, 16, 12) * 2 - 1;
        using var posterior = vae.Encode(image);
        Assert.Equal([1L, 4, 4, 3], posterior.Mean.shape);
        using var decoded = vae.Decode(posterior.Mean);
        Assert.Equal([1L, 3, 16, 12], decoded.shape);
        Assert.Equal(0.0, vae.Config.ShiftFactor);
    }

    [Theory]
    [InlineData("down_block_types", """["DownEncoderBlock2D", "AttnDownEncoderBlock2D"]""", "field 'down_block_types' must list 2 'DownEncoderBlock2D'")]
    [InlineData("norm_num_groups", "5", "field 'norm_num_groups' is 5; every block_out_channels entry [32, 32] must be a positive multiple of it")]
    [InlineData("act_fn", "\"gelu\"", "field 'act_fn' is 'gelu'")]
    [InlineData("latent_channels", "\"16\"", "field 'latent_channels' must be an integer")]
    public void ConfigErrorsNameTheField(string field, string json, string expected)
    {
        var config = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(FixtureDir, "config.json")))!;
        config[field] = JsonNode.Parse(json);
        var e = Assert.Throws<InvalidDataException>(() => AutoencoderKLConfig.Parse(new ModelConfig(config, "vae/config.json")));
        Assert.Contains("vae/config.json: " + expected, e.Message);
    }

    [Fact]
    public void ReadsTheFluxScalingAndShift()
    {
        var config = AutoencoderKLConfig.Load(Path.Combine(FixtureDir, "config.json"));
        Assert.Equal((16, 0.3611, 0.1159, false, false),
            (config.LatentChannels, config.ScalingFactor, config.ShiftFactor, config.UseQuantConv, config.UsePostQuantConv));
    }
}
