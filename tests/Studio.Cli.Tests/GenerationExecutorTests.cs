using Studio.Core.Generations;
using Studio.Core.Jobs;
using Studio.Ml.Diffusion;
using Studio.Ml.Tests;
using Studio.Ml.Tests.Diffusion;

namespace Studio.Cli.Tests;

/// <summary>
/// The studio's generation executor with the real pipelines: an SD3 teacher's folder draws through <see cref="Sd3Pipeline"/>
/// (the family read from its model_index.json), its own T5 and a student in the T5 slot on the same noise.
/// </summary>
public class GenerationExecutorTests(TinySd3PipelineFolder sd3) : IClassFixture<TinySd3PipelineFolder>
{
    [Fact]
    public async Task AnSd3TeacherAndAStudentInItsSlotDrawTheSd3PipelinesImagesWithTheNegativePrompt()
    {
        var output = TestPaths.NewTempDirectory("generation-sd3");
        var generation = new GenerationExecution(1, "a red circle above a blue square", Seed: 5, Steps: 2, Guidance: 4, Width: 32, Height: 48,
            TeacherFolder: sd3.Folder, Encoders: [new(1, "teacher", null), new(2, "student", sd3.StudentDistillT5)], OutputFolder: output,
            NegativePrompt: "blurry");
        var images = new List<GeneratedImage>();
        using (var executor = new PipelineGenerationExecutor())
            await executor.ExecuteAsync(generation, image => { images.Add(image); return Task.CompletedTask; }, new Progress<JobProgress>(), CancellationToken.None);
        Assert.All(images, i => Assert.Null(i.Error));
        Assert.Equal([1, 2], images.Select(i => i.ImageId));

        // The same calls made here with the SD3 pipeline: classifier-free guidance from the negative prompt, at 32x48.
        using var pipeline = Sd3Pipeline.Load(sd3.Folder);
        using var student = Studio.Ml.Toy.ToyEvaluation.LoadTextEncoder2(sd3.StudentDistillT5);
        var request = new Sd3Request(["a red circle above a blue square"], 5, 2, 4, 32, 48, NegativePrompts: ["blurry"], MaxSequenceLength: pipeline.MaxSequenceLength);
        using var teacher = pipeline.Generate(request);
        using var mine = pipeline.Generate(request, textEncoder3: student);
        Assert.Equal(teacher.Png(0), File.ReadAllBytes(images[0].PngPath!));
        Assert.Equal(mine.Png(0), File.ReadAllBytes(images[1].PngPath!));
        Assert.NotEqual(teacher.Png(0), mine.Png(0));
    }

    [Fact]
    public async Task AWorkerInBfloat16DrawsInBfloat16AndAnUnknownDTypeFailsNamingTheSetting()
    {
        async Task<(List<GeneratedImage> Images, Exception? Error)> DrawAsync(string dtype)
        {
            var output = TestPaths.NewTempDirectory("generation-dtype");
            var generation = new GenerationExecution(1, "a red circle above a blue square", Seed: 5, Steps: 2, Guidance: 3.5, Width: 64, Height: 64,
                TeacherFolder: null, Encoders: [new(1, "teacher", null)], OutputFolder: output, DType: dtype);
            var images = new List<GeneratedImage>();
            using var executor = new PipelineGenerationExecutor();
            try { await executor.ExecuteAsync(generation, image => { images.Add(image); return Task.CompletedTask; }, new Progress<JobProgress>(), CancellationToken.None); }
            catch (Exception e) { return (images, e); }
            return (images, null);
        }
        var (full, _) = await DrawAsync("float32");
        var (half, _) = await DrawAsync("bfloat16");
        Assert.Null(half.Single().Error);
        // What the toy pipeline loaded in bfloat16 draws for the same call (and not what float32 draws: a diffusion
        // trajectory amplifies bfloat16's rounding, so the pictures differ, see README "GPU workers").
        using (var pipeline = FluxPipeline.Load(Studio.Ml.Toy.ToyTeacher.Folder, TorchSharp.torch.ScalarType.BFloat16))
        using (var own = pipeline.Generate(new FluxRequest(["a red circle above a blue square"], 5, 2, 3.5, 64, 64, pipeline.MaxSequenceLength)))
            Assert.Equal(own.Png(0), File.ReadAllBytes(half.Single().PngPath!));
        Assert.NotEqual(File.ReadAllBytes(full.Single().PngPath!), File.ReadAllBytes(half.Single().PngPath!));
        var (none, error) = await DrawAsync("fp8");
        Assert.Empty(none);
        Assert.Equal("Studio:DType: 'fp8' is not float32 or bfloat16", error?.Message);
    }

