using SkiaSharp;
using Studio.Ml.Diffusion;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Diffusion;

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
    public void FreeingTheTextEncodersAfterEncodingReleasesThemAndChangesNoPixel()
    {
        using var kept = FluxPipeline.Load(tiny.Folder);
        using var freeing = FluxPipeline.Load(tiny.Folder, freeTextEncoders: true);
        var (clipWeight, t5Weight) = (freeing.Clip.parameters().First(), freeing.T5.Module.parameters().First());
        // True CFG encodes twice per call (prompt and negative prompt): both encodings happen before the encoders go.
        var request = Request(42) with { TrueCfgScale = 2, NegativePrompt = "" };
        using var reference = kept.Generate(request);
        using var first = freeing.Generate(request);

        Assert.True(kept.TextEncodersLoaded);
        Assert.False(freeing.TextEncodersLoaded);
        Assert.True(clipWeight.IsInvalid && t5Weight.IsInvalid, "the freed encoders' weights are still allocated");
        // The next call loads them again and gives the same pictures.
        using var second = freeing.Generate(request);
        for (int i = 0; i < Prompts.Length; i++)
        {
            Assert.Equal(reference.Png(i), first.Png(i));
            Assert.Equal(reference.Png(i), second.Png(i));
        }
        Assert.True(reference.Images.equal(first.Images).all().item<bool>(), "freeing the encoders changed a pixel");
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
    public void TrueCfgStepsAlongNegativePlusScaleTimesTheDifference()
    {
        using var pipeline = FluxPipeline.Load(tiny.Folder);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var positive = pipeline.EncodePrompts(Prompts, 32);
        using var negative = pipeline.EncodePrompts(["", ""], 32);
        var denoiser = new FluxDenoiser(pipeline.Transformer, pipeline.Scheduler);
        var (h, w) = FluxDenoiser.LatentSize(12, 16, pipeline.Vae.Config.DownscaleFactor);
        var start = denoiser.InitialLatents(2, h, w, new Generator(5, CPU));
        var schedule = denoiser.Schedule(1, h, w);

        // One Euler step is linear in the velocity: x + dt (n + 3 (p - n)) = 3 (x + dt p) - 2 (x + dt n).
        var alongPositive = denoiser.Denoise(start, h, w, schedule, positive, 3.5);
        var alongNegative = denoiser.Denoise(start, h, w, schedule, negative, 3.5);
        var guided = denoiser.Denoise(start, h, w, schedule, positive, 3.5, trueCfg: (negative, 3.0));
        var expected = 3 * alongPositive - 2 * alongNegative;
        Assert.True(guided.allclose(expected, rtol: 1e-4, atol: 1e-5), $"max diff {(guided - expected).abs().max().item<float>()}");

        // Through the pipeline: scale 1 or no negative prompt is plain sampling; a negative prompt equal to the prompt
        // changes nothing at any scale.
        var request = Request(11) with { Prompts = [Prompts[0]] };
        using var plain = pipeline.Generate(request);
        using var scaleOne = pipeline.Generate(request with { TrueCfgScale = 1.0, NegativePrompt = "" });
        using var samePrompt = pipeline.Generate(request with { TrueCfgScale = 4.0, NegativePrompt = Prompts[0] });
        using var emptyNegative = pipeline.Generate(request with { TrueCfgScale = 4.0, NegativePrompt = "" });
        Assert.True(plain.Images.equal(scaleOne.Images).all().item<bool>());
        Assert.True(plain.Images.allclose(samePrompt.Images, atol: 1e-6), "a negative prompt equal to the prompt changed the image");
        Assert.False(plain.Images.allclose(emptyNegative.Images, atol: 1e-3), "true CFG against the empty prompt changed nothing");
    }

    [Fact]
    public void AStudentInTheT5SlotAlsoEncodesTheNegativePrompt()
    {
        using var pipeline = FluxPipeline.Load(tiny.Folder);
        using var student = T5SlotEncoder.Load(tiny.StudentDistillT5);
        var request = Request(11) with { Prompts = [Prompts[0]] };
        using var plain = pipeline.Generate(request, textEncoder2: student);
        // The negative prompt equal to the prompt cancels out only if both go through the student: the teacher's T5 on
        // the negative side would pull the image away at scale 4.
        using var samePrompt = pipeline.Generate(request with { TrueCfgScale = 4.0, NegativePrompt = Prompts[0] }, textEncoder2: student);
        Assert.True(plain.Images.allclose(samePrompt.Images, atol: 1e-6), "the negative prompt was not encoded by the student in the T5 slot");
        using var teacher = pipeline.Generate(request);
        Assert.False(plain.Images.allclose(teacher.Images, atol: 1e-3), "the student and the teacher's T5 gave the same image");
    }

    [Fact]
    public void BadInputsAreRefusedWithTheReason()
    {
        using var pipeline = FluxPipeline.Load(tiny.Folder);
        var size = Assert.Throws<ArgumentException>(() => pipeline.Generate(Request(1) with { Width = 10 }));
        Assert.Contains("multiples of 4", size.Message);
        // The student's T5 without its projection gives 16-wide states, not the transformer's 64: its config says so
        // before any weights load.
        var bare = TestPaths.NewTempDirectory("bare-student");
        foreach (var file in new[] { "config.json", "model.safetensors" })
            File.Copy(Path.Combine(tiny.StudentT5WithProjection, file), Path.Combine(bare, file));
        var width = Assert.Throws<InvalidDataException>(() => FluxPipeline.Load(tiny.Folder, textEncoder2: bare));
        Assert.Contains("'joint_attention_dim' is 64", width.Message);
        Assert.Contains($"{bare}/config.json) has d_model 16", width.Message);
    }
}
