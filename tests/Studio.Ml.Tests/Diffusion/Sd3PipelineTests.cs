using SkiaSharp;
using Studio.Ml.Diffusion;
using Studio.Ml.Models.Clip;
using Studio.Ml.Models.T5;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Diffusion;

public class Sd3PipelineTests(TinySd3PipelineFolder tiny) : IClassFixture<TinySd3PipelineFolder>
{
    static readonly string[] Prompts = ["a red circle above a blue square", "a sign reading 'hello'"];

    static Sd3Request Request(long seed, double guidance = 4.0, IReadOnlyList<string>? negative = null) =>
        new(Prompts, seed, Steps: 3, GuidanceScale: guidance, Width: 16, Height: 16, NegativePrompts: negative, MaxSequenceLength: 24);

    [Fact]
    public void SameSeedGivesTheSamePngsAndAnotherSeedOthers()
    {
        using var pipeline = Sd3Pipeline.Load(tiny.Folder);
        using var first = pipeline.Generate(Request(42));
        using var again = pipeline.Generate(Request(42));
        using var other = pipeline.Generate(Request(43));
        Assert.Equal([2L, 3, 16, 16], first.Images.shape);
        Assert.Equal(["encode prompts", "denoise", "decode"], first.Timings.Select(t => t.Stage));
        for (var i = 0; i < Prompts.Length; i++)
        {
            Assert.Equal(first.Png(i), again.Png(i));
            Assert.NotEqual(first.Png(i), other.Png(i));
            using var decoded = SKBitmap.Decode(first.Png(i));
            Assert.Equal((16, 16), (decoded.Width, decoded.Height));
        }
    }

    [Fact]
    public void FreeingTheTextEncodersAfterEncodingReleasesThemAndChangesNoPixel()
    {
        using var kept = Sd3Pipeline.Load(tiny.Folder);
        using var freeing = Sd3Pipeline.Load(tiny.Folder, freeTextEncoders: true);
        var weights = new[] { freeing.ClipL, freeing.ClipG, freeing.T5!.Module }.Select(m => m.parameters().First()).ToList();
        using var reference = kept.Generate(Request(42));
        using var first = freeing.Generate(Request(42));

        Assert.True(kept.TextEncodersLoaded);
        Assert.False(freeing.TextEncodersLoaded);
        Assert.All(weights, w => Assert.True(w.IsInvalid, "a freed encoder's weights are still allocated"));
        using var second = freeing.Generate(Request(42));
        Assert.True(reference.Images.equal(first.Images).all().item<bool>(), "freeing the encoders changed a pixel");
        Assert.True(reference.Images.equal(second.Images).all().item<bool>(), "the reloaded encoders gave another picture");
    }

    [Fact]
    public void PromptStatesJoinBothClipsPaddedToT5WidthBeforeT5AndPooledJoinsBothProjections()
    {
        using var pipeline = Sd3Pipeline.Load(tiny.Folder);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var conditioning = pipeline.EncodePrompts(Prompts, maxSequenceLength: 24);
        Assert.Equal([2L, 77 + 24, TinySd3PipelineFolder.JointWidth], conditioning.PromptEmbeds.shape);
        Assert.Equal([2L, 48], conditioning.PooledPromptEmbeds.shape);

        // Each part computed on its own, as StableDiffusion3Pipeline.encode_prompt does.
        var (lIds, _) = pipeline.ClipLTokenizer.EncodeBatch(Prompts, 77);
        var (gIds, _) = pipeline.ClipGTokenizer.EncodeBatch(Prompts, 77);
        var (t5Ids, _) = pipeline.T5Tokenizer!.EncodeBatch(Prompts, 24);
        Assert.NotEqual(lIds[0, -1].item<long>(), gIds[0, -1].item<long>()); // CLIP-G pads with "!", CLIP-L with EOS
        var l = pipeline.ClipL.forward(lIds);
        var g = pipeline.ClipG.forward(gIds);
        var embeds = conditioning.PromptEmbeds;
        Assert.True(embeds[.., ..77, ..32].equal(l.PenultimateHiddenState).all().item<bool>());
        Assert.True(embeds[.., ..77, 32..64].equal(g.PenultimateHiddenState).all().item<bool>());
        Assert.Equal(0f, embeds[.., ..77, 64..].abs().max().item<float>());
        Assert.True(embeds[.., 77.., ..].equal(pipeline.T5!.Encode(t5Ids)).all().item<bool>());
        Assert.True(conditioning.PooledPromptEmbeds.equal(cat([l.TextEmbeds!, g.TextEmbeds!], -1)).all().item<bool>());
    }

