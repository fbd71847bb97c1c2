using Studio.Core.Data;
using Studio.Core.Live;

namespace Studio.Core.Tests;

/// <summary>A run's series as CSV: every point in step order, breakdown columns from every point, gaps as empty cells, RFC 4180 quoting.</summary>
public class RunCsvTests
{
    static readonly DateTime At = new(2026, 12, 5, 10, 0, 17, 250, DateTimeKind.Utc);

    [Fact]
    public async Task MetricsHaveOneRowPerStepAndAColumnForEveryCategoryAndSigmaBucketAnyPointReported()
    {
        var db = await TestDatabase.CreateAsync();
        var run = await db.AddRunAsync();
        var other = await db.AddRunAsync("other");
        await using (var context = db.CreateDbContext())
        {
            context.MetricPoints.AddRange(
                // Stored out of order; step 2 diverged (no loss) and has a category the first point lacks.
                new MetricPoint
                {
                    RunId = run.Id, Stage = 1, Step = 2, Time = At.AddSeconds(1), ElapsedSeconds = 1.5, Loss = null, LearningRate = 1e-4,
                    GradientNorm = null, UpdatesPerSecond = 2, PromptsPerSecond = 8, ProcessMemoryBytes = 1_000, CudaMemoryBytes = 7_000_000_000,
                    LossByCategoryJson = """{"text": 0.5, "colour, \"bold\"": 0.25}""",
                    GradNormByModuleJson = """{"embedding": 0.5, "block 0": 0.25, "block 1": 0.75, "projection": 2}""",
                },
                new MetricPoint
                {
                    RunId = run.Id, Stage = 0, Step = 1, Time = At, ElapsedSeconds = 0.5, Loss = 0.125, LearningRate = 1e-4, GradientNorm = 3,
                    UpdatesPerSecond = 2, PromptsPerSecond = 8, ProcessMemoryBytes = 900, LossByCategoryJson = """{"text": 0.125}""",
                    LossBySigmaBucketJson = """{"0.9-1.0": 0.2, "0.0-0.1": 0.1}""",
                    GradNormByModuleJson = """{"embedding": 1, "block 0": 2, "projection": 3}""",
                },
                new MetricPoint { RunId = other.Id, Step = 1, Time = At, Loss = 9 });
            await context.SaveChangesAsync();
        }

        var csv = new StringWriter();
        await RunCsv.WriteMetricsAsync(db, run.Id, csv);

        Assert.Equal(
            "step,stage,time_utc,elapsed_s,loss,learning_rate,grad_norm,updates_per_s,prompts_per_s,process_memory_bytes,gpu_memory_bytes," +
            "\"loss/colour, \"\"bold\"\"\",loss/text,loss_sigma/0.0-0.1,loss_sigma/0.9-1.0," +
            // The student's parts in the order the trainer reports them (a part first seen later joins in that order).
            "grad_norm/embedding,grad_norm/block 0,grad_norm/projection,grad_norm/block 1\r\n" +
            "1,1,2026-12-05T10:00:17.250Z,0.5,0.125,0.0001,3,2,8,900,,,0.125,0.1,0.2,1,2,3,\r\n" +
            "2,2,2026-12-05T10:00:18.250Z,1.5,,0.0001,,2,8,1000,7000000000,0.25,0.5,,,0.5,0.25,2,0.75\r\n",
            csv.ToString());
    }

    [Fact]
    public async Task ValidationHasOneRowPerStepAndCategory()
    {
        var db = await TestDatabase.CreateAsync();
        var run = await db.AddRunAsync();
        await using (var context = db.CreateDbContext())
        {
            context.ValidationPoints.AddRange(
                new ValidationPoint { RunId = run.Id, Stage = 0, Step = 20, Category = "text", Time = At, VisionLoss = 0.0796, EmbeddingCosine = 0.088 },
                new ValidationPoint { RunId = run.Id, Stage = 0, Step = 20, Category = "semantics/colour", Time = At, VisionLoss = 0.073, EmbeddingCosine = null },
                new ValidationPoint { RunId = run.Id, Stage = 1, Step = 10, Category = "text", Time = At, VisionLoss = null, EmbeddingCosine = 1 });
            await context.SaveChangesAsync();
        }

        var csv = new StringWriter();
        await RunCsv.WriteValidationAsync(db, run.Id, csv);

        Assert.Equal(
            "step,stage,time_utc,category,vision_loss,embedding_cosine\r\n" +
            "10,2,2026-12-05T10:00:17.250Z,text,,1\r\n" +
            "20,1,2026-12-05T10:00:17.250Z,semantics/colour,0.073,\r\n" +
            "20,1,2026-12-05T10:00:17.250Z,text,0.0796,0.088\r\n",
            csv.ToString());
    }
}
