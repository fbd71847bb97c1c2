using System.Text.Json.Nodes;
using Studio.Ml.Models.Common;
using Studio.Ml.Models.Flux;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Models;

/// <summary>LoRAs in diffusers' layout: read, merged into a transformer's weights by the formula, given back exactly, refused by key.</summary>
public class LoraWeightsTests
{
    public LoraWeightsTests() => TorchRuntime.Initialise();

    static FluxTransformer TinyTransformer()
    {
        var config = new JsonObject
        {
            ["_class_name"] = "FluxTransformer2DModel", ["patch_size"] = 1, ["in_channels"] = 16, ["num_layers"] = 1,
            ["num_single_layers"] = 1, ["attention_head_dim"] = 8, ["num_attention_heads"] = 2, ["joint_attention_dim"] = 24,
            ["pooled_projection_dim"] = 12, ["guidance_embeds"] = true, ["axes_dims_rope"] = new JsonArray(2, 2, 4),
        };
        manual_seed(3);
        return new FluxTransformer(FluxTransformerConfig.From(new ModelConfig(config, "tiny transformer")));
    }

    /// <summary>The same shape and the same values, bit for bit.</summary>
    internal static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    static string Save(Dictionary<string, Tensor> tensors)
    {
        var path = Path.Combine(TestPaths.NewTempDirectory("lora"), "lora.safetensors");
        SafeTensorsWriter.Save(path, tensors);
        return path;
    }

    [Fact]
    public void EachLayerGainsScaleTimesUpTimesDownAndTheMergeGivesTheWeightsBackBitForBit()
    {
        using var transformer = TinyTransformer();
        var parameters = transformer.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        // A rank-2 LoRA of a double block's query (no alpha: scale 1) and a rank-3 one of a single block's output with alpha 6 (scale 6 / 3 = 2).
        manual_seed(5);
        var qDown = randn(2, 16); var qUp = randn(16, 2);
        var oDown = randn(3, 16 + 64); var oUp = randn(16, 3);
        Assert.Equal([16L, 16], parameters["transformer_blocks.0.attn.to_q.weight"].shape);
        Assert.Equal([16L, 80], parameters["single_transformer_blocks.0.proj_out.weight"].shape);
        var path = Save(new()
        {
            ["transformer.transformer_blocks.0.attn.to_q.lora_A.weight"] = qDown,
            ["transformer.transformer_blocks.0.attn.to_q.lora_B.weight"] = qUp,
            ["transformer.single_transformer_blocks.0.proj_out.lora_A.weight"] = oDown.to_type(ScalarType.BFloat16),
            ["transformer.single_transformer_blocks.0.proj_out.lora_B.weight"] = oUp.to_type(ScalarType.BFloat16),
            ["transformer.single_transformer_blocks.0.proj_out.alpha"] = tensor(6.0f),
        });
        using var lora = LoraWeights.Load(path);
        Assert.Equal([("single_transformer_blocks.0.proj_out", 3L, 2.0), ("transformer_blocks.0.attn.to_q", 2L, 1.0)],
            lora.Layers.Select(l => (l.Module, l.Rank, l.Scale)));

        var before = parameters.ToDictionary(p => p.Key, p => p.Value.detach().clone());
        using (lora.MergeInto(transformer, 0.5))
        {
            // By hand in float64: W + 0.5 x scale x B @ A (the bf16 layer's factors as stored).
            var q = before["transformer_blocks.0.attn.to_q.weight"].to_type(ScalarType.Float64) + 0.5 * 1.0 * qUp.to_type(ScalarType.Float64).matmul(qDown.to_type(ScalarType.Float64));
            var o = before["single_transformer_blocks.0.proj_out.weight"].to_type(ScalarType.Float64)
                + 0.5 * 2.0 * oUp.to_type(ScalarType.BFloat16).to_type(ScalarType.Float64).matmul(oDown.to_type(ScalarType.BFloat16).to_type(ScalarType.Float64));
            Assert.True(parameters["transformer_blocks.0.attn.to_q.weight"].to_type(ScalarType.Float64).allclose(q, rtol: 1e-5, atol: 1e-5));
            Assert.True(parameters["single_transformer_blocks.0.proj_out.weight"].to_type(ScalarType.Float64).allclose(o, rtol: 1e-5, atol: 1e-5));
            Assert.False(Same(parameters["transformer_blocks.0.attn.to_q.weight"], before["transformer_blocks.0.attn.to_q.weight"]));
            // Every other weight is untouched.
            foreach (var (name, value) in before.Where(p => p.Key is not ("transformer_blocks.0.attn.to_q.weight" or "single_transformer_blocks.0.proj_out.weight")))
                Assert.True(Same(parameters[name], value), name);
        }
        foreach (var (name, value) in before) Assert.True(Same(parameters[name], value), $"{name} was not given back");
    }

