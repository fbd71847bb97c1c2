using Studio.Core.Data;
using Studio.Core.Live;
using Studio.Ml.Toy;

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

    [Fact]
    public async Task EvaluationsHaveOneRowPerCompletedEvaluationAfterTheTeachersWithTheSameSettings()
    {
        var db = await TestDatabase.CreateAsync();
        var run = await db.AddRunAsync();
        var other = await db.AddRunAsync("other");
        var intervals = System.Text.Json.JsonSerializer.Serialize(new ToyIntervals(Semantics: new ScoreInterval(0.25, 0.5)), ToyJson.Options);
        var categories = System.Text.Json.JsonSerializer.Serialize(new List<ToyCategoryScore> { new("text", 10, 0.125, new ScoreInterval(0, 0.375), TeacherDifference: 6.5) }, ToyJson.Options);
        CheckpointEvaluation Evaluation(int? runId, long step, double semantics, EvaluationState state = EvaluationState.Completed, int prompts = 10) => new()
        {
            RunId = runId, Step = step, Pipeline = "toy", Encoder = runId is null ? "teacher" : $"run {runId} · step {step}", PromptsPerCategory = prompts,
            Seeds = 1, Steps = 20, Guidance = 3.5, State = state, Semantics = semantics, EncoderLatencyMs = 0.75, Device = "cpu",
            FinishedAt = At, Seconds = 4.5, EncoderParameters = 1000,
        };
        await using (var context = db.CreateDbContext())
        {
            var step20 = Evaluation(run.Id, 20, 0.375);
            (step20.IntervalsJson, step20.CategoriesJson, step20.TeacherDifference) = (intervals, categories, 7.25);
            context.Evaluations.AddRange(step20, Evaluation(run.Id, 10, 0.5), Evaluation(run.Id, 30, 0.1, EvaluationState.Failed),
                Evaluation(null, 0, 0.625), Evaluation(null, 0, 0.9, prompts: 4), Evaluation(other.Id, 10, 0.2));
            await context.SaveChangesAsync();
        }

        var csv = new StringWriter();
        await RunCsv.WriteEvaluationsAsync(db, run.Id, csv);
        var lines = csv.ToString().Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var header = lines[0].Split(',');
        Assert.Equal(["evaluation_id", "encoder", "step", "split", "prompts_per_category", "seeds", "steps", "guidance", "agreement_resolution",
            "agreement_max_sequence_length", "device", "dtype", "finished_utc", "seconds", "encoder_parameters", "semantics", "semantics_low",
            "semantics_high", "text", "text_low", "text_high"], header.Take(21));
        string Cell(int row, string column) => lines[row].Split(',')[Array.IndexOf(header, column)];
        // The teacher with the run's settings, then the run's checkpoints by step; failed ones, other settings and other runs are left out.
        Assert.Equal(4, lines.Length);
        Assert.Equal(["teacher", "run 1 · step 10", "run 1 · step 20"], lines.Skip(1).Select((_, i) => Cell(i + 1, "encoder")));
        Assert.Equal(["", "10", "20"], lines.Skip(1).Select((_, i) => Cell(i + 1, "step")));
        Assert.Equal(["0.625", "0.5", "0.375"], lines.Skip(1).Select((_, i) => Cell(i + 1, "semantics")));
        Assert.Equal(("0.25", "0.5", "", ""), (Cell(3, "semantics_low"), Cell(3, "semantics_high"), Cell(2, "semantics_low"), Cell(3, "latency_low")));
        Assert.Equal(("7.25", "0.125", "0", "0.375", "6.5", "0.75"), (Cell(3, "teacher-difference"), Cell(3, "category:text"), Cell(3, "category:text_low"),
            Cell(3, "category:text_high"), Cell(3, "teacher-difference:text"), Cell(3, "latency")));
        Assert.Equal(("heldout", "10", "1", "20", "3.5", "cpu", "2026-12-05T10:00:17.250Z", "4.5", "1000"), (Cell(1, "split"), Cell(1, "prompts_per_category"),
            Cell(1, "seeds"), Cell(1, "steps"), Cell(1, "guidance"), Cell(1, "device"), Cell(1, "finished_utc"), Cell(1, "seconds"), Cell(1, "encoder_parameters")));
        // A toy-world evaluation has no agreement size; one stored before the dtype was is float32's.
        Assert.Equal(("", "", "float32"), (Cell(1, "agreement_resolution"), Cell(1, "agreement_max_sequence_length"), Cell(1, "dtype")));
    }

    [Fact]
    public async Task ABfloat16EvaluationIsListedWithTheTeacherInBfloat16NotTheFloat32One()
    {
        var db = await TestDatabase.CreateAsync();
        var run = await db.AddRunAsync();
        CheckpointEvaluation Evaluation(int? runId, double semantics, string? dtype) => new()
        {
            RunId = runId, Step = runId is null ? 0 : 20, Pipeline = "toy", Encoder = runId is null ? "teacher" : "run 1 · step 20", PromptsPerCategory = 10,
            Seeds = 1, Steps = 20, Guidance = 3.5, State = EvaluationState.Completed, Semantics = semantics, DType = dtype, FinishedAt = At,
        };
        await using (var context = db.CreateDbContext())
        {
            context.Evaluations.AddRange(Evaluation(null, 0.625, null), Evaluation(null, 0.5, "bfloat16"), Evaluation(run.Id, 0.25, "bfloat16"));
            await context.SaveChangesAsync();
        }
        var csv = new StringWriter();
        await RunCsv.WriteEvaluationsAsync(db, run.Id, csv);
        var lines = csv.ToString().Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var header = lines[0].Split(',');
        string Cell(int row, string column) => lines[row].Split(',')[Array.IndexOf(header, column)];
        Assert.Equal(3, lines.Length);
        Assert.Equal([("teacher", "0.5", "bfloat16"), ("run 1 · step 20", "0.25", "bfloat16")],
            [(Cell(1, "encoder"), Cell(1, "semantics"), Cell(1, "dtype")), (Cell(2, "encoder"), Cell(2, "semantics"), Cell(2, "dtype"))]);
    }

    [Fact]
    public async Task AnEvaluationByTeacherAgreementSaysItsSizeAndHasNoToyScores()
    {
        var db = await TestDatabase.CreateAsync();
        var run = await db.AddRunAsync();
        await using (var context = db.CreateDbContext())
        {
            context.Evaluations.Add(new CheckpointEvaluation
            {
                RunId = run.Id, Step = 40, Pipeline = "/models/flux-dev", Encoder = "run 1 · step 40", PromptsPerCategory = 10, Seeds = 1, Steps = 20,
                Guidance = 3.5, State = EvaluationState.Completed, Resolution = 512, MaxSequenceLength = 77, TeacherDifference = 9.5, FinishedAt = At,
            });
            await context.SaveChangesAsync();
        }
        var csv = new StringWriter();
        await RunCsv.WriteEvaluationsAsync(db, run.Id, csv);
        var lines = csv.ToString().Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var header = lines[0].Split(',');
        string Cell(string column) => lines[1].Split(',')[Array.IndexOf(header, column)];
        Assert.Equal(("512", "77", "9.5", "", ""), (Cell("agreement_resolution"), Cell("agreement_max_sequence_length"), Cell("teacher-difference"),
            Cell("semantics"), Cell("text")));
    }
}
