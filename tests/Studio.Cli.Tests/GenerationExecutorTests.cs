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
}