    /// <summary>
    /// A generation with a LoRA draws what the pipeline draws with the LoRA merged; the cached pipeline gets its weights
    /// back, so the next generation without one draws what the first did.
    /// </summary>
    [Fact]
    public async Task ALoraIsMergedForItsGenerationAloneAndTheCachedPipelineGetsItsWeightsBack()
    {
        var dir = TestPaths.NewTempDirectory("generation-lora");
        TorchSharp.torch.manual_seed(4);
        var lora = Path.Combine(dir, "lora.safetensors");
        Studio.Ml.Tensors.SafeTensorsWriter.Save(lora, new Dictionary<string, TorchSharp.torch.Tensor>
        {
            ["transformer.transformer_blocks.0.attn.to_q.lora_A.weight"] = TorchSharp.torch.randn(4, 128) * 0.5,
            ["transformer.transformer_blocks.0.attn.to_q.lora_B.weight"] = TorchSharp.torch.randn(128, 4) * 0.5,
            ["transformer.single_transformer_blocks.1.proj_out.lora_A.weight"] = TorchSharp.torch.randn(4, 640) * 0.5,
            ["transformer.single_transformer_blocks.1.proj_out.lora_B.weight"] = TorchSharp.torch.randn(128, 4) * 0.5,
            // A layer of CLIP (the toy teacher's is 64 wide), in kohya's names: merged into the cached pipeline's CLIP too.
            ["lora_te1_text_model_encoder_layers_1_mlp_fc2.lora_down.weight"] = TorchSharp.torch.randn(2, 128) * 0.5,
            ["lora_te1_text_model_encoder_layers_1_mlp_fc2.lora_up.weight"] = TorchSharp.torch.randn(64, 2) * 0.5,
        });
        using var executor = new PipelineGenerationExecutor();
        async Task<byte[]> DrawAsync(string? withLora)
        {
            var output = TestPaths.NewTempDirectory("generation-lora-out");
            var generation = new GenerationExecution(1, "a red circle above a blue square", Seed: 5, Steps: 2, Guidance: 3.5, Width: 64, Height: 64,
                TeacherFolder: null, Encoders: [new(1, "teacher", null)], OutputFolder: output, Lora: withLora, LoraScale: 0.5);
            var images = new List<GeneratedImage>();
            await executor.ExecuteAsync(generation, image => { images.Add(image); return Task.CompletedTask; }, new Progress<JobProgress>(), CancellationToken.None);
            Assert.Null(images.Single().Error);
            return File.ReadAllBytes(images.Single().PngPath!);
        }
        var before = await DrawAsync(null);
        var merged = await DrawAsync(lora);
        var after = await DrawAsync(null);
        Assert.NotEqual(before, merged);
        Assert.Equal(before, after);

        // The toy pipeline, loaded here with the LoRA merged at the same scale, draws the same image.
        using var pipeline = FluxPipeline.Load(Studio.Ml.Toy.ToyTeacher.Folder);
        using var weights = Studio.Ml.Models.Common.LoraWeights.Load(lora);
        Assert.Equal(["text_encoder", "transformer", "transformer"], weights.Layers.Select(l => l.Part));
        using (pipeline.MergeLora(weights, 0.5))
        using (var own = pipeline.Generate(new FluxRequest(["a red circle above a blue square"], 5, 2, 3.5, 64, 64, pipeline.MaxSequenceLength)))
            Assert.Equal(own.Png(0), merged);

        // A worker that frees its text encoders after encoding (Studio:FreeTextEncoders) draws the same: CLIP, loaded again
        // for the second image of the generation, gets the LoRA's layers again.
        using var freeing = new PipelineGenerationExecutor();
        var freedOutput = TestPaths.NewTempDirectory("generation-lora-freed");
        var images = new List<GeneratedImage>();
        await freeing.ExecuteAsync(new GenerationExecution(1, "a red circle above a blue square", Seed: 5, Steps: 2, Guidance: 3.5, Width: 64, Height: 64,
                TeacherFolder: null, Encoders: [new(1, "teacher", null), new(2, "teacher again", null)], OutputFolder: freedOutput,
                FreeTextEncoders: true, Lora: lora, LoraScale: 0.5),
            image => { images.Add(image); return Task.CompletedTask; }, new Progress<JobProgress>(), CancellationToken.None);
        Assert.Equal([1, 2], images.Select(i => i.ImageId));
        Assert.All(images, i => Assert.Null(i.Error));
        Assert.All(images, i => Assert.Equal(merged, File.ReadAllBytes(i.PngPath!)));
    }
}
