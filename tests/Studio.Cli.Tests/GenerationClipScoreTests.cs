using Microsoft.EntityFrameworkCore;
using Studio.Core;
using Studio.Core.Data;
using Studio.Core.Generations;
using Studio.Core.Hosting;
using Studio.Core.Jobs;
using Studio.Core.Live;
using Studio.Ml.Diffusion;
using Studio.Ml.Evaluation;
using Studio.Ml.Tests;
using Studio.Ml.Tests.Evaluation;

namespace Studio.Cli.Tests;

/// <summary>
/// A worker with a CLIP model (Studio:ClipModel) gives every image of a generation its CLIP score against the prompt
/// (here with LibTorch and the real executor, which the Core tests do not load).
/// </summary>
public class GenerationClipScoreTests
{
    sealed class Database(DbContextOptions<StudioDbContext> options) : IDbContextFactory<StudioDbContext>
    {
        public StudioDbContext CreateDbContext() => new(options);
    }

    static async Task<List<GenerationImage>> GenerateAsync(PipelineGenerationExecutor executor, StudioOptions options, string prompt)
    {
        var db = new Database(new DbContextOptionsBuilder<StudioDbContext>().UseSqlite($"Data Source={Path.Combine(options.DataDirectory, "studio.db")}").Options);
        await using (var context = db.CreateDbContext()) await context.Database.EnsureCreatedAsync();
        int id;
        await using (var context = db.CreateDbContext())
        {
            var generation = new Generation
            {
                Prompt = prompt, Seed = 1, Steps = 2, Guidance = 3.5, Width = 64, Height = 64,
                Images = [new GenerationImage { Encoder = "teacher" }],
            };
            context.Generations.Add(generation);
            await context.SaveChangesAsync();
            id = generation.Id;
        }
        await new GenerationJob(db, executor, new GenerationFeed(), options, new WorkerIdentity("test:host:1")).Execute(id, CancellationToken.None);
        await using var done = db.CreateDbContext();
        return await done.GenerationImages.Where(i => i.GenerationId == id).OrderBy(i => i.Id).ToListAsync();
    }

    /// <summary>
    /// The toy teacher's images, each scored against its own prompt; the CLIP model is loaded once and kept by the
    /// worker's executor (a second generation is scored after its weights file is gone).
    /// </summary>
    [Fact]
    public async Task EveryImageGetsTheClipScoreOfItsPngAgainstThePromptWithTheClipModelLoadedOnce()
    {
        var dir = TestPaths.NewTempDirectory("generation-clip");
        var clip = TinyClipFolder.Create();
        var options = new StudioOptions { DataDirectory = dir, AllowedRoots = [dir, clip], ClipModel = clip };
        using var executor = new PipelineGenerationExecutor();
        using var scorer = ClipScorer.Load(clip);

        var first = (await GenerateAsync(executor, options, "a red circle above a blue square")).Single();
        File.Delete(Path.Combine(clip, "model.safetensors"));
        var second = (await GenerateAsync(executor, options, "the word HELLO in green")).Single();

        foreach (var (image, prompt) in new[] { (first, "a red circle above a blue square"), (second, "the word HELLO in green") })
        {
            Assert.Equal(GenerationState.Completed, image.State);
            var expected = scorer.Score([prompt], [RgbImage.FromPng(image.PngPath!)])[0];
            Assert.Equal(expected, image.ClipScore!.Value, 1e-4);
        }
        Assert.NotEqual(first.ClipScore, second.ClipScore);
        Assert.Equal([Path.GetFullPath(clip)], executor.LoadedClipModels.Select(k => k.Folder));
    }

    [Fact]
    public async Task WithoutAClipModelOrWithOneOutsideTheAllowedFoldersOrUnreadableTheImagesStandWithoutAScore()
    {
        using var executor = new PipelineGenerationExecutor();
        var dir = TestPaths.NewTempDirectory("generation-no-clip");
        var clip = TinyClipFolder.Create();
        var none = await GenerateAsync(executor, new StudioOptions { DataDirectory = dir, AllowedRoots = [dir] }, "a red circle");
        var outside = await GenerateAsync(executor, new StudioOptions { DataDirectory = dir, AllowedRoots = [dir], ClipModel = clip }, "a red circle");
        File.Delete(Path.Combine(clip, "model.safetensors"));
        var missing = await GenerateAsync(executor, new StudioOptions { DataDirectory = dir, AllowedRoots = [dir, clip], ClipModel = clip }, "a red circle");
        File.WriteAllText(Path.Combine(clip, "model.safetensors"), "not a safetensors file");
        var damaged = await GenerateAsync(executor, new StudioOptions { DataDirectory = dir, AllowedRoots = [dir, clip], ClipModel = clip }, "a red circle");
        Assert.All(none.Concat(outside).Concat(missing).Concat(damaged), i => Assert.Equal((GenerationState.Completed, (double?)null), (i.State, i.ClipScore)));
        Assert.Empty(executor.LoadedClipModels);
    }
}
