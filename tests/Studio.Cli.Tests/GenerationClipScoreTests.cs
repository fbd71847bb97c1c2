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
/// (here with LibTorch, which the Core tests do not load).
/// </summary>
public class GenerationClipScoreTests
{
    sealed class Database(DbContextOptions<StudioDbContext> options) : IDbContextFactory<StudioDbContext>
    {
        public StudioDbContext CreateDbContext() => new(options);
    }

    /// <summary>Draws each encoder's image as a distinct gradient PNG.</summary>
    sealed class GradientExecutor : IGenerationExecutor
    {
        public Dictionary<int, string> Drawn { get; } = [];
        public async Task ExecuteAsync(GenerationExecution generation, Func<GeneratedImage, Task> imageReady, IProgress<JobProgress> progress, CancellationToken ct)
        {
            foreach (var encoder in generation.Encoders)
            {
                var rgb = new byte[48 * 40 * 3];
                for (int i = 0; i < rgb.Length; i++) rgb[i] = (byte)(i * (encoder.ImageId + 3) % 251);
                var png = Path.Combine(generation.OutputFolder, $"image-{encoder.ImageId}.png");
                new RgbImage(40, 48, rgb).SavePng(png);
                Drawn[encoder.ImageId] = png;
                await imageReady(new GeneratedImage(encoder.ImageId, png, TimeSpan.FromSeconds(1)));
            }
        }
    }

    static async Task<(List<GenerationImage> Images, GradientExecutor Executor)> GenerateAsync(Func<string, string, StudioOptions> options)
    {
        var dir = TestPaths.NewTempDirectory("generation-clip");
        var clip = TinyClipFolder.Create();
        var db = new Database(new DbContextOptionsBuilder<StudioDbContext>().UseSqlite($"Data Source={Path.Combine(dir, "studio.db")}").Options);
        await using (var context = db.CreateDbContext()) await context.Database.EnsureCreatedAsync();
        int id;
        await using (var context = db.CreateDbContext())
        {
            var generation = new Generation
            {
                Prompt = "a red circle above a blue square", Seed = 1, Steps = 2, Guidance = 3.5, Width = 40, Height = 48,
                Images = [new GenerationImage { Encoder = "teacher" }, new GenerationImage { Encoder = "teacher again" }],
            };
            context.Generations.Add(generation);
            await context.SaveChangesAsync();
            id = generation.Id;
        }
        var executor = new GradientExecutor();
        await new GenerationJob(db, executor, new GenerationFeed(), options(dir, clip), new WorkerIdentity("test:host:1")).Execute(id, CancellationToken.None);
        await using var done = db.CreateDbContext();
        return (await done.GenerationImages.Where(i => i.GenerationId == id).OrderBy(i => i.Id).ToListAsync(), executor);
    }

    [Fact]
    public async Task EveryImageGetsTheClipScoreOfItsPngAgainstThePrompt()
    {
        string? clipFolder = null;
        var (images, executor) = await GenerateAsync((dir, clip) => new StudioOptions { DataDirectory = dir, AllowedRoots = [dir, clipFolder = clip], ClipModel = clip });

        using var scorer = ClipScorer.Load(clipFolder!);
        Assert.Equal(2, images.Count);
        foreach (var image in images)
        {
            Assert.Equal(GenerationState.Completed, image.State);
            var expected = scorer.Score(["a red circle above a blue square"], [RgbImage.FromPng(executor.Drawn[image.Id])])[0];
            Assert.Equal(expected, image.ClipScore!.Value, 1e-4);
        }
        Assert.NotEqual(images[0].ClipScore, images[1].ClipScore);
    }

    [Fact]
    public async Task WithoutAClipModelOrWithOneOutsideTheAllowedFoldersTheImagesStandWithoutAScore()
    {
        var (none, _) = await GenerateAsync((dir, _) => new StudioOptions { DataDirectory = dir, AllowedRoots = [dir] });
        Assert.All(none, i => Assert.Equal((GenerationState.Completed, (double?)null), (i.State, i.ClipScore)));
        var (outside, _) = await GenerateAsync((dir, clip) => new StudioOptions { DataDirectory = dir, AllowedRoots = [dir], ClipModel = clip });
        Assert.All(outside, i => Assert.Equal((GenerationState.Completed, (double?)null), (i.State, i.ClipScore)));
    }
}
