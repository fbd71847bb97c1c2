using Studio.Ml.Diffusion;
using Studio.Ml.Toy;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Toy;

/// <summary>`studio toy ceiling`'s routine on the shipped teacher, one held-out prompt per category.</summary>
public class ToyCeilingTests
{
    public ToyCeilingTests() => TorchRuntime.Initialise();

    [Fact]
    public void RowsCoverEveryCategoryAndMatchTheEvaluatorOnIndependentlyMadeImages()
    {
        using var pipeline = FluxPipeline.Load(ToyTeacher.Folder);
        var result = ToyCeiling.Measure(pipeline, new ToyCeilingOptions { PromptsPerCategory = 1, BatchSize = 3 });

        Assert.Equal(ToyCriteria.Categories, result.Categories.Select(c => c.Category));
        Assert.All(result.Categories, c => Assert.Equal(1, c.Count));
        Assert.Equal(5, result.All.Count);
        Assert.Equal((16, 16, 16, 64), (result.LatentChannels, result.LatentHeight, result.LatentWidth, result.ImageTokens));

        // Seed 0 is the standard held-out set; score its renders and their round trips here, without ToyCeiling.
        var prompts = ToyPrompts.HeldOut(ToyCriteria.All, 5);
        Assert.Equal(prompts.Select(p => p.Text), result.Items.Select(i => i.Prompt));
        var renders = prompts.Select(p => ToyRenderer.Render(p.Scene)).ToList();
        var rendered = ToyEvaluator.Evaluate(prompts, renders);
        Assert.Equal(rendered.Items.Select(i => i.Score), result.Items.Select(i => i.RenderScore));
        Assert.All(result.Categories, c => Assert.Equal(1.0, c.RenderScore)); // the evaluator reads every clean render
        Assert.Equal(0.0, result.RenderFrechetAll);

        List<ToyImage> returned;
        using (no_grad())
        {
            using var images = ToyImage.Stack(renders);
            using var posterior = pipeline.Vae.Encode(images);
            using var decoded = pipeline.Vae.Decode(posterior.Mean);
            using var signed = decoded.clamp(-1, 1);
            returned = ToyImage.Unstack(signed).ToList();
        }
        var roundTrip = ToyEvaluator.Evaluate(prompts, returned);
        Assert.Equal(roundTrip.Items.Select(i => i.Score), result.Items.Select(i => i.RoundTripScore));
        Assert.Equal(roundTrip.FrechetAll!.Value, result.RoundTripFrechetAll!.Value, 6);
        Assert.Equal(result.Categories.All(c => c.RoundTripScore >= ToyCeilingOptions.ScoreBar) && result.RoundTripFrechetAll <= ToyCeilingOptions.FrechetBar,
            result.VaeMeetsBar);

        // The flow loss: one number per sigma, the row's overall value their mean, and the prompt helps the teacher
        // (conditioned on the wrong texts, or not at all, it would not beat the empty prompt).
        Assert.All(result.Items, i => Assert.Equal(result.Sigmas.Count, i.FlowMse.Count));
        Assert.All(result.Items.SelectMany(i => i.FlowMse), m => Assert.True(m is > 0 and < 10, $"flow MSE {m}"));
        Assert.Equal(result.All.FlowMseBySigma!.Average(), result.All.FlowMse!.Value, 9);
        Assert.True(result.All.FlowMse < result.All.FlowMseEmptyPrompt!.Value, $"with prompt {result.All.FlowMse}, empty {result.All.FlowMseEmptyPrompt}");
        // Words followed: the image-quality prompt names its object as "COLOUR SHAPE"; the shipped teacher follows the
        // colour word (swapped, the loss rises) and the prompt as a whole (empty, it rises).
        var words = result.WordSwaps!;
        Assert.Equal(1, words.Prompts);
        Assert.True(words.ColourSwapped > words.AsWritten && words.Empty > words.AsWritten, words.ToString());
        Assert.Contains($"words followed (1 image-quality prompts, mean flow loss): as written {words.AsWritten:0.000}, shape word swapped", result.Table());
        // What following a word is worth: the scaled latents of the scene and of the swapped scenes, made here.
        var imageQuality = prompts.Single(p => p.Category == ToyCriteria.ImageQuality);
        double Change(ToyScene swapped)
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var pair = ToyImage.Stack([ToyRenderer.Render(imageQuality.Scene), ToyRenderer.Render(swapped)]);
            using var posterior = pipeline.Vae.Encode(pair);
            var z = (posterior.Mean - pipeline.Vae.Config.ShiftFactor) * pipeline.Vae.Config.ScalingFactor;
            return (z[0] - z[1]).square().mean().item<float>();
        }
        var o = imageQuality.Scene.Objects.Single();
        var otherShape = Enum.GetValues<ToyShape>().Single(s => ToyCeiling.Swap(imageQuality, shape: true)!.Text.Contains($" {ToyPrompts.ShapeWord(s)} "));
        Assert.Equal(Change(imageQuality.Scene with { Objects = [o with { Shape = otherShape }] }), words.ShapeLatentChange, 5);
        Assert.Equal(Change(ToyCeiling.Swap(imageQuality, shape: false)!.Scene), words.ColourLatentChange, 5);
        Assert.True(words.ShapeLatentChange > 0.001 && words.ColourLatentChange > words.ShapeLatentChange, words.ToString());
        Assert.Contains($"shape {words.ShapeLatentChange:0.000}, colour {words.ColourLatentChange:0.000}", result.Table());
        // The prompt through each encoder: as written and empty are the rows' own numbers (the same noise).
        var paths = result.EncoderPaths!;
        Assert.Equal(5, paths.Prompts);
        Assert.Equal(result.All.FlowMse!.Value, paths.AsWritten, 9);
        Assert.Equal(result.All.FlowMseEmptyPrompt!.Value, paths.Empty, 9);
        Assert.Contains($"prompt through each encoder (5 prompts, mean flow loss): as written {paths.AsWritten:0.000}, T5 alone {paths.T5Only:0.000}", result.Table());
        Assert.Contains("semantics/numeracy", result.Table());
        Assert.Contains(result.VaeMeetsBar ? "meets the bar" : "below the bar", result.Table());
    }

    [Fact]
    public void AnEncoderTheTransformerCannotHearCarriesNothing()
    {
        // context_embedder zeroed: T5's states reach the transformer as zeros whatever the prompt, so T5 alone is the
        // empty prompt and CLIP alone the prompt as written. With time_text_embed's pooled-text embedder zeroed instead,
        // the other way round.
        var options = new ToyCeilingOptions { PromptsPerCategory = 1, BatchSize = 5 };
        foreach (var (deafTo, prefix) in new[] { ("T5", "context_embedder."), ("CLIP", "time_text_embed.text_embedder.") })
        {
            using var pipeline = FluxPipeline.Load(ToyTeacher.Folder);
            using (no_grad())
            {
                var zeroed = pipeline.Transformer.named_parameters().Where(p => p.name.StartsWith(prefix)).ToList();
                Assert.NotEmpty(zeroed);
                foreach (var (_, parameter) in zeroed) parameter.zero_();
            }
            var paths = ToyCeiling.Measure(pipeline, options).EncoderPaths!;
            var (deaf, heard) = deafTo == "T5" ? (paths.T5Only, paths.ClipOnly) : (paths.ClipOnly, paths.T5Only);
            Assert.Equal(paths.Empty, deaf, 6);
            Assert.Equal(paths.AsWritten, heard, 6);
            Assert.Equal(0, deafTo == "T5" ? paths.T5Share : paths.ClipShare, 4);
            Assert.Equal(1, deafTo == "T5" ? paths.ClipShare : paths.T5Share, 4);
        }
    }

    [Fact]
    public void TheAutoencoderAloneGivesThePipelinesRoundTripsAndNoFlowLoss()
    {
        using var pipeline = FluxPipeline.Load(ToyTeacher.Folder);
        var options = new ToyCeilingOptions { PromptsPerCategory = 1, BatchSize = 5 };
        var whole = ToyCeiling.Measure(pipeline, options);
        var alone = ToyCeiling.MeasureVae(pipeline.Vae, "vae", options);

        Assert.Equal(whole.Items.Select(i => (i.Prompt, i.RoundTripScore, i.RoundTripL1)), alone.Items.Select(i => (i.Prompt, i.RoundTripScore, i.RoundTripL1)));
        Assert.Equal(whole.RoundTripFrechetAll, alone.RoundTripFrechetAll);
        Assert.Equal((16, 16, 16, 64), (alone.LatentChannels, alone.LatentHeight, alone.LatentWidth, alone.ImageTokens));
        Assert.Null(alone.TransformerWidth);
        Assert.All(alone.Categories.Append(alone.All), r => Assert.Null(r.FlowMse));
        Assert.All(alone.Items, i => Assert.Empty(i.FlowMse));
        Assert.Contains("autoencoder alone", alone.Table());
        Assert.Null(alone.WordSwaps);
        Assert.Null(alone.EncoderPaths);
    }

    [Theory]
    [InlineData("a clean drawing of a large red cross on black and brown stripes", "a clean drawing of a large red square on black and brown stripes",
        "a clean drawing of a large cyan cross on black and brown stripes")]
    [InlineData("a simple icon of a small green circle on gray and beige stripes", "a simple icon of a small green triangle on gray and beige stripes",
        "a simple icon of a small pink circle on gray and beige stripes")]
    public void ASwapReplacesTheObjectsShapeOrColourWordAndNothingElse(string text, string shapeSwapped, string colourSwapped)
    {
        var prompt = ToyPrompts.HeldOut(ToyCriteria.ImageQuality, 50).First(p => p.Text == text);
        var (byShape, byColour) = (ToyCeiling.Swap(prompt, shape: true)!, ToyCeiling.Swap(prompt, shape: false)!);
        Assert.Equal(shapeSwapped, byShape.Text);
        Assert.Equal(colourSwapped, byColour.Text);
        // The scene changes alike: the object the swapped text names, where it was, and nothing else.
        var o = prompt.Scene.Objects.Single();
        Assert.Equal(prompt.Scene with { Objects = [o with { Shape = Enum.GetValues<ToyShape>().Single(s => shapeSwapped.Contains($" {ToyPrompts.ShapeWord(s)} ")) }] },
            byShape.Scene);
        Assert.Equal(prompt.Scene with { Objects = [o with { Colour = ToyPalette.ObjectColours.Single(c => colourSwapped.Contains($" {ToyPalette.Word(c)} ")) }] },
            byColour.Scene);
        Assert.Equal(prompt.Category, byShape.Category);
        // A prompt of two objects, or one whose text does not name its object as "COLOUR SHAPE", has no swap.
        var two = ToyPrompts.HeldOut(ToyCriteria.SemanticsColour, 1)[0];
        Assert.Null(ToyCeiling.Swap(two, shape: true));
        Assert.Null(ToyCeiling.Swap(prompt with { Text = "an object" }, shape: false));
    }

    [Fact]
    public void TheSameSeedGivesTheSameNumbersAndAnotherSeedOtherPrompts()
    {
        using var pipeline = FluxPipeline.Load(ToyTeacher.Folder);
        var first = ToyCeiling.Measure(pipeline, new ToyCeilingOptions { PromptsPerCategory = 1, Seed = 3, BatchSize = 5 });
        var second = ToyCeiling.Measure(pipeline, new ToyCeilingOptions { PromptsPerCategory = 1, Seed = 3, BatchSize = 5 });
        Assert.Equal(first.Items.Select(i => i.RoundTripDetail), second.Items.Select(i => i.RoundTripDetail));
        Assert.Equal(first.Items.SelectMany(i => i.FlowMse), second.Items.SelectMany(i => i.FlowMse));
        Assert.NotEqual(ToyPrompts.HeldOut(ToyCriteria.All, 5).Select(p => p.Text), first.Items.Select(i => i.Prompt));
    }
}
