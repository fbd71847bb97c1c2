using System.Text.Json.Nodes;
using SkiaSharp;
using Studio.Ml.Diffusion;
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

    public TinyFluxPipelineFolder()
    {
        TorchRuntime.Initialise();
        manual_seed(0);
        WriteJson("model_index.json", new JsonObject { ["_class_name"] = "FluxPipeline", ["_diffusers_version"] = "0.31.0" });

        var transformerConfig = new JsonObject
        {
            ["_class_name"] = "FluxTransformer2DModel", ["patch_size"] = 1, ["in_channels"] = 64, ["num_layers"] = 1,
            ["num_single_layers"] = 1, ["attention_head_dim"] = 16, ["num_attention_heads"] = 2, ["joint_attention_dim"] = 64,
            ["pooled_projection_dim"] = 32, ["guidance_embeds"] = true, ["axes_dims_rope"] = new JsonArray(4, 6, 6),
        };
        WriteJson("transformer/config.json", transformerConfig);
        using (var transformer = new FluxTransformer(FluxTransformerConfig.From(new ModelConfig(transformerConfig, "tiny transformer"))))
            Save(transformer, "transformer/diffusion_pytorch_model.safetensors");

        CopyFixture("vae_decoder", "config.json", "vae/config.json");
        CopyFixture("vae_decoder", "model.safetensors", "vae/diffusion_pytorch_model.safetensors");
        CopyFixture("flow_match_scheduler", "config.json", "scheduler/scheduler_config.json");

        var clipConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixture("clip_text"), "config.json")))!.AsObject();
        clipConfig["vocab_size"] = 49408; // the real CLIP tokenizer's ids
        WriteJson("text_encoder/config.json", clipConfig);
        using (var clip = new ClipTextEncoder(ClipTextConfig.From(new ModelConfig(clipConfig, "tiny clip"))))
            Save(clip, "text_encoder/model.safetensors");

        var t5Config = T5Json(dModel: 64);
        WriteJson("text_encoder_2/config.json", t5Config);
        using (var t5 = T5Encoder.Create(T5Config.From(new ModelConfig(t5Config, "tiny t5"))))
        {
            t5.InitialiseLikeTransformers();
            Save(t5, "text_encoder_2/model.safetensors");
        }
        CopyDirectory(TextTokenizer.BuiltInFolder("clip"), Path.Combine(Folder, "tokenizer"));
        CopyDirectory(TextTokenizer.BuiltInFolder("t5"), Path.Combine(Folder, "tokenizer_2"));

        // A student (d_model 16) projecting to the transformer's 64, exported in both layouts the T5 slot accepts.
        using var student = StudentEncoder.Create(T5Config.From(new ModelConfig(T5Json(dModel: 16), "tiny student")), 64, 0.1, seed: 1);
        StudentDistillT5 = TestPaths.NewTempDirectory("tiny-distillt5");
        student.ExportDistillT5(StudentDistillT5, ScalarType.Float32);
        StudentT5WithProjection = TestPaths.NewTempDirectory("tiny-student-t5");
        student.ExportT5(StudentT5WithProjection, ScalarType.Float32);
    }

    static JsonObject T5Json(int dModel) => new()
    {
        ["model_type"] = "t5", ["vocab_size"] = 32128, ["d_model"] = dModel, ["d_kv"] = 8, ["num_heads"] = 2, ["d_ff"] = 32,
        ["num_layers"] = 2, ["relative_attention_num_buckets"] = 32, ["relative_attention_max_distance"] = 128,
        ["layer_norm_epsilon"] = 1e-6, ["dropout_rate"] = 0.0, ["feed_forward_proj"] = "gated-gelu",
        ["architectures"] = new JsonArray("T5EncoderModel"),
    };

    void WriteJson(string relative, JsonObject json)
    {
        var path = Path.Combine(Folder, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, json.ToJsonString());
    }

    void Save(nn.Module module, string relative) =>
        SafeTensorsWriter.Save(Path.Combine(Folder, relative), module.state_dict().Select(p => new KeyValuePair<string, Tensor>(p.Key, p.Value)));

    void CopyFixture(string fixture, string file, string relative)
    {
        var path = Path.Combine(Folder, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.Copy(Path.Combine(TestPaths.Fixture(fixture), file), path);
    }

    static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
    }

    public void Dispose()
    {
        foreach (var dir in new[] { Folder, StudentDistillT5, StudentT5WithProjection })
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
    }
}

public class FluxPipelineTests(TinyFluxPipelineFolder tiny) : IClassFixture<TinyFluxPipelineFolder>
{
    static readonly string[] Prompts = ["a red circle above a blue square", "a sign reading 'hello'"];

    static FluxRequest Request(long seed) => new(Prompts, seed, Steps: 3, Guidance: 3.5, Width: 16, Height: 12, MaxSequenceLength: 32);