    [Fact]
    public void PeftsPrefixIsReadLikeDiffusersAndABfloat16TransformerIsMergedInFloat32ThenRounded()
    {
        using var transformer = TinyTransformer();
        transformer.to(ScalarType.BFloat16);
        var weight = transformer.named_parameters().Single(p => p.name == "transformer_blocks.0.attn.to_k.weight").parameter;
        var before = weight.detach().clone();
        manual_seed(6);
        var down = randn(1, 16); var up = randn(16, 1);
        using var lora = LoraWeights.Load(Save(new()
        {
            ["base_model.model.transformer_blocks.0.attn.to_k.lora_A.weight"] = down,
            ["base_model.model.transformer_blocks.0.attn.to_k.lora_B.weight"] = up,
        }));
        using (lora.MergeInto(transformer, 1))
        {
            var expected = (before.to_type(ScalarType.Float32) + up.matmul(down)).to_type(ScalarType.BFloat16);
            Assert.True(Same(weight, expected));
        }
        Assert.True(Same(weight, before));
    }

    /// <summary>
    /// The original FLUX layout's fused layers, in its own names and in kohya's, land on diffusers' layers row by row:
    /// a double block's image qkv on to_q, to_k, to_v; a single block's linear1 on to_q, to_k, to_v and proj_mlp; the
    /// final modulation's (shift, scale) halves on norm_out's (scale, shift).
    /// </summary>
    [Fact]
    public void TheOriginalFluxLayoutAndKohyasAreSplitOntoDiffusersLayersByRows()
    {
        manual_seed(7);
        // Inner width 16 (2 heads x 8): qkv makes 48 rows; linear1 48 + 64 (mlp); final modulation 2 x 16 rows of 16 inputs.
        var qkvDown = randn(2, 16); var qkvUp = randn(48, 2);
        var linear1Down = randn(3, 16); var linear1Up = randn(112, 3);
        var finalDown = randn(1, 16); var finalUp = randn(32, 1);
        Dictionary<string, Tensor> Named(Func<string, string, string> key) => new()
        {
            [key("double_blocks.0.img_attn.qkv", "A")] = qkvDown, [key("double_blocks.0.img_attn.qkv", "B")] = qkvUp,
            [key("single_blocks.0.linear1", "A")] = linear1Down, [key("single_blocks.0.linear1", "B")] = linear1Up,
            [key("final_layer.adaLN_modulation.1", "A")] = finalDown, [key("final_layer.adaLN_modulation.1", "B")] = finalUp,
        };
        var original = Save(Named((m, p) => $"diffusion_model.{m}.lora_{p}.weight"));
        var kohya = Save(Named((m, p) => $"lora_unet_{m.Replace('.', '_')}.lora_{(p == "A" ? "down" : "up")}.weight"));

        using var lora = LoraWeights.Load(original);
        using var transformer = TinyTransformer();
        var parameters = transformer.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var before = parameters.ToDictionary(p => p.Key, p => p.Value.detach().clone());
        var qkv = qkvUp.matmul(qkvDown);
        var linear1 = linear1Up.matmul(linear1Down);
        var final = finalUp.matmul(finalDown);
        var expected = new Dictionary<string, Tensor>
        {
            ["transformer_blocks.0.attn.to_q.weight"] = qkv[0..16], ["transformer_blocks.0.attn.to_k.weight"] = qkv[16..32], ["transformer_blocks.0.attn.to_v.weight"] = qkv[32..48],
            ["single_transformer_blocks.0.attn.to_q.weight"] = linear1[0..16], ["single_transformer_blocks.0.attn.to_k.weight"] = linear1[16..32],
            ["single_transformer_blocks.0.attn.to_v.weight"] = linear1[32..48], ["single_transformer_blocks.0.proj_mlp.weight"] = linear1[48..112],
            ["norm_out.linear.weight"] = cat([final[16..32], final[0..16]], 0),
        };
        using (lora.MergeInto(transformer, 1))
            foreach (var (name, value) in before)
            {
                var wanted = expected.TryGetValue(name, out var delta) ? value + delta : value;
                Assert.True(parameters[name].allclose(wanted, rtol: 1e-5, atol: 1e-6), name);
            }
        foreach (var (name, value) in before) Assert.True(Same(parameters[name], value), name);

        // Those layouts are mapped for FLUX only: another transformer is refused, naming the layout.
        using var other = nn.Linear(16, 16);
        using var kohyaWeights = LoraWeights.Load(kohya);
        Assert.Contains("layer 'double_blocks_0_img_attn_qkv' is named in kohya's layout, which the studio maps onto FLUX transformers only",
            Assert.Throws<InvalidDataException>(() => kohyaWeights.MergeInto(other, 1)).Message);

        // kohya's names give the same weights.
        using var fromKohya = LoraWeights.Load(kohya);
        Assert.All(fromKohya.Layers, l => Assert.Equal(LoraLayout.FluxKohya, l.Layout));
        using (fromKohya.MergeInto(transformer, 1))
            foreach (var name in expected.Keys) Assert.True(parameters[name].allclose(before[name] + expected[name], rtol: 1e-5, atol: 1e-6), name);
        foreach (var (name, value) in before) Assert.True(Same(parameters[name], value), name);
    }

