using System.Text.Json.Nodes;
using Studio.Ml.Distillation;
using Studio.Ml.Models.Clip;
using Studio.Ml.Models.Common;
using Studio.Ml.Models.Sd3;
using Studio.Ml.Models.T5;
using Studio.Ml.Text;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Diffusion;

/// <summary>
/// A Stable Diffusion 3 pipeline of tiny random components saved in the real diffusers layout: CLIP-L and CLIP-G with
/// projections (CLIP-G's tokenizer pads with "!", as SD3's does), a T5 as wide as the transformer's joint attention, the
/// vae_decoder golden's VAE with SD3's latent scale and shift; the same pipeline without `text_encoder_3/`; a student.
/// </summary>
public sealed class TinySd3PipelineFolder : IDisposable
{
    public const int JointWidth = 96;
    public string Folder { get; } = TestPaths.NewTempDirectory("tiny-sd3");
    public string FolderWithoutT5 { get; } = TestPaths.NewTempDirectory("tiny-sd3-no-t5");
    public string StudentDistillT5 { get; } = TestPaths.NewTempDirectory("tiny-sd3-student");

    public TinySd3PipelineFolder()
    {
        TorchRuntime.Initialise();
        manual_seed(0);
        foreach (var folder in new[] { Folder, FolderWithoutT5 })
            WriteWithoutT5(new PipelineFolderWriter(folder));

        var write = new PipelineFolderWriter(Folder);
        var t5Config = TinyFluxPipelineFolder.T5Json(dModel: JointWidth);
        write.Json("text_encoder_3/config.json", t5Config);
        using (var t5 = T5Encoder.Create(T5Config.From(new ModelConfig(t5Config, "tiny t5"))))
        {
            t5.InitialiseLikeTransformers();
            write.Module(t5, "text_encoder_3/model.safetensors");
        }
        write.Directory(TextTokenizer.BuiltInFolder("t5"), "tokenizer_3");

        using var student = StudentEncoder.Create(T5Config.From(new ModelConfig(TinyFluxPipelineFolder.T5Json(dModel: 16), "tiny student")), JointWidth, 0.1, seed: 2);
        student.ExportDistillT5(StudentDistillT5, ScalarType.Float32);
    }

    static void WriteWithoutT5(PipelineFolderWriter write)
    {
        manual_seed(0); // both folders get the same CLIP and transformer weights
        write.Json("model_index.json", new JsonObject { ["_class_name"] = "StableDiffusion3Pipeline", ["_diffusers_version"] = "0.31.0" });
        var transformerConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixture("sd3_transformer"), "config.json")))!.AsObject();
        transformerConfig["in_channels"] = 16;
        transformerConfig["out_channels"] = 16;
        transformerConfig["joint_attention_dim"] = JointWidth;
        transformerConfig["pooled_projection_dim"] = 48;
        write.Json("transformer/config.json", transformerConfig);
        using (var transformer = new Sd3Transformer(Sd3TransformerConfig.Parse(new ModelConfig(transformerConfig, "tiny sd3"))))
            write.Module(transformer, "transformer/diffusion_pytorch_model.safetensors");

        var vaeConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixture("vae_decoder"), "config.json")))!.AsObject();
        vaeConfig["scaling_factor"] = 1.5305;
        vaeConfig["shift_factor"] = 0.0609;
        write.Json("vae/config.json", vaeConfig);
        write.Fixture("vae_decoder", "model.safetensors", "vae/diffusion_pytorch_model.safetensors");
        write.Json("scheduler/scheduler_config.json", new JsonObject
        {
            ["_class_name"] = "FlowMatchEulerDiscreteScheduler", ["num_train_timesteps"] = 1000, ["shift"] = 3.0,
        });

        foreach (var (part, tokenizer) in new[] { ("text_encoder", "tokenizer"), ("text_encoder_2", "tokenizer_2") })
        {
            var clipConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixture("clip_text_projection"), "config.json")))!.AsObject();
            clipConfig["vocab_size"] = 49408; // the real CLIP tokenizer's ids
            clipConfig["bos_token_id"] = 49406;
            clipConfig["eos_token_id"] = 49407;
            clipConfig["pad_token_id"] = 49407;
            write.Json($"{part}/config.json", clipConfig);
            using (var clip = new ClipTextEncoder(ClipTextConfig.From(new ModelConfig(clipConfig, "tiny clip"))))
                write.Module(clip, $"{part}/model.safetensors");
            write.Directory(TextTokenizer.BuiltInFolder("clip"), tokenizer);
        }
        File.WriteAllText(Path.Combine(write.Folder, "tokenizer_2", "special_tokens_map.json"),
            """{"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "!", "unk_token": "<|endoftext|>"}""");
    }

    public void Dispose()
    {
        foreach (var dir in new[] { Folder, FolderWithoutT5, StudentDistillT5 })
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
    }
}