    [Fact]
    public void SameSeedGivesTheSamePngsAndAnotherSeedOthers()
    {
        using var pipeline = FluxPipeline.Load(tiny.Folder);
        using var first = pipeline.Generate(Request(42));
        using var again = pipeline.Generate(Request(42));
        using var other = pipeline.Generate(Request(43));
        Assert.Equal([2L, 3, 12, 16], first.Images.shape);
        Assert.Equal(["encode prompts", "denoise", "decode"], first.Timings.Select(t => t.Stage));
        for (int i = 0; i < Prompts.Length; i++)
        {
            Assert.Equal(first.Png(i), again.Png(i));
            Assert.NotEqual(first.Png(i), other.Png(i));
            using var decoded = SKBitmap.Decode(first.Png(i));
            Assert.Equal((16, 12), (decoded.Width, decoded.Height));
        }
        Assert.False(first.Images[0].equal(first.Images[1]).all().item<bool>(), "the two prompts gave the same image");
    }

    [Fact]
    public void AStudentFillsTheT5SlotInEitherExportLayout()
    {
        using var distillT5 = FluxPipeline.Load(tiny.Folder, textEncoder2: tiny.StudentDistillT5);
        using var t5WithProjection = FluxPipeline.Load(tiny.Folder, textEncoder2: tiny.StudentT5WithProjection);
        using var teacher = FluxPipeline.Load(tiny.Folder);
        Assert.Equal("DistillT5", distillT5.T5.Description);
        Assert.Equal("student T5 + projection", t5WithProjection.T5.Description);
        Assert.Equal("T5EncoderModel", teacher.T5.Description);

        using var a = distillT5.Generate(Request(7));
        using var b = t5WithProjection.Generate(Request(7));
        using var c = teacher.Generate(Request(7));
        // The same student weights in either layout give the same images; the teacher's T5 gives others.
        Assert.True(a.Images.equal(b.Images).all().item<bool>(), "the two layouts of one student disagree");
        Assert.False(a.Images.equal(c.Images).all().item<bool>(), "the student and the teacher T5 gave the same images");
        using var again = distillT5.Generate(Request(7));
        Assert.Equal(a.Png(0), again.Png(0));
    }

    [Fact]
    public void DenoiseIsTheStepByStepEulerLoopOverTheTransformer()
    {
        using var pipeline = FluxPipeline.Load(tiny.Folder);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var conditioning = pipeline.EncodePrompts(Prompts, 32);
        var denoiser = new FluxDenoiser(pipeline.Transformer, pipeline.Scheduler);
        var (h, w) = FluxDenoiser.LatentSize(12, 16, pipeline.Vae.Config.DownscaleFactor);
        Assert.Equal((6, 8), (h, w));
        var start = denoiser.InitialLatents(2, h, w, new Generator(5, CPU));
        Assert.Equal([2L, 12, 64], start.shape);
        var schedule = denoiser.Schedule(4, h, w);
        var result = denoiser.Denoise(start, h, w, schedule, conditioning, 2.5);

        // Written out here: ids from the grid, t/1000 per sample, guidance per sample, x += (sigma_next - sigma) * v.
        var x = start.clone();
        var imgIds = stack([zeros(12), arange(12).div(4, RoundingMode.floor), arange(12).remainder(4)], 1).to_type(ScalarType.Float32);
        var txtIds = zeros(32, 3);
        for (int i = 0; i < 4; i++)
        {
            var t = full(2, schedule.Timesteps[i] / 1000f);
            var v = pipeline.Transformer.forward(x, conditioning.PromptEmbeds, conditioning.PooledPromptEmbeds, t, imgIds, txtIds, full(2, 2.5f));
            x = x + (schedule.Sigmas[i + 1] - schedule.Sigmas[i]) * v;
        }
        Assert.True(result.allclose(x, rtol: 1e-5, atol: 1e-6), $"max diff {(result - x).abs().max().item<float>()}");
    }

    [Fact]
    public void BadInputsAreRefusedWithTheReason()
    {
        using var pipeline = FluxPipeline.Load(tiny.Folder);
        var size = Assert.Throws<ArgumentException>(() => pipeline.Generate(Request(1) with { Width = 10 }));
        Assert.Contains("multiples of 4", size.Message);
        // The student's T5 without its projection gives 16-wide states, not the transformer's 64.
        var bare = TestPaths.NewTempDirectory("bare-student");
        foreach (var file in new[] { "config.json", "model.safetensors" })
            File.Copy(Path.Combine(tiny.StudentT5WithProjection, file), Path.Combine(bare, file));
        var width = Assert.Throws<InvalidDataException>(() => FluxPipeline.Load(tiny.Folder, textEncoder2: bare));
        Assert.Contains("width 16", width.Message);
    }
}