    /// <summary>
    /// XLabs' x-flux layout: a double block's qkv_lora1 / proj_lora1 adapt the image stream (to_q, to_k, to_v by thirds
    /// of the up matrix's rows; to_out.0), qkv_lora2 / proj_lora2 the text stream (add_q_proj, add_k_proj, add_v_proj;
    /// to_add_out), as diffusers' converter for these files maps them; no alpha, so scale 1.
    /// </summary>
    [Fact]
    public void XLabsDoubleBlockLayersGoToTheImageAndTextStreamsAttention()
    {
        manual_seed(11);
        var (qkv1Down, qkv1Up, proj1Down, proj1Up) = (randn(2, 16), randn(48, 2), randn(2, 16), randn(16, 2));
        var (qkv2Down, qkv2Up, proj2Down, proj2Up) = (randn(3, 16), randn(48, 3), randn(1, 16), randn(16, 1));
        var path = Save(new()
        {
            ["double_blocks.0.processor.qkv_lora1.down.weight"] = qkv1Down, ["double_blocks.0.processor.qkv_lora1.up.weight"] = qkv1Up,
            ["double_blocks.0.processor.proj_lora1.down.weight"] = proj1Down, ["double_blocks.0.processor.proj_lora1.up.weight"] = proj1Up,
            ["double_blocks.0.processor.qkv_lora2.down.weight"] = qkv2Down, ["double_blocks.0.processor.qkv_lora2.up.weight"] = qkv2Up,
            ["double_blocks.0.processor.proj_lora2.down.weight"] = proj2Down, ["double_blocks.0.processor.proj_lora2.up.weight"] = proj2Up,
        });
        using var lora = LoraWeights.Load(path);
        Assert.All(lora.Layers, l => Assert.Equal(LoraLayout.FluxXLabs, l.Layout));
        Assert.All(lora.Layers, l => Assert.Equal(1.0, l.Scale));
        using var transformer = TinyTransformer();
        var parameters = transformer.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var before = parameters.ToDictionary(p => p.Key, p => p.Value.detach().clone());
        var (image, text) = (qkv1Up.matmul(qkv1Down), qkv2Up.matmul(qkv2Down));
        var expected = new Dictionary<string, Tensor>
        {
            ["transformer_blocks.0.attn.to_q.weight"] = image[0..16], ["transformer_blocks.0.attn.to_k.weight"] = image[16..32],
            ["transformer_blocks.0.attn.to_v.weight"] = image[32..48], ["transformer_blocks.0.attn.to_out.0.weight"] = proj1Up.matmul(proj1Down),
            ["transformer_blocks.0.attn.add_q_proj.weight"] = text[0..16], ["transformer_blocks.0.attn.add_k_proj.weight"] = text[16..32],
            ["transformer_blocks.0.attn.add_v_proj.weight"] = text[32..48], ["transformer_blocks.0.attn.to_add_out.weight"] = proj2Up.matmul(proj2Down),
        };
        using (lora.MergeInto(transformer, 0.5))
            foreach (var (name, value) in before)
            {
                var wanted = expected.TryGetValue(name, out var delta) ? value + 0.5 * delta : value;
                Assert.True(parameters[name].allclose(wanted, rtol: 1e-5, atol: 1e-6), name);
            }
        foreach (var (name, value) in before) Assert.True(Same(parameters[name], value), name);

        // Checked from the header alone against the transformer's shapes, as a request is before it is queued.
        LoraWeights.CheckFits(path, before.ToDictionary(p => p.Key, p => p.Value.shape), transformer.Config);
    }

