using System.Text.Json.Nodes;
using Studio.Ml.Distillation;
using Studio.Ml.Models.Clip;
using Studio.Ml.Models.Common;
using Studio.Ml.Models.Flux;
using Studio.Ml.Models.T5;
using Studio.Ml.Tensors;
using Studio.Ml.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Diffusion;

/// <summary>
/// A FLUX pipeline assembled from tiny random components saved in the real diffusers folder layout (the tokenizers are
/// the real CLIP and T5 ones, the VAE is the vae_decoder golden's), with T5 or a student in the T5 slot.
/// </summary>
public sealed class TinyFluxPipelineFolder : IDisposable
{
    public string Folder { get; } = TestPaths.NewTempDirectory("tiny-flux");
    public string StudentDistillT5 { get; }
    public string StudentT5WithProjection { get; }

    PipelineFolderWriter Write => new(Folder);

    public TinyFluxPipelineFolder()
    {
        TorchRuntime.Initialise();
        manual_seed(0);
        Write.Json("model_index.json", new JsonObject { ["_class_name"] = "FluxPipeline", ["_diffusers_version"] = "0.31.0" });

        var transformerConfig = new JsonObject
        {
            ["_class_name"] = "FluxTransformer2DModel", ["patch_size"] = 1, ["in_channels"] = 64, ["num_layers"] = 1,
            ["num_single_layers"] = 1, ["attention_head_dim"] = 16, ["num_attention_heads"] = 2, ["joint_attention_dim"] = 64,
            ["pooled_projection_dim"] = 32, ["guidance_embeds"] = true, ["axes_dims_rope"] = new JsonArray(4, 6, 6),
        };
        Write.Json("transformer/config.json", transformerConfig);
        using (var transformer = new FluxTransformer(FluxTransformerConfig.From(new ModelConfig(transformerConfig, "tiny transformer"))))
            Write.Module(transformer, "transformer/diffusion_pytorch_model.safetensors");

        Write.Fixture("vae_decoder", "config.json", "vae/config.json");
        Write.Fixture("vae_decoder", "model.safetensors", "vae/diffusion_pytorch_model.safetensors");
        Write.Fixture("flow_match_scheduler", "config.json", "scheduler/scheduler_config.json");

        var clipConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixture("clip_text"), "config.json")))!.AsObject();
        clipConfig["vocab_size"] = 49408; // the real CLIP tokenizer's ids
        Write.Json("text_encoder/config.json", clipConfig);
        using (var clip = new ClipTextEncoder(ClipTextConfig.From(new ModelConfig(clipConfig, "tiny clip"))))
            Write.Module(clip, "text_encoder/model.safetensors");

        var t5Config = T5Json(dModel: 64);
        Write.Json("text_encoder_2/config.json", t5Config);
        using (var t5 = T5Encoder.Create(T5Config.From(new ModelConfig(t5Config, "tiny t5"))))
        {
            t5.InitialiseLikeTransformers();
            Write.Module(t5, "text_encoder_2/model.safetensors");
        }
        Write.Directory(TextTokenizer.BuiltInFolder("clip"), "tokenizer");
        Write.Directory(TextTokenizer.BuiltInFolder("t5"), "tokenizer_2");

        // A student (d_model 16) projecting to the transformer's 64, exported in both layouts the T5 slot accepts.
        using var student = StudentEncoder.Create(T5Config.From(new ModelConfig(T5Json(dModel: 16), "tiny student")), 64, 0.1, seed: 1);
        StudentDistillT5 = TestPaths.NewTempDirectory("tiny-distillt5");
        student.ExportDistillT5(StudentDistillT5, ScalarType.Float32);
        StudentT5WithProjection = TestPaths.NewTempDirectory("tiny-student-t5");
        student.ExportT5(StudentT5WithProjection, ScalarType.Float32);
    }

    internal static JsonObject T5Json(int dModel) => new()
    {
        ["model_type"] = "t5", ["vocab_size"] = 32128, ["d_model"] = dModel, ["d_kv"] = 8, ["num_heads"] = 2, ["d_ff"] = 32,
        ["num_layers"] = 2, ["relative_attention_num_buckets"] = 32, ["relative_attention_max_distance"] = 128,
        ["layer_norm_epsilon"] = 1e-6, ["dropout_rate"] = 0.0, ["feed_forward_proj"] = "gated-gelu",
        ["architectures"] = new JsonArray("T5EncoderModel"),
    };

    public void Dispose()
    {
        foreach (var dir in new[] { Folder, StudentDistillT5, StudentT5WithProjection })
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
    }
}
