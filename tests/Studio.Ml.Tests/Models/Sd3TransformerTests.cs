using System.Text.Json.Nodes;
using Studio.Ml.Models.Common;
using Studio.Ml.Models.Sd3;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Models;

public class Sd3TransformerTests
{
    public Sd3TransformerTests() => TorchRuntime.Initialise();

    static string FixtureDir => TestPaths.Fixture("sd3_transformer");

    static JsonObject FixtureConfigJson() => (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(FixtureDir, "config.json")))!;

    static Sd3TransformerConfig ParseConfig(JsonObject json) => Sd3TransformerConfig.Parse(new ModelConfig(json, "transformer/config.json"));

    [Fact]
    public void MatchesTheDiffusersReference() => FixtureAssert.Matches("sd3_transformer");

    [Fact]
    public void Bf16StaysCloseToTheFloat32Reference()
    {
        using var model = new Sd3Transformer(ParseConfig(FixtureConfigJson()));
        using (var checkpoint = Checkpoint.Open(Path.Combine(FixtureDir, "model.safetensors"))) ModuleLoader.Load(model, checkpoint);
        model.to(ScalarType.BFloat16);
        using var inputs = Checkpoint.Open(Path.Combine(FixtureDir, "inputs.safetensors"));
        using var outputs = Checkpoint.Open(Path.Combine(FixtureDir, "outputs.safetensors"));
        using var _ = no_grad();
        Tensor Bf16(string name) => inputs.Read(name).to_type(ScalarType.BFloat16);
        using var sample = model.forward(Bf16("hidden_states"), Bf16("encoder_hidden_states"), Bf16("pooled_projections"), inputs.Read("timestep"));
        Assert.Equal(ScalarType.BFloat16, sample.dtype);
        using var expected = outputs.Read("sample");
        var maxRef = expected.abs().max().item<float>();
        var maxDiff = (sample.to_type(ScalarType.Float32) - expected).abs().max().item<float>();
        Assert.True(maxDiff <= 0.03 * Math.Max(1, maxRef), $"bf16 max|diff| {maxDiff} (max|ref| {maxRef})");
    }

    [Fact]
    public void BuildsTheCroppedPositionTableDiffusersStores()
    {
        // The checkpoint holds diffusers' own table (a persistent buffer); a freshly built model must make the same one.
        using var model = new Sd3Transformer(ParseConfig(FixtureConfigJson()));
        using var checkpoint = Checkpoint.Open(Path.Combine(FixtureDir, "model.safetensors"));
        using var stored = checkpoint.Read("pos_embed.pos_embed");
        var built = model.state_dict()["pos_embed.pos_embed"];
        Assert.Equal(stored.shape, built.shape);
        Assert.True(built.allclose(stored, rtol: 0, atol: 1e-6), $"max diff {(built - stored).abs().max().item<float>()}");
    }

    [Fact]
    public void HasExactlyTheParameterNamesOfTheCheckpoint()
    {
        using var model = new Sd3Transformer(ParseConfig(FixtureConfigJson()));
        using var checkpoint = Checkpoint.Open(Path.Combine(FixtureDir, "model.safetensors"));
        Assert.Equal(checkpoint.Names.Order(StringComparer.Ordinal), model.state_dict().Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Sd35DualAttentionAndQkNormHaveDiffusersNames()
    {
        var json = FixtureConfigJson();
        json["dual_attention_layers"] = new JsonArray(0);
        json["qk_norm"] = "rms_norm";
        using var model = new Sd3Transformer(ParseConfig(json));
        var names = model.state_dict().Keys.ToHashSet();
        // SD3.5: nine modulation terms in a dual block, an image-only attn2, RMS q/k norms on both streams.
        Assert.Equal([9 * 32L, 32], model.state_dict()["transformer_blocks.0.norm1.linear.weight"].shape);
        Assert.Equal([6 * 32L, 32], model.state_dict()["transformer_blocks.1.norm1.linear.weight"].shape);
        foreach (var name in new[] { "transformer_blocks.0.attn2.to_q.weight", "transformer_blocks.0.attn2.norm_q.weight",
                     "transformer_blocks.0.attn2.to_out.0.weight", "transformer_blocks.0.attn.norm_added_k.weight", "transformer_blocks.1.attn.norm_k.weight" })
            Assert.Contains(name, names);
        Assert.DoesNotContain("transformer_blocks.1.attn2.to_q.weight", names);
        Assert.DoesNotContain("transformer_blocks.0.attn2.add_q_proj.weight", names);

        using var _ = no_grad();
        using var sample = model.forward(randn(1, 4, 6, 4), randn(1, 5, 32), randn(1, 64), tensor(new[] { 500f }));
        Assert.Equal([1L, 4, 6, 4], sample.shape);
    }

    [Fact]
    public void CropsPositionsFromTheCentreForNonSquareLatents()
    {
        // A 2x3 patch grid of a 16x16 table starts at row 7, column 6.
        using var model = new Sd3Transformer(ParseConfig(FixtureConfigJson()));
        using var _ = no_grad();
        var table = model.state_dict()["pos_embed.pos_embed"].view(16, 16, 32);
        using var zeros = torch.zeros(1, 4, 4, 6);
        using var tokens = ((nn.Module<Tensor, Tensor>)model.named_modules().First(m => m.name == "pos_embed").module).forward(zeros);
        var bias = model.state_dict()["pos_embed.proj.bias"];
        using var expected = (table[7..9, 6..9].reshape(1, 6, 32) + bias);
        Assert.True(tokens.allclose(expected, rtol: 0, atol: 1e-6));
    }

    [Theory]
    [InlineData("qk_norm", "\"layer_norm\"", "field 'qk_norm' is 'layer_norm'; supported: null (SD3) and 'rms_norm' (SD3.5)")]
    [InlineData("caption_projection_dim", "48", "field 'caption_projection_dim' is 48; it must equal num_attention_heads * attention_head_dim = 32")]
    [InlineData("dual_attention_layers", "[0, 5]", "field 'dual_attention_layers' lists a layer outside 0..1")]
    [InlineData("pos_embed_max_size", "null", "field 'pos_embed_max_size' is null")]
    [InlineData("num_layers", "\"2\"", "field 'num_layers' must be an integer")]
    public void ConfigErrorsNameTheField(string field, string json, string expected)
    {
        var config = FixtureConfigJson();
        config[field] = JsonNode.Parse(json);
        var e = Assert.Throws<InvalidDataException>(() => ParseConfig(config));
        Assert.Contains("transformer/config.json: " + expected, e.Message);
    }

    [Fact]
    public void RejectsLatentsLargerThanThePositionTable()
    {
        using var model = new Sd3Transformer(ParseConfig(FixtureConfigJson()));
        using var _ = no_grad();
        var e = Assert.Throws<ArgumentException>(() => model.forward(randn(1, 4, 34, 8), randn(1, 5, 32), randn(1, 64), tensor(new[] { 1f })));
        Assert.Contains("larger than pos_embed_max_size 16", e.Message);
    }
}
