using Studio.Core.Data;
using Studio.Core.Generations;
using Studio.Core.Hosting;
using Studio.Core.Jobs;
using Studio.Core.Live;
using Microsoft.EntityFrameworkCore;

namespace Studio.Core.Tests;

/// <summary>
/// The generation job hands the worker's device and memory setting and the request's true CFG to the executor, and
/// records the device.
/// </summary>
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
        var options = new StudioOptions { DataDirectory = db.Directory, Device = configure.Device, FreeTextEncoders = configure.FreeTextEncoders, DType = configure.DType };
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
        var (seen, stored) = await RunAsync(new StudioOptions { Device = "cuda:1", FreeTextEncoders = true, DType = "bfloat16" });
        Assert.Equal(("cuda:1", true, "bfloat16"), (seen.Device, seen.FreeTextEncoders, seen.DType));
        Assert.Equal(GenerationState.Completed, stored.State);
        Assert.Equal(("cuda:1", "bfloat16"), (stored.Device, stored.DType));
    }

    [Theory]
    [InlineData("fp8", "Studio:DType: 'fp8' is not float32 or bfloat16")]
    [InlineData("float16", "Studio:DType: 'float16' is not float32 or bfloat16")]
    public void AWorkerWithADTypeNoJobCouldUseIsRefusedAtStart(string dtype, string message)
    {
        var data = Directory.CreateTempSubdirectory("studio-dtype-").FullName;
        var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection();
        var refused = Assert.Throws<StudioConfigurationException>(() => services.AddStudioCore(new StudioOptions { DataDirectory = data, DType = dtype }));
        Assert.Equal(message, refused.Message);
        // Both accepted values, and the default.
        foreach (var good in new[] { "", "float32", "bfloat16", "bf16" })
            new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddStudioCore(new StudioOptions { DataDirectory = data, DType = good });
    }

    [Fact]
    public async Task AWorkerWithoutADeviceGeneratesOnTheCpu()
    {
        var (seen, stored) = await RunAsync(new StudioOptions());
        Assert.Equal(("cpu", false, "float32"), (seen.Device, seen.FreeTextEncoders, seen.DType));
        Assert.Equal(("cpu", "float32"), (stored.Device, stored.DType));
    }

    [Fact]
    public async Task AnSd3TeacherTakesANegativePromptButNoTrueCfgScale()
    {
        var db = await TestDatabase.CreateAsync();
        var folder = Directory.CreateDirectory(Path.Combine(db.Directory, "sd3")).FullName;
        File.WriteAllText(Path.Combine(folder, "model_index.json"), """{"_class_name": "StableDiffusion3Pipeline"}""");
        int teacherId;
        await using (var context = db.CreateDbContext())
        {
            var teacher = new ModelEntry { Name = "sd3.5", Kind = ModelKind.TeacherPipeline, Folder = folder, Architecture = "StableDiffusion3Pipeline" };
            context.Models.Add(teacher);
            await context.SaveChangesAsync();
            teacherId = teacher.Id;
        }
        var jobs = new RecordingJobs();
        var service = new GenerationService(db, jobs, new GenerationFeed());
        var refused = await Assert.ThrowsAsync<Studio.Core.Runs.RunActionException>(() => service.RequestAsync(new GenerationRequest("a red circle", TeacherModelId: teacherId, TrueCfgScale: 3)));
        Assert.StartsWith("trueCfgScale: an SD3 teacher always guides from the negative prompt at its guidance scale", refused.Message);
        var queued = await service.RequestAsync(new GenerationRequest("a red circle", TeacherModelId: teacherId, NegativePrompt: "blurry"));
        Assert.Equal("blurry", queued.NegativePrompt);
        await using var check = db.CreateDbContext();
        Assert.Equal(1, await check.Generations.CountAsync()); // the refused request queued nothing
        Assert.False(GenerationService.IsSd3(Studio.Core.ModelRegistry.ModelFolders.ToyTeacher));
    }

    [Fact]
    public async Task AGenerationWhoseTeacherPipelineWasUnregisteredFailsRatherThanDrawWithTheBuiltInTeacher()
    {
        var db = await TestDatabase.CreateAsync();
        int id, teacherId;
        await using (var context = db.CreateDbContext())
        {
            var teacher = new ModelEntry { Name = "flux-dev", Kind = ModelKind.TeacherPipeline, Folder = db.Directory };
            context.Models.Add(teacher);
            await context.SaveChangesAsync();
            teacherId = teacher.Id;
            var generation = new Generation
            {
                Prompt = "a red circle", Seed = 1, Steps = 2, Guidance = 3.5, Width = 64, Height = 64, TeacherModelId = teacherId,
                Images = [new GenerationImage { Encoder = "teacher" }, new GenerationImage { Encoder = "student", ModelId = teacherId + 1 }],
            };
            context.Generations.Add(generation);
            context.Models.Add(new ModelEntry { Name = "student", Kind = ModelKind.ExportedStudent, Folder = Path.Combine(db.Directory, "student") });
            await context.SaveChangesAsync();
            id = generation.Id;
            // Unregistered (Models page) while the request waited in the queue.
            context.Models.Remove(teacher);
            await context.SaveChangesAsync();
        }
        var executor = new RecordingExecutor();
        await new GenerationJob(db, executor, new GenerationFeed(), new StudioOptions { DataDirectory = db.Directory }, new WorkerIdentity("test:host:1"))
            .Execute(id, CancellationToken.None);

        Assert.Null(executor.Seen); // nothing drawn, in particular not by the built-in toy teacher
        await using var done = db.CreateDbContext();
        var stored = done.Generations.Include(g => g.Images).Single(g => g.Id == id);
        Assert.Equal(GenerationState.Failed, stored.State);
        Assert.Contains($"teacher pipeline {teacherId} was unregistered", stored.Error);
        Assert.All(stored.Images, image => Assert.Equal((GenerationState.Failed, $"teacher pipeline {teacherId} was unregistered before the generation ran"), (image.State, image.Error)));
    }

    /// <summary>The worker checks a generation's LoRA against its own allowed folders: outside them nothing is drawn; inside, the executor is given it.</summary>
    [Fact]
    public async Task ALoraOutsideTheWorkersAllowedFoldersFailsTheGenerationAndOneInsideReachesTheExecutor()
    {
        var db = await TestDatabase.CreateAsync();
        var lora = Path.Combine(Directory.CreateTempSubdirectory("studio-lora-").FullName, "style.safetensors");
        async Task<(RecordingExecutor Executor, Generation Stored)> RunAsync(string[] allowed)
        {
            int id;
            await using (var context = db.CreateDbContext())
            {
                var generation = new Generation
                {
                    Prompt = "a red circle", Seed = 1, Steps = 2, Guidance = 3.5, Width = 64, Height = 64, LoraPath = lora, LoraScale = 0.5,
                    Images = [new GenerationImage { Encoder = "teacher" }],
                };
                context.Generations.Add(generation);
                await context.SaveChangesAsync();
                id = generation.Id;
            }
            var executor = new RecordingExecutor();
            await new GenerationJob(db, executor, new GenerationFeed(), new StudioOptions { DataDirectory = db.Directory, AllowedRoots = allowed }, new WorkerIdentity("test:host:1"))
                .Execute(id, CancellationToken.None);
            await using var done = db.CreateDbContext();
            return (executor, done.Generations.Include(g => g.Images).Single(g => g.Id == id));
        }

        var (refusing, failed) = await RunAsync([db.Directory]);
        Assert.Null(refusing.Seen);
        Assert.Equal(GenerationState.Failed, failed.State);
        Assert.StartsWith($"lora: {lora} is outside the allowed folders", failed.Images.Single().Error);

        var (drawing, completed) = await RunAsync([db.Directory, Path.GetDirectoryName(lora)!]);
        Assert.Equal((lora, 0.5), (drawing.Seen!.Lora, drawing.Seen.LoraScale));
        Assert.Equal(GenerationState.Completed, completed.State);
    }

    [Fact]
    public async Task CancellingAQueuedGenerationDeletesItsJobAndStopsItBeforeItRuns()
    {
        var db = await TestDatabase.CreateAsync();
        var jobs = new RecordingJobs();
        var feed = new GenerationFeed();
        var published = new List<GenerationState>();
        using var _ = feed.Subscribe(g => published.Add(g.State));
        var service = new GenerationService(db, jobs, feed);
        var queued = await service.RequestAsync(new GenerationRequest("a red circle", Steps: 2));

        var cancelled = await service.CancelAsync(queued.Id);
        Assert.Equal(GenerationState.Cancelled, cancelled.State);
        Assert.Equal([(queued.HangfireJobId!, "Deleted")], jobs.Changed);
        Assert.Equal(GenerationState.Cancelled, published[^1]);
        // The job, if a worker had fetched it already, draws nothing.
        var executor = new RecordingExecutor();
        await new GenerationJob(db, executor, feed, new StudioOptions { DataDirectory = db.Directory }, new WorkerIdentity("test:host:1")).Execute(queued.Id, CancellationToken.None);
        Assert.Null(executor.Seen);
        await using var context = db.CreateDbContext();
        var stored = context.Generations.Include(g => g.Images).Single(g => g.Id == queued.Id);
        Assert.Equal((GenerationState.Cancelled, GenerationState.Cancelled), (stored.State, stored.Images.Single().State));

        var again = await Assert.ThrowsAsync<Studio.Core.Runs.RunActionException>(() => service.CancelAsync(queued.Id));
        Assert.Equal($"generation {queued.Id} is cancelled, not queued or running", again.Message);
        Assert.Equal("no generation 999", (await Assert.ThrowsAsync<Studio.Core.Runs.RunActionException>(() => service.CancelAsync(999))).Message);
    }

    [Fact]
    public async Task ARunningGenerationIsCancelledThroughItsJobAndKeepsTheImagesAlreadyDrawn()
    {
        var db = await TestDatabase.CreateAsync();
        var jobs = new RecordingJobs();
        var service = new GenerationService(db, jobs, new GenerationFeed());
        var generation = await service.RequestAsync(new GenerationRequest("a red circle", Steps: 2, CheckpointIds: []));
        await using (var context = db.CreateDbContext())
        {
            var row = context.Generations.Single(g => g.Id == generation.Id);
            row.State = GenerationState.Running;
            await context.SaveChangesAsync();
        }
        var running = await service.CancelAsync(generation.Id);
        // The worker stops between denoising steps once it sees the deleted job; until then the row says so.
        Assert.Equal((GenerationState.Running, "cancelling"), (running.State, running.Activity));
        Assert.Equal([(generation.HangfireJobId!, "Deleted")], jobs.Changed);
    }

    sealed class CancelledLateExecutor(Func<Task> cancel) : IGenerationExecutor
    {
        public async Task ExecuteAsync(GenerationExecution generation, Func<GeneratedImage, Task> imageReady, IProgress<JobProgress> progress, CancellationToken ct)
        {
            progress.Report(new JobProgress("step 1/2", 0.5));
            // The user cancels; the worker finishes before it sees the deleted job (Hangfire looks every few seconds).
            await cancel();
            progress.Report(new JobProgress("step 2/2", 0.75));
            var png = Path.Combine(generation.OutputFolder, "image.png");
            await File.WriteAllBytesAsync(png, [1], ct);
            await imageReady(new GeneratedImage(generation.Encoders.Single().ImageId, png, TimeSpan.FromSeconds(1)));
        }
    }

    [Fact]
    public async Task AGenerationCancelledInItsLastSecondsEndsCancelledKeepingItsImageAndSaysCancellingUntilThen()
    {
        var db = await TestDatabase.CreateAsync();
        var feed = new GenerationFeed();
        var service = new GenerationService(db, new RecordingJobs(), feed);
        var queued = await service.RequestAsync(new GenerationRequest("a red circle", Steps: 2, CheckpointIds: []));
        var activities = new List<string?>();
        feed.Subscribe(g => { lock (activities) activities.Add(g.Activity); });
        var options = new StudioOptions { DataDirectory = db.Directory };
        var executor = new CancelledLateExecutor(async () => await service.CancelAsync(queued.Id));
        await new GenerationJob(db, executor, feed, options, new WorkerIdentity("test:host:1")).Execute(queued.Id, CancellationToken.None);

        await using var context = db.CreateDbContext();
        var stored = context.Generations.Include(g => g.Images).Single(g => g.Id == queued.Id);
        Assert.Equal((GenerationState.Cancelled, null, null), (stored.State, stored.Activity, stored.Error));
        var image = stored.Images.Single();
        Assert.Equal(GenerationState.Completed, image.State);
        Assert.True(File.Exists(image.PngPath));
        // Once asked, the page reads "cancelling" until the end: the progress written after it does not replace it.
        List<string?> seen;
        lock (activities) seen = [.. activities];
        var asked = seen.IndexOf("cancelling");
        Assert.True(asked >= 0, string.Join(" | ", seen));
        Assert.DoesNotContain("step 2/2", seen);
        Assert.All(seen.Skip(asked), a => Assert.True(a is "cancelling" or null, string.Join(" | ", seen)));
    }

    [Fact]
    public async Task TrueCfgAndTheNegativePromptGoFromTheRequestToThePipelineCall()
    {
        var db = await TestDatabase.CreateAsync();
        var service = new GenerationService(db, new RecordingJobs(), new GenerationFeed());
        var guided = await service.RequestAsync(new GenerationRequest("a red circle", Steps: 2, TrueCfgScale: 3, NegativePrompt: " blurry "));
        var plain = await service.RequestAsync(new GenerationRequest("a red circle", Steps: 2));
        var options = new StudioOptions { DataDirectory = db.Directory };
        var seen = new List<GenerationExecution>();
        foreach (var id in new[] { guided.Id, plain.Id })
        {
            var executor = new RecordingExecutor();
            await new GenerationJob(db, executor, new GenerationFeed(), options, new WorkerIdentity("test:host:1")).Execute(id, CancellationToken.None);
            seen.Add(executor.Seen!);
        }

        Assert.Equal((3.0, "blurry"), (seen[0].TrueCfgScale, seen[0].NegativePrompt));
        var request = Studio.Ml.Diffusion.FluxPipeline.RequestOf(PipelineGenerationExecutor.Request(seen[0], 32));
        Assert.Equal((3.0, "blurry", true), (request.TrueCfgScale, request.NegativePrompt, request.DoesTrueCfg));
        // Left out: scale 1 and the empty prompt, and the FLUX pipeline gets no negative prompt at all.
        Assert.Equal((1.0, ""), (seen[1].TrueCfgScale, seen[1].NegativePrompt));
        request = Studio.Ml.Diffusion.FluxPipeline.RequestOf(PipelineGenerationExecutor.Request(seen[1], 32));
        Assert.Equal((1.0, null, false), (request.TrueCfgScale, request.NegativePrompt, request.DoesTrueCfg));
        // A negative prompt without a scale above 1 is not sent to FLUX either; SD3 always guides from it (and refuses a true CFG scale).
        Assert.Null(Studio.Ml.Diffusion.FluxPipeline.RequestOf(PipelineGenerationExecutor.Request(seen[0] with { TrueCfgScale = 1 }, 32)).NegativePrompt);
        Assert.Equal(["blurry"], Studio.Ml.Diffusion.Sd3Pipeline.RequestOf(PipelineGenerationExecutor.Request(seen[0] with { TrueCfgScale = 1 }, 32)).NegativePrompts);
        Assert.Null(Studio.Ml.Diffusion.Sd3Pipeline.RequestOf(PipelineGenerationExecutor.Request(seen[1], 32)).NegativePrompts);
        Assert.Throws<ArgumentException>(() => Studio.Ml.Diffusion.Sd3Pipeline.RequestOf(PipelineGenerationExecutor.Request(seen[0], 32)));
    }

    const string ScalarFault = "Expected false to be true, but got false.\nException raised from toFloat at /pytorch/c10/core/Scalar.h:140 (most recent call first):";

    /// <summary>Draws what it is given; <c>spoil</c> says, per call (1-based) and image, whether the Scalar hazard spoils it (or, with "throw", the whole call after it).</summary>
    sealed class FlakyExecutor(Func<int, int, string?> spoil) : IGenerationExecutor
    {
        static readonly byte[] Png = Encode();
        static byte[] Encode()
        {
            using var bitmap = new SkiaSharp.SKBitmap(2, 2);
            using var data = bitmap.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
            return data.ToArray();
        }

        public List<List<int>> Calls { get; } = [];
        public async Task ExecuteAsync(GenerationExecution generation, Func<GeneratedImage, Task> imageReady, IProgress<JobProgress> progress, CancellationToken ct)
        {
            Calls.Add(generation.Encoders.Select(e => e.ImageId).ToList());
            foreach (var encoder in generation.Encoders)
            {
                var fault = spoil(Calls.Count, encoder.ImageId);
                if (fault == "throw") throw new System.Runtime.InteropServices.ExternalException(ScalarFault);
                var png = Path.Combine(generation.OutputFolder, $"image-{encoder.ImageId}.png");
                if (fault is null) await File.WriteAllBytesAsync(png, Png, ct);
                await imageReady(new GeneratedImage(encoder.ImageId, fault is null ? png : null, TimeSpan.FromSeconds(1), fault));
            }
        }
    }

    static async Task<(Generation Stored, int First, int Second)> RunFlakyAsync(FlakyExecutor executor)
    {
        var db = await TestDatabase.CreateAsync();
        int id;
        await using (var context = db.CreateDbContext())
        {
            var model = new ModelEntry { Name = "student", Kind = ModelKind.ExportedStudent, Folder = db.Directory };
            context.Models.Add(model);
            await context.SaveChangesAsync();
            var generation = new Generation
            {
                Prompt = "a red circle", Seed = 1, Steps = 2, Guidance = 3.5, Width = 64, Height = 64,
                Images = [new GenerationImage { Encoder = "teacher" }, new GenerationImage { Encoder = "student", ModelId = model.Id }],
            };
            context.Generations.Add(generation);
            await context.SaveChangesAsync();
            id = generation.Id;
        }
        await new GenerationJob(db, executor, new GenerationFeed(), new StudioOptions { DataDirectory = db.Directory }, new WorkerIdentity("test:host:1"))
            .Execute(id, CancellationToken.None);
        await using var done = db.CreateDbContext();
        var stored = done.Generations.Include(g => g.Images).Single(g => g.Id == id);
        var ids = stored.Images.OrderBy(i => i.Id).Select(i => i.Id).ToList();
        return (stored, ids[0], ids[1]);
    }

    [Fact]
    public async Task AnImageSpoiledByTheScalarHazardIsDrawnAgainAndTheOthersAreNot()
    {
        var executor = new FlakyExecutor((call, image) => call == 1 && image % 2 == 0 ? ScalarFault : null);
        var (stored, first, second) = await RunFlakyAsync(executor);
        Assert.True(stored.State == GenerationState.Completed, stored.Error);
        Assert.All(stored.Images, i => Assert.Equal((GenerationState.Completed, (string?)null), (i.State, i.Error)));
        Assert.Equal([[first, second], [first % 2 == 0 ? first : second]], executor.Calls.Select(c => c.Order().ToList()));
    }

    [Fact]
    public async Task ARenderingStoppedByTheScalarHazardGoesOnWithTheImagesNotDrawnAndAFaultThatKeepsComingFailsThem()
    {
        var stopped = new FlakyExecutor((call, image) => call == 1 && image % 2 == 0 ? "throw" : null);
        var (stored, first, second) = await RunFlakyAsync(stopped);
        Assert.Equal(GenerationState.Completed, stored.State);
        var spoiledOne = first % 2 == 0 ? first : second;
        Assert.Equal([[first, second], [spoiledOne]], stopped.Calls.Select(c => c.Order().ToList()));

        var always = new FlakyExecutor((_, image) => image % 2 == 0 ? ScalarFault : null);
        var (failed, _, _) = await RunFlakyAsync(always);
        Assert.Equal(1 + RunJob.MaxScalarFaultResumes, always.Calls.Count);
        var bad = failed.Images.Single(i => i.Id % 2 == 0);
        Assert.Equal((GenerationState.Failed, ScalarFault), (bad.State, bad.Error));
        Assert.Equal(GenerationState.Failed, failed.State);
        Assert.Equal(GenerationState.Completed, failed.Images.Single(i => i.Id % 2 == 1).State);
    }
}