    [Theory]
    [InlineData("lora_te3_encoder_block_0_layer_0_SelfAttention_q.lora_down.weight", "adapts a T5 encoder")]
    [InlineData("text_encoder_2.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight", "adapts a T5 encoder")]
    [InlineData("te1.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight", "adapts a text encoder in a layout the studio does not read")]
    [InlineData("text_encoder.text_model.encoder.layers.0.self_attn.q_proj.weight", "is not a LoRA tensor of the transformer or of CLIP")]
    [InlineData("transformer.transformer_blocks.0.attn.to_q.weight", "is not a LoRA tensor of the transformer or of CLIP")]
    [InlineData("unet.down_blocks.0.lora_A.weight", "is not a LoRA tensor of the transformer or of CLIP")]
    [InlineData("single_blocks.0.processor.qkv_lora.down.weight", "is an XLabs LoRA layer the studio does not map")]
    [InlineData("double_blocks.0.processor.qkv_lora3.down.weight", "is not a LoRA tensor of the transformer or of CLIP")]
    [InlineData("transformer.lora_A.weight", "is not a LoRA tensor of the transformer or of CLIP")]
    public void AKeyOfAnotherLayoutIsRefusedNamingTheFileAndTheKey(string key, string message)
    {
        var path = Save(new() { [key] = zeros(2, 16) });
        var error = Assert.Throws<InvalidDataException>(() => LoraWeights.Load(path));
        Assert.Contains(path, error.Message);
        Assert.Contains($"'{key}' {message}", error.Message);
    }

    [Fact]
    public void AHalfLayerABadAlphaAMissingLayerAndAnotherShapeAreRefusedAndNothingIsChanged()
    {
        var half = Save(new() { ["transformer.x.lora_A.weight"] = zeros(2, 16) });
        Assert.Contains("layer 'x' needs both its down (lora_A) and up (lora_B) weights, found transformer.x.lora_A.weight", Assert.Throws<InvalidDataException>(() => LoraWeights.Load(half)).Message);
        var ranks = Save(new() { ["transformer.x.lora_A.weight"] = zeros(2, 16), ["transformer.x.lora_B.weight"] = zeros(16, 3) });
        Assert.Contains("layer 'x': 'transformer.x.lora_A.weight' [2, 16] and 'transformer.x.lora_B.weight' [16, 3] are not [rank, in] and [out, rank]", Assert.Throws<InvalidDataException>(() => LoraWeights.Load(ranks)).Message);
        var alpha = Save(new() { ["transformer.x.lora_A.weight"] = zeros(2, 16), ["transformer.x.lora_B.weight"] = zeros(16, 2), ["transformer.x.alpha"] = zeros(2) });
        Assert.Contains("'transformer.x.alpha' must be one number, found shape [2]", Assert.Throws<InvalidDataException>(() => LoraWeights.Load(alpha)).Message);

        using var transformer = TinyTransformer();
        var before = transformer.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        using var missing = LoraWeights.Load(Save(new()
        {
            ["transformer.transformer_blocks.0.attn.to_q.lora_A.weight"] = ones(1, 16), ["transformer.transformer_blocks.0.attn.to_q.lora_B.weight"] = ones(16, 1),
            ["transformer.transformer_blocks.7.attn.to_q.lora_A.weight"] = ones(1, 16), ["transformer.transformer_blocks.7.attn.to_q.lora_B.weight"] = ones(16, 1),
        }));
        Assert.Contains("the transformer has no layer 'transformer_blocks.7.attn.to_q'", Assert.Throws<InvalidDataException>(() => missing.MergeInto(transformer, 1)).Message);
        using var wider = LoraWeights.Load(Save(new()
        {
            ["transformer.transformer_blocks.0.attn.to_q.lora_A.weight"] = ones(1, 32), ["transformer.transformer_blocks.0.attn.to_q.lora_B.weight"] = ones(16, 1),
        }));
        Assert.Contains("layer 'transformer_blocks.0.attn.to_q' is [[16, 16]] in the transformer, the LoRA makes [16, 32]", Assert.Throws<InvalidDataException>(() => wider.MergeInto(transformer, 1)).Message);
        // The same refusals from the headers alone, against the weights' shapes, before anything is loaded.
        var shapes = transformer.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        Assert.Contains("the transformer has no layer 'transformer_blocks.7.attn.to_q'", Assert.Throws<InvalidDataException>(() => LoraWeights.CheckFits(missing.Path, shapes, transformer.Config)).Message);
        Assert.Contains("layer 'transformer_blocks.0.attn.to_q' is [[16, 16]] in the transformer, the LoRA makes [16, 32]", Assert.Throws<InvalidDataException>(() => LoraWeights.CheckFits(wider.Path, shapes, transformer.Config)).Message);
        LoraWeights.CheckFits(Save(new() { ["transformer.transformer_blocks.0.attn.to_q.lora_A.weight"] = ones(1, 16), ["transformer.transformer_blocks.0.attn.to_q.lora_B.weight"] = ones(16, 1) }), shapes, transformer.Config);
        foreach (var (name, value) in before) Assert.True(Same(transformer.named_parameters().Single(p => p.name == name).parameter, value), name);
    }
}
