using System.Text.Json;
using Hangfire;
using Hangfire.Storage.SQLite;
using Microsoft.EntityFrameworkCore;
using Studio.Core;
using Studio.Core.Data;
using Studio.Core.Evaluations;
using Studio.Core.Hosting;
using Studio.Core.Jobs;
using Studio.Core.Live;
using Studio.Ml.Models.T5;
using Studio.Ml;
using Studio.Ml.Diffusion;
using Studio.Ml.Distillation;
using Studio.Ml.Tests;
using Studio.Ml.Toy;
using TorchSharp;

namespace Studio.Cli.Tests;

/// <summary>
/// The studio's evaluation job (Studio.Core) end to end with the real evaluator on the shipped toy teacher at tiny
/// settings: it lives here because this test project has LibTorch and references Studio.Core through the CLI.
/// </summary>
public class EvaluationJobTests
{
    sealed class Database(DbContextOptions<StudioDbContext> options) : IDbContextFactory<StudioDbContext>
    {
        public StudioDbContext CreateDbContext() => new(options);
    }

    static readonly EvaluationSettings Tiny = new(PromptsPerCategory: 1, Seeds: 1, Steps: 2);

    [Fact]
    public async Task TheStoredMetricsAreWhatStudioEvalComputesForACheckpointAndForTheTeacher()
    {
        TorchRuntime.Initialise();
        var dir = TestPaths.NewTempDirectory("evaluation-job");
        var db = new Database(new DbContextOptionsBuilder<StudioDbContext>().UseSqlite($"Data Source={Path.Combine(dir, "studio.db")}").Options);
        await using (var context = db.CreateDbContext()) await context.Database.EnsureCreatedAsync();
        var options = new StudioOptions { DataDirectory = dir };
        var jobs = new BackgroundJobClient(new SQLiteStorage(Path.Combine(dir, "hangfire.db")));
        var service = new EvaluationService(db, jobs, new EvaluationFeed(), options);
        var job = new EvaluationJob(db, new ToyEvaluationExecutor(), new EvaluationFeed(), new RunFeed(), options, new WorkerIdentity("test:host:1"));

        // A training checkpoint of a toy-small student (untrained) that fits the toy teacher's transformer.
        var config = RunPresets.Find("toy-study-small").Create();
        using var pipeline = FluxPipeline.Load(ToyTeacher.Folder);
        string checkpointPath;
        using (var student = StudentEncoder.Create(StudentPresets.Resolve(config.Student), pipeline.Transformer.Config.JointAttentionDim, config.Student.ProjectionDropout, seed: 3))
        {
            var optimizer = torch.optim.AdamW(student.parameters());
            checkpointPath = TrainingCheckpoint.Save(Path.Combine(dir, "checkpoints"), student, optimizer, new TrainingState
            {
                Stage = 0, StageUpdate = 5, GlobalStep = 5, BatchIndex = 5, TrajectoryStep = 0,
                BatchStartMix = new MixPosition(0, [0]), Mix = new MixPosition(0, [0]), ConfigYaml = config.ToYaml(),
            }, null);
        }
        int runId, checkpointId, brokenId;
        await using (var context = db.CreateDbContext())
        {
            var run = new Run { Name = "toy-study-small", State = RunState.Completed, ConfigYaml = config.ToYaml() };
            context.Runs.Add(run);
            await context.SaveChangesAsync();
            var checkpoint = new CheckpointEntry { RunId = run.Id, Path = checkpointPath, Step = 5 };
            var notACheckpoint = new CheckpointEntry { RunId = run.Id, Path = TestPaths.NewTempDirectory("not-a-checkpoint"), Step = 6 };
            context.Checkpoints.AddRange(checkpoint, notACheckpoint);
            await context.SaveChangesAsync();
            (runId, checkpointId, brokenId) = (run.Id, checkpoint.Id, notACheckpoint.Id);
        }

        var evaluation = await service.RequestCheckpointAsync(checkpointId, Tiny);
        await job.Execute(evaluation.Id, CancellationToken.None);
        var teacherEvaluation = await service.RequestTeacherAsync(settings: Tiny);
        await job.Execute(teacherEvaluation.Id, CancellationToken.None);

        // The same inputs through `studio eval`'s routine.
        var evalOptions = EvaluationJob.OptionsOf((await service.FindAsync(evaluation.Id))!);
        using var studentEncoder = ToyEvaluation.LoadTextEncoder2(checkpointPath);
        var expected = ToyEvaluation.Run(pipeline, studentEncoder, evalOptions);
        var expectedTeacher = ToyEvaluation.Run(pipeline, null, evalOptions);

        foreach (var (id, reference) in new[] { (evaluation.Id, expected), (teacherEvaluation.Id, expectedTeacher) })
        {
            var stored = (await service.FindAsync(id))!;
            Assert.True(stored.State == EvaluationState.Completed, stored.Error);
            Assert.Equal(reference.EncoderParameters, stored.EncoderParameters);
            Assert.Equal(reference.ImageQualityFrechet, stored.ImageQualityFrechet);
            Assert.Equal(reference.FrechetAll, stored.FrechetAll);
            Assert.Equal(reference.Semantics, stored.Semantics);
            Assert.Equal(reference.Text, stored.Text);
            Assert.Equal(JsonSerializer.Serialize(reference.Categories, ToyJson.Options), stored.CategoriesJson);
            Assert.True(stored.EncoderLatencyMs > 0);
            using var report = JsonDocument.Parse(File.ReadAllText(stored.ReportPath!));
            Assert.Equal(reference.Items.Count, report.RootElement.GetProperty("items").GetArrayLength());
            Assert.Equal(reference.Items.Select(i => i.Detail), report.RootElement.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("detail").GetString()));
        }
        Assert.NotEqual(expected.EncoderParameters, expectedTeacher.EncoderParameters);
        // The checkpoint's difference to the teacher; the teacher's images it drew are kept by the worker, for the next.
        Assert.Equal((expected.TeacherDifference, expected.TeacherSimilarity), ((await service.FindAsync(evaluation.Id))!.TeacherDifference, (await service.FindAsync(evaluation.Id))!.TeacherSimilarity));
        Assert.Equal([TeacherImageStore.Key(pipeline, evalOptions) + ".safetensors"],
            Directory.GetFiles(EvaluationJob.TeacherImagesFolder(options)).Select(Path.GetFileName));
        Assert.StartsWith(Path.Combine(options.ArtifactRoot, "runs", $"run-{runId}", "evaluations"), (await service.FindAsync(evaluation.Id))!.ReportPath);

