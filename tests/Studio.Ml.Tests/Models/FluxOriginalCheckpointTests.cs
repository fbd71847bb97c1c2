using Studio.Ml.Models.Flux;
using Studio.Ml.Tensors;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Models;

/// <summary>
/// The original single-file FLUX layout: the fixture's diffusers weights are written in that layout by an inverse
/// mapping kept here (from docs/MODELS.md's table, independently of the loader), loaded back, and must reproduce the
/// fixture's reference output.
/// </summary>
public class FluxOriginalCheckpointTests
{
    public FluxOriginalCheckpointTests() => TorchRuntime.Initialise();

    static string FixtureDir => TestPaths.Fixture("flux_transformer");
    static int[] FixtureAxes => FluxTransformerConfig.Load(Path.Combine(FixtureDir, "config.json")).RopeAxes.ToArray();

    /// <summary>Original name -> the diffusers tensors it concatenates (rows), or a half swap for final_layer.</summary>
    static Dictionary<string, Tensor> ToOriginalLayout(IReadOnlyDictionary<string, Tensor> d, int doubleBlocks, int singleBlocks)
    {
        var o = new Dictionary<string, Tensor>();
        void Linear(string original, string diffusers)
        {
            o[original + ".weight"] = d[diffusers + ".weight"];
            o[original + ".bias"] = d[diffusers + ".bias"];
        }
        void Fused(string original, params string[] diffusers)
        {
            o[original + ".weight"] = cat(diffusers.Select(n => d[n + ".weight"]).ToArray(), 0);
            o[original + ".bias"] = cat(diffusers.Select(n => d[n + ".bias"]).ToArray(), 0);
        }
        Linear("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1");
        Linear("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2");
        Linear("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1");
        Linear("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2");
        Linear("vector_in.in_layer", "time_text_embed.text_embedder.linear_1");
        Linear("vector_in.out_layer", "time_text_embed.text_embedder.linear_2");
        Linear("txt_in", "context_embedder");
        Linear("img_in", "x_embedder");
        for (int i = 0; i < doubleBlocks; i++)
        {
            var (b, t) = ($"double_blocks.{i}", $"transformer_blocks.{i}");
            Linear($"{b}.img_mod.lin", $"{t}.norm1.linear");
            Linear($"{b}.txt_mod.lin", $"{t}.norm1_context.linear");
            Fused($"{b}.img_attn.qkv", $"{t}.attn.to_q", $"{t}.attn.to_k", $"{t}.attn.to_v");
            Fused($"{b}.txt_attn.qkv", $"{t}.attn.add_q_proj", $"{t}.attn.add_k_proj", $"{t}.attn.add_v_proj");
            o[$"{b}.img_attn.norm.query_norm.scale"] = d[$"{t}.attn.norm_q.weight"];
            o[$"{b}.img_attn.norm.key_norm.scale"] = d[$"{t}.attn.norm_k.weight"];
            o[$"{b}.txt_attn.norm.query_norm.scale"] = d[$"{t}.attn.norm_added_q.weight"];
            o[$"{b}.txt_attn.norm.key_norm.scale"] = d[$"{t}.attn.norm_added_k.weight"];
            Linear($"{b}.img_attn.proj", $"{t}.attn.to_out.0");
            Linear($"{b}.txt_attn.proj", $"{t}.attn.to_add_out");
            Linear($"{b}.img_mlp.0", $"{t}.ff.net.0.proj");
            Linear($"{b}.img_mlp.2", $"{t}.ff.net.2");
            Linear($"{b}.txt_mlp.0", $"{t}.ff_context.net.0.proj");
            Linear($"{b}.txt_mlp.2", $"{t}.ff_context.net.2");
        }
        for (int i = 0; i < singleBlocks; i++)
        {
            var (b, t) = ($"single_blocks.{i}", $"single_transformer_blocks.{i}");
            Linear($"{b}.modulation.lin", $"{t}.norm.linear");
            Fused($"{b}.linear1", $"{t}.attn.to_q", $"{t}.attn.to_k", $"{t}.attn.to_v", $"{t}.proj_mlp");
            o[$"{b}.norm.query_norm.scale"] = d[$"{t}.attn.norm_q.weight"];
            o[$"{b}.norm.key_norm.scale"] = d[$"{t}.attn.norm_k.weight"];
            Linear($"{b}.linear2", $"{t}.proj_out");
        }
        // diffusers keeps (scale, shift); the original final layer keeps (shift, scale).
        foreach (var kind in new[] { "weight", "bias" })
        {
            var halves = d[$"norm_out.linear.{kind}"].chunk(2, 0);
            o[$"final_layer.adaLN_modulation.1.{kind}"] = cat([halves[1], halves[0]], 0);
        }
        Linear("final_layer.linear", "proj_out");
        return o;
    }

