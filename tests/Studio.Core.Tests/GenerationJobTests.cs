using Studio.Core.Data;
using Studio.Core.Hosting;
using Studio.Core.Jobs;
using Studio.Core.Live;

namespace Studio.Core.Tests;

/// <summary>The generation job hands the worker's device and memory setting to the executor and records the device.</summary>
public class GenerationJobTests
{
    sealed class RecordingExecutor : IGenerationExecutor
    {
        public GenerationExecution? Seen { get; private set; }
        public async Task ExecuteAsync(GenerationExecution generation, Func<GeneratedImage, Task> imageReady, IProgress<JobProgress> progress, CancellationToken ct)
        {
            Seen = generation;
            foreach (var encoder in generation.Encoders)
            {
                var png = Path.Combine(generation.OutputFolder, $"image-{encoder.ImageId}.png");
                await File.WriteAllBytesAsync(png, [1], ct);
                await imageReady(new GeneratedImage(encoder.ImageId, png, TimeSpan.FromSeconds(1)));
            }
        }
    }

    static async Task<(GenerationExecution Seen, Generation Stored)> RunAsync(StudioOptions configure)
    {
        var db = await TestDatabase.CreateAsync();
        var options = new StudioOptions { DataDirectory = db.Directory, Device = configure.Device, FreeTextEncoders = configure.FreeTextEncoders };
        int id;
        await using (var context = db.CreateDbContext())
        {
            var generation = new Generation { Prompt = "a red circle", Seed = 1, Steps = 2, Guidance = 3.5, Width = 64, Height = 64, Images = [new GenerationImage { Encoder = "teacher" }] };
            context.Generations.Add(generation);
            await context.SaveChangesAsync();
            id = generation.Id;
        }
        var executor = new RecordingExecutor();
        await new GenerationJob(db, executor, new GenerationFeed(), options, new WorkerIdentity("test:host:1")).Execute(id, CancellationToken.None);
        await using var done = db.CreateDbContext();
        return (executor.Seen!, done.Generations.Single(g => g.Id == id));
    }

    [Fact]
    public async Task TheWorkersDeviceAndFreeTextEncodersReachTheExecutorAndTheDeviceIsStored()
    {
        var (seen, stored) = await RunAsync(new StudioOptions { Device = "cuda:1", FreeTextEncoders = true });
        Assert.Equal(("cuda:1", true), (seen.Device, seen.FreeTextEncoders));
        Assert.Equal(GenerationState.Completed, stored.State);
        Assert.Equal("cuda:1", stored.Device);
    }

    [Fact]
    public async Task AWorkerWithoutADeviceGeneratesOnTheCpu()
    {
        var (seen, stored) = await RunAsync(new StudioOptions());
        Assert.Equal(("cpu", false), (seen.Device, seen.FreeTextEncoders));
        Assert.Equal("cpu", stored.Device);
    }
}