        // A checkpoint folder that holds no student fails, naming the folder, and the run's other data stays.
        var broken = await service.RequestCheckpointAsync(brokenId, Tiny);
        await job.Execute(broken.Id, CancellationToken.None);
        var failed = (await service.FindAsync(broken.Id))!;
        Assert.Equal(EvaluationState.Failed, failed.State);
        Assert.Contains((await db.CreateDbContext().Checkpoints.FindAsync(brokenId))!.Path, failed.Error);
        Assert.Equal(3, (await service.ListAsync([runId])).Count);
    }

    [Theory]
    [InlineData("flux")]
    [InlineData("sd3")]
    public async Task ACheckpointOfATeacherOutsideTheToyWorldIsMeasuredByTeacherAgreement(string family)
    {
        TorchRuntime.Initialise();
        using var flux = family == "flux" ? new Studio.Ml.Tests.Diffusion.TinyFluxPipelineFolder() : null;
        using var sd3 = family == "sd3" ? new Studio.Ml.Tests.Diffusion.TinySd3PipelineFolder() : null;
        var teacherFolder = flux?.Folder ?? sd3!.Folder;
        var dir = TestPaths.NewTempDirectory("evaluation-agreement");
        var db = new Database(new DbContextOptionsBuilder<StudioDbContext>().UseSqlite($"Data Source={Path.Combine(dir, "studio.db")}").Options);
        await using (var context = db.CreateDbContext()) await context.Database.EnsureCreatedAsync();
        // The worker scores every image with a CLIP model too (Studio:ClipModel).
        var clip = Studio.Ml.Tests.Evaluation.TinyClipFolder.Create();
        var options = new StudioOptions { DataDirectory = dir, AllowedRoots = [teacherFolder, dir, clip], ClipModel = clip };
        var jobs = new BackgroundJobClient(new SQLiteStorage(Path.Combine(dir, "hangfire.db")));
        var service = new EvaluationService(db, jobs, new EvaluationFeed(), options);
        var job = new EvaluationJob(db, new ToyEvaluationExecutor(), new EvaluationFeed(), new RunFeed(), options, new WorkerIdentity("test:host:1"));

        // A run of the tiny pipeline (a FLUX.1 or SD3 layout, not of the toy world) that samples at 32 px with 16 tokens.
        var config = RunPresets.Find("toy-study-small").Create();
        config.Teacher.Pipeline = teacherFolder;
        config.Samples.Resolution = 32;
        config.Text.MaxLength = 16;
        using var pipeline = TeacherFamily.LoadPipeline(teacherFolder);
        string checkpointPath;
        using (var student = StudentEncoder.Create(StudentPresets.Resolve(config.Student), SlotWidth(pipeline), 0, seed: 3))
        {
            var optimizer = torch.optim.AdamW(student.parameters());
            checkpointPath = TrainingCheckpoint.Save(Path.Combine(dir, "checkpoints"), student, optimizer, new TrainingState
            {
                Stage = 0, StageUpdate = 5, GlobalStep = 5, BatchIndex = 5, TrajectoryStep = 0,
                BatchStartMix = new MixPosition(0, [0]), Mix = new MixPosition(0, [0]), ConfigYaml = config.ToYaml(),
            }, null);
        }
        int runId, checkpointId;
        await using (var context = db.CreateDbContext())
        {
            var run = new Run { Name = family, State = RunState.Completed, ConfigYaml = config.ToYaml() };
            context.Runs.Add(run);
            await context.SaveChangesAsync();
            var checkpoint = new CheckpointEntry { RunId = run.Id, Path = checkpointPath, Step = 5 };
            context.Checkpoints.Add(checkpoint);
            await context.SaveChangesAsync();
            (runId, checkpointId) = (run.Id, checkpoint.Id);
        }

        var teacher = await service.RequestRunTeacherOnceAsync(runId, Tiny);
        await job.Execute(teacher!.Id, CancellationToken.None);
        var evaluation = await service.RequestCheckpointAsync(checkpointId, Tiny);
        await job.Execute(evaluation.Id, CancellationToken.None);

        // What `studio eval --agreement-only --resolution 32 --max-sequence-length 16` computes for the same checkpoint.
        var stored = (await service.FindAsync(evaluation.Id))!;
        Assert.True(stored.State == EvaluationState.Completed, stored.Error);
        var evalOptions = EvaluationJob.OptionsOf(stored);
        Assert.Equal((false, 32, 16), (evalOptions.ScoreScenes, evalOptions.Resolution, evalOptions.MaxSequenceLength));
        using var studentEncoder = ToyEvaluation.LoadTextEncoder2(checkpointPath);
        using var scorer = Studio.Ml.Evaluation.ClipScorer.Load(clip);
        var expected = ToyEvaluation.Run(pipeline, studentEncoder, evalOptions, clip: scorer);
        Assert.True(expected.TeacherDifference > 0);
        Assert.NotNull(expected.ClipScore);
        Assert.Equal(expected.ClipScore, stored.ClipScore);
        Assert.Equal(expected.TeacherDifference, stored.TeacherDifference);
        Assert.True(expected.TeacherSimilarity < 1);
        Assert.Equal(expected.TeacherSimilarity, stored.TeacherSimilarity);
        Assert.Equal(JsonSerializer.Serialize(expected.Categories, ToyJson.Options), stored.CategoriesJson);
        Assert.Equal((null, null, null, null), (stored.Semantics, stored.Text, stored.FrechetAll, stored.ImageQualityFrechet));
        Assert.Equal(expected.EncoderParameters, stored.EncoderParameters);
        // The teacher's evaluation drew its images at that size and kept them; the checkpoint's compared with them.
        var teacherRow = (await service.FindAsync(teacher.Id))!;
        Assert.True(teacherRow.State == EvaluationState.Completed, teacherRow.Error);
        Assert.Equal(stored.SettingsKey, teacherRow.SettingsKey);
        Assert.Equal(ToyEvaluation.Run(pipeline, null, evalOptions, clip: scorer).ClipScore, teacherRow.ClipScore);
        Assert.Equal([TeacherImageStore.Key(pipeline, evalOptions) + ".safetensors"],
            Directory.GetFiles(EvaluationJob.TeacherImagesFolder(options)).Select(Path.GetFileName));
        await using (var context = db.CreateDbContext())
            Assert.Contains(await context.RunEvents.Where(e => e.RunId == runId).Select(e => e.Message).ToListAsync(),
                m => m.StartsWith("Evaluated the step 5 checkpoint (") && m.Contains("agreement at 32 px, 16 tokens): mean |Δ| to the teacher "));

        // With a LoRA of the transformer (FLUX's layer names here): its own series, the teacher's images and the
        // student's drawn with it merged, as `studio eval --lora` draws them.
        if (family != "flux") return;
        var lora = Path.Combine(dir, "style.safetensors");
        torch.manual_seed(6);
        Studio.Ml.Tensors.SafeTensorsWriter.Save(lora, new Dictionary<string, torch.Tensor>
        {
            ["transformer.transformer_blocks.0.attn.to_q.lora_A.weight"] = torch.randn(4, 32) * 0.5,
            ["transformer.transformer_blocks.0.attn.to_q.lora_B.weight"] = torch.randn(32, 4) * 0.5,
        });
        var withLora = Tiny with { Lora = lora, LoraScale = 0.5 };
        var loraTeacher = await service.RequestRunTeacherOnceAsync(runId, withLora);
        await job.Execute(loraTeacher!.Id, CancellationToken.None);
        var loraEvaluation = await service.RequestCheckpointAsync(checkpointId, withLora);
        await job.Execute(loraEvaluation.Id, CancellationToken.None);
        var loraStored = (await service.FindAsync(loraEvaluation.Id))!;
        Assert.True(loraStored.State == EvaluationState.Completed, loraStored.Error);
        Assert.EndsWith($" · LoRA {lora} × 0.5 · agreement at 32 px, 16 tokens", loraStored.SettingsKey);
        using (var weights = Studio.Ml.Models.Common.LoraWeights.Load(lora))
        using (weights.MergeInto(pipeline.WeightedParts[0].Module, 0.5))
        {
            var expectedWithLora = ToyEvaluation.Run(pipeline, studentEncoder, evalOptions, clip: scorer);
            Assert.Equal(expectedWithLora.TeacherDifference, loraStored.TeacherDifference);
            Assert.Equal(expectedWithLora.ClipScore, loraStored.ClipScore);
        }
        Assert.NotEqual(stored.TeacherDifference, loraStored.TeacherDifference);
        Assert.Equal(2, Directory.GetFiles(EvaluationJob.TeacherImagesFolder(options)).Length);
        using var report = JsonDocument.Parse(File.ReadAllText(loraStored.ReportPath!));
        Assert.Equal(lora, report.RootElement.GetProperty("lora").GetString());
    }

    /// <summary>The width the transformer reads from the T5 slot (FLUX's and SD3's joint_attention_dim).</summary>
    static int SlotWidth(ISlotPipeline pipeline) => pipeline switch
    {
        FluxPipeline f => f.Transformer.Config.JointAttentionDim,
        Sd3Pipeline s => s.Transformer.Config.JointAttentionDim,
        _ => throw new ArgumentException("a FLUX or SD3 pipeline"),
    };
}