    static string WriteOriginal(string prefix = "", Action<Dictionary<string, Tensor>>? edit = null, Dictionary<string, Tensor>? otherModels = null)
    {
        using var weights = SafeTensorsFile.Open(Path.Combine(FixtureDir, "model.safetensors"));
        var diffusers = weights.Entries.Keys.ToDictionary(n => n, n => weights.Read(n));
        var original = ToOriginalLayout(diffusers, doubleBlocks: 1, singleBlocks: 2);
        edit?.Invoke(original);
        var path = Path.Combine(TestPaths.NewTempDirectory("flux-original"), "flux1-tiny.safetensors");
        SafeTensorsWriter.Save(path, original.Select(p => new KeyValuePair<string, Tensor>(prefix + p.Key, p.Value))
            .Concat(otherModels ?? []));
        return path;
    }

    static void AssertMatchesReference(FluxTransformer model)
    {
        using var scope = NewDisposeScope();
        using var inputs = SafeTensorsFile.Open(Path.Combine(FixtureDir, "inputs.safetensors"));
        using var outputs = SafeTensorsFile.Open(Path.Combine(FixtureDir, "outputs.safetensors"));
        using var noGrad = no_grad();
        var sample = model.forward(inputs.Read("hidden_states"), inputs.Read("encoder_hidden_states"), inputs.Read("pooled_projections"),
            inputs.Read("timestep"), inputs.Read("img_ids"), inputs.Read("txt_ids"), inputs.Read("guidance"));
        var reference = outputs.Read("sample");
        var maxDiff = (sample - reference).abs().max().item<float>();
        var tolerance = FixtureAssert.ModelTolerance * Math.Max(1, reference.abs().max().item<float>());
        Assert.True(maxDiff <= tolerance, $"max|diff| {maxDiff:E3} > {tolerance:E3}");
    }

    [Fact]
    public void OriginalLayoutLoadsAndReproducesTheDiffusersOutput()
    {
        var path = WriteOriginal();
        using var checkpoint = Checkpoint.Open(path);
        Assert.True(FluxOriginalCheckpoint.IsOriginalLayout(checkpoint));
        var inferred = FluxOriginalCheckpoint.InferConfig(checkpoint, FixtureAxes);
        var expected = FluxTransformerConfig.Load(Path.Combine(FixtureDir, "config.json"));
        Assert.Equal(expected with { AxesDimsRope = null }, inferred with { AxesDimsRope = null });
        Assert.Equal(expected.RopeAxes, inferred.RopeAxes);

        using var model = FluxTransformer.FromPretrained(path, axesDimsRope: FixtureAxes);
        AssertMatchesReference(model);
    }

    [Fact]
    public void ComfyUiPrefixedFileLoadsAndIgnoresOtherModelsInIt()
    {
        // An all-in-one ComfyUI file also holds the VAE and text encoders under other prefixes.
        var path = WriteOriginal(FluxOriginalCheckpoint.ComfyPrefix, otherModels: new() { ["first_stage_model.decoder.conv_in.bias"] = zeros(2) });
        using var model = FluxTransformer.FromPretrained(path, axesDimsRope: FixtureAxes);
        AssertMatchesReference(model);
    }

    [Fact]
    public void DiffusersFolderLoadsByName()
    {
        var folder = TestPaths.NewTempDirectory("flux-diffusers");
        File.Copy(Path.Combine(FixtureDir, "config.json"), Path.Combine(folder, "config.json"));
        File.Copy(Path.Combine(FixtureDir, "model.safetensors"), Path.Combine(folder, "diffusion_pytorch_model.safetensors"));
        using var model = FluxTransformer.FromPretrained(folder);
        AssertMatchesReference(model);
    }

    [Fact]
    public void MissingOrWrongTensorsAreNamed()
    {
        var missing = WriteOriginal(edit: o => o.Remove("single_blocks.1.linear1.weight"));
        var error = Assert.Throws<CheckpointLoadException>(() => FluxTransformer.FromPretrained(missing, axesDimsRope: FixtureAxes));
        Assert.Contains("single_blocks.1.linear1.weight", error.Message);

        var truncated = WriteOriginal(edit: o => o["double_blocks.0.img_attn.qkv.weight"] = o["double_blocks.0.img_attn.qkv.weight"].narrow(0, 0, 64));
        error = Assert.Throws<CheckpointLoadException>(() => FluxTransformer.FromPretrained(truncated, axesDimsRope: FixtureAxes));
        Assert.Contains("double_blocks.0.img_attn.qkv.weight", error.Message);

        var noAxes = Assert.Throws<ArgumentException>(() => FluxTransformer.FromPretrained(WriteOriginal()));
        Assert.Contains("axes_dims_rope", noAxes.Message);
    }
}