    [Fact]
    public void WithoutT5TheSlotIsSeventySevenZeroTokens()
    {
        using var pipeline = Sd3Pipeline.Load(tiny.FolderWithoutT5);
        Assert.Null(pipeline.T5);
        using var scope = NewDisposeScope();
        using var conditioning = pipeline.EncodePrompts(Prompts, maxSequenceLength: 24);
        Assert.Equal([2L, 77 + 77, TinySd3PipelineFolder.JointWidth], conditioning.PromptEmbeds.shape);
        Assert.Equal(0f, conditioning.PromptEmbeds[.., 77.., ..].abs().max().item<float>());
        using var images = pipeline.Generate(Request(1));
        Assert.Equal(2, images.Count);
    }

    [Fact]
    public void AStudentFillsTheT5SlotAndTheNegativePromptMatters()
    {
        using var teacher = Sd3Pipeline.Load(tiny.Folder);
        using var student = Sd3Pipeline.Load(tiny.Folder, textEncoder3: tiny.StudentDistillT5);
        Assert.Equal("DistillT5", student.T5!.Description);
        using var a = teacher.Generate(Request(7));
        using var b = student.Generate(Request(7));
        using var again = student.Generate(Request(7));
        Assert.False(a.Images.equal(b.Images).all().item<bool>(), "the student and the teacher T5 gave the same images");
        Assert.Equal(b.Png(1), again.Png(1));

        using var negative = teacher.Generate(Request(7, negative: ["blurry", "blurry"]));
        Assert.False(a.Images.equal(negative.Images).all().item<bool>(), "the negative prompt changed nothing");
        using var unguided = teacher.Generate(Request(7, guidance: 1.0, negative: ["blurry", "blurry"]));
        using var unguidedOtherNegative = teacher.Generate(Request(7, guidance: 1.0));
        Assert.True(unguided.Images.equal(unguidedOtherNegative.Images).all().item<bool>(), "without guidance the negative prompt must not count");
        Assert.Throws<ArgumentException>(() => teacher.Generate(Request(7, negative: ["only one"])));
    }

    [Fact]
    public void AStudentOfTheWrongWidthIsRefusedNamingBoth()
    {
        using var student = NarrowStudent.Export(width: 64);
        var e = Assert.Throws<InvalidDataException>(() => Sd3Pipeline.Load(tiny.Folder, textEncoder3: student.Path));
        Assert.Contains("width 64", e.Message);
        Assert.Contains("joint_attention_dim is 96", e.Message);
    }

    [Fact]
    public void PenultimateClipStatesAreTheInputOfTheLastLayer()
    {
        // A one-layer CLIP with the fixture's first layer gives LayerNorm(penultimate of the two-layer CLIP) as its last state.
        var folder = TestPaths.Fixture("clip_text_projection");
        using var checkpoint = Checkpoint.Open(folder);
        var config = ClipTextConfig.Load(Path.Combine(folder, "config.json"));
        using var two = ClipTextEncoder.Load(config, checkpoint).Model;
        using var one = ClipTextEncoder.Load(config with { NumHiddenLayers = 1 }, checkpoint, strict: false).Model;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var ids = tensor(new long[] { 998, 5, 17, 300, 999, 999 }).unsqueeze(0);
        var penultimate = two.forward(ids).PenultimateHiddenState;
        var normed = nn.functional.layer_norm(penultimate, [config.HiddenSize],
            checkpoint.Read("text_model.final_layer_norm.weight"), checkpoint.Read("text_model.final_layer_norm.bias"), config.LayerNormEps);
        var last = one.forward(ids).LastHiddenState;
        Assert.True(normed.allclose(last, rtol: 1e-5, atol: 1e-6), $"max diff {(normed - last).abs().max().item<float>()}");
        Assert.False(penultimate.allclose(two.forward(ids).LastHiddenState), "the penultimate states are the last ones");
    }

    sealed record NarrowStudent(string Path) : IDisposable
    {
        public static NarrowStudent Export(int width)
        {
            var folder = new NarrowStudent(TestPaths.NewTempDirectory("sd3-narrow-student"));
            using var student = Studio.Ml.Models.T5.StudentEncoder.Create(
                Studio.Ml.Models.T5.T5Config.From(new Studio.Ml.Models.Common.ModelConfig(TinyFluxPipelineFolder.T5Json(dModel: 16), "narrow")), width, 0.1, seed: 3);
            student.ExportDistillT5(folder.Path, ScalarType.Float32);
            return folder;
        }

        public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
    }
}
