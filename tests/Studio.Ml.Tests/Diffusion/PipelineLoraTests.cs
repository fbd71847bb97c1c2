using Studio.Ml.Diffusion;
using Studio.Ml.Models.Common;
using Studio.Ml.Tensors;
using TorchSharp;
using static Studio.Ml.Tests.Models.LoraWeightsTests;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Diffusion;

/// <summary>
/// A LoRA that trained CLIP as well as the transformer (kohya's lora_te1_ and diffusers' text_encoder. layers) merged into
/// a pipeline: each part gains its layers by the formula, the images change, and everything is given back.
/// </summary>
public class PipelineLoraTests
{
    const string QProj = "text_model.encoder.layers.0.self_attn.q_proj.weight", Fc1 = "text_model.encoder.layers.0.mlp.fc1.weight",
        ToQ = "transformer_blocks.0.attn.to_q.weight";

    static Dictionary<string, Tensor> Weights(ISlotPipeline pipeline, string part) =>
        pipeline.WeightedParts.Single(p => p.Part == part).Module.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);

    static Tensor Draw(ISlotPipeline pipeline)
    {
        using var images = pipeline.Draw(new SlotRequest(["a red circle"], Seed: 3, Steps: 2, Guidance: 3.5, Width: 16, Height: 16, MaxSequenceLength: 16));
        return images.Images.detach().clone();
    }

    [Fact]
    public void ClipLayersInKohyasAndDiffusersNamesMergeBesideTheTransformersAndAreGivenBack()
    {
        using var tiny = new TinyFluxPipelineFolder();
        using var pipeline = FluxPipeline.Load(tiny.Folder);
        var clip = Weights(pipeline, "text_encoder");
        var transformer = Weights(pipeline, "transformer");
        var (hidden, inner, width) = (clip[QProj].shape[0], clip[Fc1].shape[0], transformer[ToQ].shape[0]);
        manual_seed(11);
        var qDown = randn(2, hidden); var qUp = randn(hidden, 2); // alpha 1, rank 2: x 0.5
        var fDown = randn(1, hidden); var fUp = randn(inner, 1);
        var tDown = randn(1, width); var tUp = randn(width, 1);
        var path = Path.Combine(TestPaths.NewTempDirectory("clip-lora"), "style.safetensors");
        SafeTensorsWriter.Save(path, new Dictionary<string, Tensor>
        {
            ["lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight"] = qDown,
            ["lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight"] = qUp,
            ["lora_te1_text_model_encoder_layers_0_self_attn_q_proj.alpha"] = tensor(1.0f),
            ["text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_A.weight"] = fDown,
            ["text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_B.weight"] = fUp,
            ["transformer.transformer_blocks.0.attn.to_q.lora_A.weight"] = tDown,
            ["transformer.transformer_blocks.0.attn.to_q.lora_B.weight"] = tUp,
        });
        using var lora = LoraWeights.Load(path);
        Assert.Equal([("text_encoder", "text_model.encoder.layers.0.mlp.fc1", LoraLayout.TextEncoder),
                ("text_encoder", "text_model_encoder_layers_0_self_attn_q_proj", LoraLayout.TextEncoderKohya),
                ("transformer", "transformer_blocks.0.attn.to_q", LoraLayout.Diffusers)],
            lora.Layers.Select(l => (l.Part, l.Module, l.Layout)));
        // Checked from the headers against every part's shapes, as a request is before it is queued.
        LoraWeights.CheckFits(path, new Dictionary<string, IReadOnlyDictionary<string, long[]>>
        {
            ["transformer"] = transformer.ToDictionary(p => p.Key, p => p.Value.shape), ["text_encoder"] = clip.ToDictionary(p => p.Key, p => p.Value.shape),
        }, pipeline.Transformer.Config);

        var before = clip.Concat(transformer).ToDictionary(p => p.Key, p => p.Value.detach().clone());
        var image = Draw(pipeline);
        Tensor merged;
        using (pipeline.MergeLora(lora, 2))
        {
            // By hand in float64: W + 2 x alpha / rank x B @ A.
            static Tensor F64(Tensor t) => t.to_type(ScalarType.Float64);
            Assert.True(F64(clip[QProj]).allclose(F64(before[QProj]) + 2 * 0.5 * F64(qUp).matmul(F64(qDown)), rtol: 1e-5, atol: 1e-5));
            Assert.True(F64(clip[Fc1]).allclose(F64(before[Fc1]) + 2 * F64(fUp).matmul(F64(fDown)), rtol: 1e-5, atol: 1e-5));
            Assert.True(F64(transformer[ToQ]).allclose(F64(before[ToQ]) + 2 * F64(tUp).matmul(F64(tDown)), rtol: 1e-5, atol: 1e-5));
            foreach (var (name, value) in clip.Concat(transformer).Where(p => p.Key is not (QProj or Fc1 or ToQ)))
                Assert.True(Same(value, before[name]), name);
            merged = Draw(pipeline);
            Assert.False(Same(merged, image));
        }
        foreach (var (name, value) in clip.Concat(transformer)) Assert.True(Same(value, before[name]), $"{name} was not given back");
        Assert.True(Same(Draw(pipeline), image));

        // CLIP's layers alone change the image too: the pipeline encodes with the CLIP they were merged into.
        var clipOnly = Path.Combine(Path.GetDirectoryName(path)!, "clip-only.safetensors");
        SafeTensorsWriter.Save(clipOnly, new Dictionary<string, Tensor> { ["text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_A.weight"] = fDown, ["text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_B.weight"] = fUp });
        using (var clipLora = LoraWeights.Load(clipOnly))
        using (pipeline.MergeLora(clipLora, 4))
            Assert.False(Same(Draw(pipeline), image));

        // Merged into the transformer alone, the CLIP layers have nowhere to go: refused, nothing changed.
        var alone = Assert.Throws<InvalidDataException>(() => lora.MergeInto(pipeline.Transformer, 1));
        Assert.Contains($"{path}: layer 'text_model.encoder.layers.0.mlp.fc1' adapts 'text_encoder', which this pipeline does not have", alone.Message);

        // A pipeline that frees its text encoders after encoding merges CLIP's layers again each time it loads CLIP back,
        // and loads it without them once the merge is given back.
        using var freeing = FluxPipeline.Load(tiny.Folder, freeTextEncoders: true);
        using (freeing.MergeLora(lora, 2))
        {
            Assert.True(Same(Draw(freeing), merged));
            Assert.False(freeing.TextEncodersLoaded);
            Assert.True(Same(Draw(freeing), merged), "CLIP loaded again lost the LoRA");
            Assert.False(freeing.TextEncodersLoaded);
        }
        Assert.True(Same(Draw(freeing), image));
        foreach (var (name, value) in Weights(freeing, "text_encoder").Concat(Weights(freeing, "transformer")))
            Assert.True(Same(value, before[name]), $"{name} of the freeing pipeline was not given back");
        // Given back while CLIP is in memory (loaded by the merge, never drawn with): CLIP's weights come back too.
        var loadedClip = Weights(freeing, "text_encoder");
        using (freeing.MergeLora(lora, 2)) Assert.False(Same(loadedClip[QProj], before[QProj]));
        Assert.True(freeing.TextEncodersLoaded);
        foreach (var (name, value) in loadedClip) Assert.True(Same(value, before[name]), $"{name} of the loaded CLIP was not given back");
    }

    [Fact]
    public void AClipLayerOfAnotherShapeOrNameIsRefusedNamingTheTextEncoder()
    {
        using var tiny = new TinyFluxPipelineFolder();
        using var pipeline = FluxPipeline.Load(tiny.Folder);
        var shapes = Weights(pipeline, "text_encoder").ToDictionary(p => p.Key, p => p.Value.shape);
        var hidden = shapes[QProj][0];
        var folder = TestPaths.NewTempDirectory("clip-lora");
        var wide = Path.Combine(folder, "wide.safetensors");
        SafeTensorsWriter.Save(wide, new Dictionary<string, Tensor>
        {
            ["lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight"] = zeros(1, hidden * 2),
            ["lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight"] = zeros(hidden, 1),
        });
        var byParts = new Dictionary<string, IReadOnlyDictionary<string, long[]>> { ["text_encoder"] = shapes };
        Assert.Contains($"layer 'text_model_encoder_layers_0_self_attn_q_proj' is [[{hidden}, {hidden}]] in the text encoder 'text_encoder', the LoRA makes [{hidden}, {hidden * 2}]",
            Assert.Throws<InvalidDataException>(() => LoraWeights.CheckFits(wide, byParts, null)).Message);
        var deep = Path.Combine(folder, "deep.safetensors");
        SafeTensorsWriter.Save(deep, new Dictionary<string, Tensor>
        {
            ["text_encoder.text_model.encoder.layers.7.mlp.fc1.lora_A.weight"] = zeros(1, hidden),
            ["text_encoder.text_model.encoder.layers.7.mlp.fc1.lora_B.weight"] = zeros(4, 1),
        });
        using var lora = LoraWeights.Load(deep);
        Assert.Contains("the text encoder 'text_encoder' has no layer 'text_model.encoder.layers.7.mlp.fc1'",
            Assert.Throws<InvalidDataException>(() => pipeline.MergeLora(lora, 1)).Message);
        // Beside a transformer layer that fits, on a pipeline that frees CLIP too: refused, the transformer given back.
        var width = Weights(pipeline, "transformer")[ToQ].shape[0];
        var mixed = Path.Combine(folder, "mixed.safetensors");
        SafeTensorsWriter.Save(mixed, new Dictionary<string, Tensor>
        {
            ["text_encoder.text_model.encoder.layers.7.mlp.fc1.lora_A.weight"] = zeros(1, hidden),
            ["text_encoder.text_model.encoder.layers.7.mlp.fc1.lora_B.weight"] = zeros(4, 1),
            ["transformer.transformer_blocks.0.attn.to_q.lora_A.weight"] = ones(1, width),
            ["transformer.transformer_blocks.0.attn.to_q.lora_B.weight"] = ones(width, 1),
        });
        using var mixedLora = LoraWeights.Load(mixed);
        var clean = Draw(pipeline);
        foreach (var target in new[] { pipeline, FluxPipeline.Load(tiny.Folder, freeTextEncoders: true) })
        {
            var toQ = Weights(target, "transformer")[ToQ];
            var toQBefore = toQ.detach().clone();
            Assert.Contains("has no layer 'text_model.encoder.layers.7.mlp.fc1'", Assert.Throws<InvalidDataException>(() => target.MergeLora(mixedLora, 1)).Message);
            Assert.True(Same(toQ, toQBefore));
            // Drawn twice (a freeing pipeline loads CLIP again in between): nothing of the refused LoRA is left to merge.
            Assert.True(Same(Draw(target), clean));
            Assert.True(Same(Draw(target), clean));
            if (target != pipeline) target.Dispose();
        }
        // SD3's second CLIP (kohya's lora_te2_) is a part a FLUX pipeline does not have.
        var second = Path.Combine(folder, "second.safetensors");
        SafeTensorsWriter.Save(second, new Dictionary<string, Tensor>
        {
            ["lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight"] = zeros(1, hidden),
            ["lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight"] = zeros(hidden, 1),
        });
        using var clipG = LoraWeights.Load(second);
        Assert.Equal("text_encoder_2", clipG.Layers.Single().Part);
        Assert.Contains($"{second}: layer 'text_model_encoder_layers_0_self_attn_q_proj' adapts 'text_encoder_2', which this pipeline does not have",
            Assert.Throws<InvalidDataException>(() => pipeline.MergeLora(clipG, 1)).Message); // FLUX's text_encoder_2 is T5, never a target

        // The same layer in kohya's names and in diffusers' would be added twice: refused, nothing changed.
        var twice = Path.Combine(folder, "twice.safetensors");
        SafeTensorsWriter.Save(twice, new Dictionary<string, Tensor>
        {
            ["lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight"] = ones(1, hidden),
            ["lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight"] = ones(hidden, 1),
            ["text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight"] = ones(1, hidden),
            ["text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight"] = ones(hidden, 1),
        });
        var q = Weights(pipeline, "text_encoder")[QProj];
        var before = q.detach().clone();
        using var doubled = LoraWeights.Load(twice);
        Assert.Contains($"both adapt '{QProj}' of text_encoder; keep one of them", Assert.Throws<InvalidDataException>(() => pipeline.MergeLora(doubled, 1)).Message);
        Assert.True(Same(q, before));
    }

    [Fact]
    public void AnSd3PipelineThatFreesItsTextEncodersMergesClipGsLayersEachTimeItLoadsThem()
    {
        using var tiny = new TinySd3PipelineFolder();
        using var pipeline = Sd3Pipeline.Load(tiny.Folder);
        var q = Weights(pipeline, "text_encoder_2")[QProj];
        manual_seed(7);
        var path = Path.Combine(TestPaths.NewTempDirectory("clip-g-lora"), "clip-g.safetensors");
        SafeTensorsWriter.Save(path, new Dictionary<string, Tensor>
        {
            ["lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight"] = randn(2, q.shape[1]),
            ["lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight"] = randn(q.shape[0], 2),
        });
        using var lora = LoraWeights.Load(path);
        var image = Draw(pipeline);
        Tensor merged;
        using (pipeline.MergeLora(lora, 1)) merged = Draw(pipeline);
        Assert.False(Same(merged, image));

        using var freeing = Sd3Pipeline.Load(tiny.Folder, freeTextEncoders: true);
        using (freeing.MergeLora(lora, 1))
        {
            Assert.True(Same(Draw(freeing), merged));
            Assert.False(freeing.TextEncodersLoaded);
            Assert.True(Same(Draw(freeing), merged), "CLIP-G loaded again lost the LoRA");
        }
        Assert.True(Same(Draw(freeing), image));
    }
}
