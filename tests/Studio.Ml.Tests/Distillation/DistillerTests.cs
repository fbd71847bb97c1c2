using Studio.Ml.Distillation;
using Studio.Ml.Models.T5;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Distillation;

/// <summary>
/// A student's initialisation draws from LibTorch's global generator (and on a GPU its dropout too), which tests running in
/// parallel would share: run these alone.
/// </summary>
[CollectionDefinition("global torch generator", DisableParallelization = true)]
public class GlobalTorchGenerator;

[Collection("global torch generator")]
public class DistillerTests
{
    [Fact]
    public void VisionLossFallsOverAFewHundredUpdates()
    {
        using var world = new TinyWorld();
        var reporter = new RecordingReporter();
        var config = TinyWorld.Config(updates: 240);
        var distiller = new Distiller(config, world.Context(world.NewStudent(), world.FilledTeacher()), world.Directory, reporter);
        distiller.Run(CancellationToken.None);

        Assert.Equal(240, reporter.Updates.Count);
        Assert.Equal(Enumerable.Range(1, 240).Select(i => (long)i), reporter.Updates.Select(u => u.Step));
        var first = reporter.Updates.Take(40).Average(u => u.Loss);
        var last = reporter.Updates.TakeLast(40).Average(u => u.Loss);
        Assert.True(last < 0.5 * first, $"loss did not fall: first 40 mean {first:G4}, last 40 mean {last:G4}");
        Assert.All(reporter.Updates, u => Assert.True(u.GradientNorm > 0 && double.IsFinite(u.Loss)));
        // Every report carries the categories of its batch and one sigma bucket.
        Assert.All(reporter.Updates, u => Assert.Single(u.LossBySigmaBucket));
        Assert.Contains(reporter.Updates, u => u.LossByCategory.ContainsKey("text"));
        Assert.Contains(reporter.Events, e => e.Kind == TrainingEventKind.CheckpointWritten);
    }

    /// <summary>A step reports its phases in order as their work is queued; a step that is not an update has no student or optimizer phase.</summary>
    [Fact]
    public void EachUpdateReportsTheGradientNormByPartOfTheStudentWhoseSquaresAddUpToTheNorm()
    {
        using var world = new TinyWorld();
        var reporter = new RecordingReporter();
        new Distiller(TinyWorld.Config(updates: 4), world.Context(world.NewStudent(), world.FilledTeacher()), world.Directory, reporter).Run(CancellationToken.None);

        Assert.Equal(4, reporter.Updates.Count);
        foreach (var u in reporter.Updates)
        {
            // From input to output: the tiny student's one block between its embedding and its projection.
            Assert.Equal(["embedding", "block 0", "final norm", "projection"], u.GradientNormByModule.Keys);
            Assert.All(u.GradientNormByModule.Values, n => Assert.True(n > 0 && double.IsFinite(n), $"{n}"));
            var total = Math.Sqrt(u.GradientNormByModule.Values.Sum(n => n * n));
            Assert.Equal(u.GradientNorm, total, u.GradientNorm * 1e-4);
        }
    }

    [Fact]
    public void AStepReportsItsPhasesInOrder()
    {
        using var world = new TinyWorld();
        var config = TinyWorld.Config();
        config.Trajectory.UpdateEvery = 2;
        var distiller = new Distiller(config, world.Context(world.NewStudent(), world.FilledTeacher()), world.Directory, new RecordingReporter());
        var texts = TinyWorld.Prompts.Take(2).ToList();
        var (ids, mask) = TinyWorld.Tokenize(texts, TinyWorld.MaxLength);
        var teacher = world.FilledTeacher();
        using var trajectory = distiller.StartTrajectory(0, 1, 32, ids, mask, new TextConditioning(teacher.States(texts), null, zeros(2, world.FluxModel.Config.PooledProjectionDim)));

        var phases = new List<string>();
        var update = distiller.Step(trajectory, 0, 1e-3, 0, phases.Add);
        Assert.NotNull(update);
        Assert.Equal([UpdatePhase.Teacher, UpdatePhase.Student, UpdatePhase.Optimizer, UpdatePhase.Euler], phases);

        phases.Clear();
        Assert.Null(distiller.Step(trajectory, 1, 1e-3, 1, phases.Add));
        Assert.Equal([UpdatePhase.Teacher, UpdatePhase.Euler], phases);
    }

    [Fact]
    public void NaiveEmbeddingLossRunsAndFalls()
    {
        using var world = new TinyWorld();
        var reporter = new RecordingReporter();
        new Distiller(TinyWorld.Config(LossKind.Naive, updates: 120), world.Context(world.NewStudent(), world.FilledTeacher()), world.Directory, reporter)
            .Run(CancellationToken.None);
        Assert.True(reporter.Updates.TakeLast(20).Average(u => u.Loss) < reporter.Updates.Take(20).Average(u => u.Loss));
    }

    [Fact]
    public async Task TwoRunsTrainingAtOnceInOneProcessEachTrainAsItWouldAlone()
    {
        using var world = new TinyWorld();
        var teacher = world.FilledTeacher();
        StudentEncoder Train(string name)
        {
            var student = world.NewStudent();
            new Distiller(TinyWorld.Config(updates: 12), world.Context(student, teacher), Path.Combine(world.Directory, name), new RecordingReporter())
                .Run(CancellationToken.None);
            return student;
        }
        var alone = Train("alone").state_dict();

        // Two runs at once on two threads (two workers of one process), while a third thread seeds and draws from the
        // process's global generator, as anything else in the process may (loading a teacher: every new module draws
        // its initial weights from it): each run's student starts from its own seed and draws its own dropout masks.
        using var stop = new CancellationTokenSource();
        var other = Task.Run(() =>
        {
            for (var seed = 100; !stop.IsCancellationRequested; seed++)
            {
                manual_seed(seed);
                using var drawn = rand(10_000);
                using var module = T5Encoder.Create(TinyWorld.StudentT5);
            }
        });
        var students = await Task.WhenAll(Task.Run(() => Train("a")), Task.Run(() => Train("b")));
        stop.Cancel();
        await other;
        foreach (var student in students)
            foreach (var (name, value) in student.state_dict())
                Assert.True(value.eq(alone[name]).all().item<bool>(), $"{name} differs from the run trained alone");
    }

    [Fact]
    public async Task OnTheDevicesGeneratorTwoRunsAtOnceEachTrainAsTheyWouldAloneToo()
    {
        // A GPU's path (TorchSharp makes no CUDA generator), run here on the CPU: each student forward seeds the
        // device's global generator under DeviceDropout's lock.
        using var world = new TinyWorld();
        var teacher = world.FilledTeacher();
        // Students are built first: building a module draws from the CPU's global generator, which here stands in for
        // the GPU's (on a GPU, modules are built on the CPU and moved, so nothing else draws from the device's).
        StudentEncoder Train(string name, DropoutRandom dropout, int gradAccumulation = 1, StudentEncoder? built = null)
        {
            var student = built ?? world.NewStudent();
            var config = TinyWorld.Config(updates: 12);
            config.Optimizer.GradAccumulation = gradAccumulation;
            new Distiller(config, world.Context(student, teacher), Path.Combine(world.Directory, name), new RecordingReporter(), dropout)
                .Run(CancellationToken.None);
            return student;
        }
        static bool Same(StudentEncoder a, StudentEncoder b) => a.state_dict().All(p => p.Value.eq(b.state_dict()[p.Key]).all().item<bool>());

        var alone = Train("alone", DropoutRandom.DeviceGenerator);
        var aloneAccumulating = Train("alone-2", DropoutRandom.DeviceGenerator, gradAccumulation: 2);
        // The masks matter here: the run's own generator draws others and trains another student.
        Assert.False(Same(alone, Train("own", DropoutRandom.RunGenerator)));
        var (a, b, c) = (world.NewStudent(), world.NewStudent(), world.NewStudent());
        var students = await Task.WhenAll(
            Task.Run(() => Train("a", DropoutRandom.DeviceGenerator, built: a)), Task.Run(() => Train("b", DropoutRandom.DeviceGenerator, built: b)),
            Task.Run(() => Train("c", DropoutRandom.DeviceGenerator, gradAccumulation: 2, built: c)));
        Assert.True(Same(alone, students[0]), "run a differs from the run trained alone");
        Assert.True(Same(alone, students[1]), "run b differs from the run trained alone");
        Assert.True(Same(aloneAccumulating, students[2]), "run c (two micro-batches) differs from the run trained alone");
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.9)]
    public void ResumedRunIsBitIdenticalToAnUninterruptedOne(double ema)
    {
        using var world = new TinyWorld();
        var teacher = world.FilledTeacher();
        RunConfig Config()
        {
            var config = TinyWorld.Config(updates: 14);
            config.Optimizer.Ema = ema;
            return config;
        }

        // Uninterrupted: 14 updates (3.5 trajectories of 4 steps).
        var straight = world.NewStudent();
        new Distiller(Config(), world.Context(straight, teacher), Path.Combine(world.Directory, "straight"), new RecordingReporter())
            .Run(CancellationToken.None);

        // Interrupted after update 6 (mid-trajectory), then resumed from that checkpoint in a fresh student.
        var runDir = Path.Combine(world.Directory, "interrupted");
        using var cancel = new CancellationTokenSource();
        var firstHalf = new RecordingReporter { };
        firstHalf.OnUpdate = m => { if (m.Step == 6) cancel.Cancel(); };
        var interrupted = new Distiller(Config(), world.Context(world.NewStudent(), teacher), runDir, firstHalf);
        var stopped = interrupted.Run(cancel.Token);
        Assert.Equal(6, stopped.GlobalStep);
        Assert.NotEqual(0, stopped.TrajectoryStep);
        var checkpoint = TrainingCheckpoint.LatestGood(Path.Combine(runDir, "checkpoints"));
        Assert.EndsWith(TrainingCheckpoint.DirectoryName(6), checkpoint);

        var resumedStudent = world.NewStudent(seed: 99); // different init: everything must come from the checkpoint
        var secondHalf = new RecordingReporter();
        new Distiller(Config(), world.Context(resumedStudent, teacher), runDir, secondHalf).Run(CancellationToken.None, checkpoint);

        Assert.Equal(Enumerable.Range(7, 8).Select(i => (long)i), secondHalf.Updates.Select(u => u.Step));
        Assert.Contains(secondHalf.Events, e => e.Kind == TrainingEventKind.Resumed && e.Step == 6);
        var expected = straight.state_dict();
        foreach (var (name, value) in resumedStudent.state_dict())
            Assert.True(value.eq(expected[name]).all().item<bool>(), $"{name} differs after resume");
        // The final checkpoints' students (the averages, with an average) are the same too.
        using var straightFinal = Checkpoint.Open(Path.Combine(world.Directory, "straight", "checkpoints", TrainingCheckpoint.DirectoryName(14), TrainingCheckpoint.StudentFile));
        using var resumedFinal = Checkpoint.Open(Path.Combine(runDir, "checkpoints", TrainingCheckpoint.DirectoryName(14), TrainingCheckpoint.StudentFile));
        foreach (var name in straightFinal.Names)
        {
            using var a = straightFinal.Read(name);
            using var b = resumedFinal.Read(name);
            Assert.True(a.eq(b).all().item<bool>(), $"{name} of the final checkpoint differs after resume");
        }
        Assert.Equal(ema > 0, File.Exists(Path.Combine(runDir, "checkpoints", TrainingCheckpoint.DirectoryName(14), TrainingCheckpoint.TrainingWeightsFile)));
    }

    [Fact]
    public void WithAnAverageTheCheckpointsStudentIsTheAverageOfTheWeightsAfterEachUpdateAndTrainingGoesOnFromTheLiveOnes()
    {
        using var world = new TinyWorld();
        var teacher = world.FilledTeacher();
        RunConfig Config(bool validate)
        {
            var config = TinyWorld.Config(updates: 3, checkpointEvery: 1000);
            config.Optimizer.Ema = 0.5;
            if (validate) config.Validation = new ValidationConfig { Every = 1, Prompts = [new PromptSource { Set = "tiny" }], PromptsPerCategory = 1, Noises = 1 };
            Assert.Empty(RunConfigChecks.Values(config));
            return config;
        }
        var student = world.NewStudent();
        var start = student.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        var after = new List<Dictionary<string, Tensor>>();
        var reporter = new RecordingReporter { OnUpdate = _ => after.Add(student.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone())) };
        var dir = Path.Combine(world.Directory, "validated");
        new Distiller(Config(validate: true), world.Context(student, teacher), dir, reporter).Run(CancellationToken.None);
        Assert.Equal(3, after.Count);
        Assert.Equal(3, reporter.Validations.Count);

        var checkpoint = Path.Combine(dir, "checkpoints", TrainingCheckpoint.DirectoryName(3));
        using (var averaged = Checkpoint.Open(Path.Combine(checkpoint, TrainingCheckpoint.StudentFile)))
        using (var live = Checkpoint.Open(Path.Combine(checkpoint, TrainingCheckpoint.TrainingWeightsFile)))
        {
            Assert.Equal("0.5", averaged.Metadata["ema"]);
            foreach (var (name, initial) in start)
            {
                // average_k = d_k average_(k-1) + (1 - d_k) weight_k from the weights at the start, d_k = min(0.5, k / (9 + k)).
                var expected = initial;
                foreach (var (step, k) in after.Select((w, i) => (w, i + 1)))
                {
                    var d = Math.Min(0.5, k / (9.0 + k));
                    expected = expected * d + step[name] * (1 - d);
                }
                using var stored = averaged.Read(name);
                Assert.True(stored.allclose(expected, rtol: 1e-6, atol: 1e-7), $"{name}: the average differs");
                using var weights = live.Read(name);
                Assert.True(weights.eq(after[^1][name]).all().item<bool>(), $"{name}: the live weights differ");
            }
        }

        // Validating with the average swapped in leaves training exactly where it would be without validation.
        var unvalidated = world.NewStudent();
        new Distiller(Config(validate: false), world.Context(unvalidated, teacher), Path.Combine(world.Directory, "plain"), new RecordingReporter()).Run(CancellationToken.None);
        foreach (var (name, value) in unvalidated.named_parameters())
            Assert.True(value.eq(student.named_parameters().Single(p => p.name == name).parameter).all().item<bool>(), $"{name}: validation changed the training");
    }

    [Fact]
    public void WithEmaStartTheAverageIsTheWeightsUpToThatUpdateAndWarmsUpFromThere()
    {
        using var world = new TinyWorld();
        var config = TinyWorld.Config(updates: 4, checkpointEvery: 1000);
        (config.Optimizer.Ema, config.Optimizer.EmaStart) = (0.5, 2);
        Assert.Empty(RunConfigChecks.Values(config));
        var student = world.NewStudent();
        var after = new List<Dictionary<string, Tensor>>();
        var reporter = new RecordingReporter { OnUpdate = _ => after.Add(student.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone())) };
        new Distiller(config, world.Context(student, world.FilledTeacher()), world.Directory, reporter).Run(CancellationToken.None);
        Assert.Equal(4, after.Count);

        using var averaged = Checkpoint.Open(Path.Combine(world.Directory, "checkpoints", TrainingCheckpoint.DirectoryName(4), TrainingCheckpoint.StudentFile));
        foreach (var name in after[0].Keys)
        {
            // Updates 1 and 2: the weights themselves; update 3 is the first averaged, d = 1/10; update 4, d = 2/11.
            var expected = after[1][name] * 0.1 + after[2][name] * 0.9;
            expected = expected * (2 / 11.0) + after[3][name] * (9 / 11.0);
            using var stored = averaged.Read(name);
            Assert.True(stored.allclose(expected, rtol: 1e-6, atol: 1e-7), $"{name}: the average differs");
        }
        config.Optimizer.EmaStart = -1;
        Assert.Equal(["optimizer.ema_start: -1 must not be negative (0: the average starts at the first update)"], RunConfigChecks.Values(config));
    }

    /// <summary>
    /// A learning rate of 1e308 ruins the weights at the first update: the second's loss is NaN. The run stops there with
    /// a message that says where and what to change, instead of training NaN weights to the end and completing; the
    /// checkpoint before it stays and no NaN one is written.
    /// </summary>
    [Fact]
    public void ARunWhoseLossIsNoLongerANumberStopsThereAndKeepsTheCheckpointsBefore()
    {
        using var world = new TinyWorld();
        var config = TinyWorld.Config(updates: 8, checkpointEvery: 1);
        config.Optimizer.Lr = 1e308;
        var reporter = new RecordingReporter();
        var distiller = new Distiller(config, world.Context(world.NewStudent(), world.FilledTeacher()), world.Directory, reporter);
        var diverged = Assert.Throws<TrainingDivergedException>(() => distiller.Run(CancellationToken.None));

        var steps = reporter.Updates.Select(u => u.Step).ToList();
        Assert.True(steps.Count is >= 2 and < 8, $"updates reported: {string.Join(", ", steps)}");
        var last = steps[^1];
        Assert.True(double.IsFinite(reporter.Updates[0].Loss));
        Assert.False(double.IsFinite(reporter.Updates[^1].Loss) && double.IsFinite(reporter.Updates[^1].GradientNorm));
        Assert.StartsWith($"the run diverged at update {last}: the ", diverged.Message);
        Assert.Contains("lower optimizer.lr", diverged.Message);
        Assert.EndsWith($"The checkpoints before it are kept (the latest: {TrainingCheckpoint.DirectoryName(last - 1)}).", diverged.Message);
        Assert.Equal(Enumerable.Range(1, (int)last - 1).Select(s => TrainingCheckpoint.DirectoryName(s)),
            Directory.GetDirectories(distiller.CheckpointsDirectory).Select(d => Path.GetFileName(d)!).Order());
    }

    [Fact]
    public void CheckpointsBeyondKeepAreDeletedAndEachDeletionIsReported()
    {
        using var world = new TinyWorld();
        var config = TinyWorld.Config(updates: 8, checkpointEvery: 2);
        config.Checkpoints.Keep = 2;
        var reporter = new RecordingReporter();
        var distiller = new Distiller(config, world.Context(world.NewStudent(), world.FilledTeacher()), world.Directory, reporter);
        distiller.Run(CancellationToken.None);

        var written = reporter.Events.Where(e => e.Kind == TrainingEventKind.CheckpointWritten).Select(e => e.Data![TrainingEventData.Path]).ToList();
        var removed = reporter.Events.Where(e => e.Kind == TrainingEventKind.CheckpointRemoved).Select(e => e.Data![TrainingEventData.Path]).ToList();
        Assert.Equal(4, written.Count); // steps 2, 4, 6, 8
        Assert.Equal(written.Take(2), removed); // the oldest two, each after a newer one was written
        Assert.All(removed, path => Assert.False(Directory.Exists(path), path));
        Assert.Equal(written.Skip(2).Order(), Directory.GetDirectories(distiller.CheckpointsDirectory).Order());
        var firstRemoval = reporter.Events.FindIndex(e => e.Kind == TrainingEventKind.CheckpointRemoved);
        Assert.Equal(written[2], reporter.Events[firstRemoval - 1].Data![TrainingEventData.Path]);
    }

    [Fact]
    public void ACheckpointTheStudioHoldsOutlivesCheckpointsKeepUntilItIsReleased()
    {
        using var world = new TinyWorld();
        var config = TinyWorld.Config(updates: 8, checkpointEvery: 2);
        config.Checkpoints.Keep = 1;
        // Step 2 is held throughout (its evaluation never ends here), step 4 until update 7 (its evaluation ended then).
        var released4 = false;
        var reporter = new RecordingReporter
        {
            HoldWith = path => Path.GetFileName(path) == TrainingCheckpoint.DirectoryName(2) || (Path.GetFileName(path) == TrainingCheckpoint.DirectoryName(4) && !released4),
            OnUpdate = m => released4 |= m.Step >= 7,
        };
        var distiller = new Distiller(config, world.Context(world.NewStudent(), world.FilledTeacher()), world.Directory, reporter);
        distiller.Run(CancellationToken.None);

        // At step 4 and 6 nothing is deleted (2 and 4 are held); at step 8, 6 goes by keep and 4 now that it is released.
        var removed = reporter.Events.Where(e => e.Kind == TrainingEventKind.CheckpointRemoved).Select(e => (e.Step, Path.GetFileName(e.Data![TrainingEventData.Path]))).ToList();
        Assert.Equal([(8L, TrainingCheckpoint.DirectoryName(6)), (8L, TrainingCheckpoint.DirectoryName(4))], removed);
        Assert.Equal([TrainingCheckpoint.DirectoryName(2), TrainingCheckpoint.DirectoryName(8)],
            Directory.GetDirectories(distiller.CheckpointsDirectory).Select(d => Path.GetFileName(d)!).Order());
        // Each hold is said once, when keep would first have deleted the checkpoint: 2 at step 4, 4 at step 6.
        var held = reporter.Events.Where(e => e.Kind == TrainingEventKind.CheckpointHeld).Select(e => (e.Step, Path.GetFileName(e.Data![TrainingEventData.Path]))).ToList();
        Assert.Equal([(4L, TrainingCheckpoint.DirectoryName(2)), (6L, TrainingCheckpoint.DirectoryName(4))], held);

        // A later prune with the hold gone deletes it; one that holds it again does not.
        Assert.Empty(TrainingCheckpoint.Prune(distiller.CheckpointsDirectory, keep: 1, held: _ => true));
        Assert.Equal([Path.Combine(distiller.CheckpointsDirectory, TrainingCheckpoint.DirectoryName(2))], TrainingCheckpoint.Prune(distiller.CheckpointsDirectory, keep: 1));
    }

    [Fact]
    public void TheBestCheckpointIsKeptBesideTheNewestOnesAndScoredWithItsHeldOutLoss()
    {
        using var world = new TinyWorld();
        var config = TinyWorld.Config(updates: 8, checkpointEvery: 2);
        config.Checkpoints.Keep = 1;
        config.Checkpoints.KeepBest = true;
        config.Validation = new ValidationConfig { Every = 2, Prompts = [new PromptSource { Set = "tiny" }], PromptsPerCategory = 1, Noises = 1 };
        Assert.Empty(RunConfigChecks.Values(config));
        var reporter = new RecordingReporter();
        var distiller = new Distiller(config, world.Context(world.NewStudent(), world.FilledTeacher()), world.Directory, reporter);
        distiller.Run(CancellationToken.None);

        // Each checkpoint's score is the mean over categories of the validation at its step.
        var scores = TrainingCheckpoint.Scores(distiller.CheckpointsDirectory);
        var expected = reporter.Validations.ToDictionary(v => TrainingCheckpoint.DirectoryName(v.Step), v => v.ByCategory.Values.Average(c => c.VisionLoss));
        var best = expected.MinBy(e => e.Value).Key;
        var left = Directory.GetDirectories(distiller.CheckpointsDirectory).Select(d => Path.GetFileName(d)!).Order().ToList();
        Assert.Equal(new[] { TrainingCheckpoint.DirectoryName(8), best }.Distinct().Order(), left);
        foreach (var name in left) Assert.Equal(expected[name], scores[name], 12);
        Assert.Equal(Path.Combine(distiller.CheckpointsDirectory, best), TrainingCheckpoint.Best(distiller.CheckpointsDirectory));
        var removed = reporter.Events.Where(e => e.Kind == TrainingEventKind.CheckpointRemoved).Select(e => Path.GetFileName(e.Data![TrainingEventData.Path])).ToList();
        Assert.Equal(4 - left.Count, removed.Count);
        Assert.DoesNotContain(best, removed);
    }

    [Fact]
    public void ARunWhoseHeldOutLossStopsImprovingStopsAtAValidationWithACheckpointAndSaysWhy()
    {
        using var world = new TinyWorld();
        // A learning rate so small that no weight moves in float32: the held-out loss is the same at every validation, so it
        // never goes below its first and the run stops at its third. (A rate far too high, which wrecks the student, made
        // the stop depend on chaotic float noise: one CI run in seven never stopped.)
        var config = TinyWorld.Config(updates: 60, checkpointEvery: 1000);
        config.Optimizer.Lr = 1e-30;
        config.Validation = new ValidationConfig { Every = 2, Prompts = [new PromptSource { Set = "tiny" }], PromptsPerCategory = 1, Noises = 1, Patience = 2 };
        Assert.Empty(RunConfigChecks.Values(config));
        var reporter = new RecordingReporter();
        var distiller = new Distiller(config, world.Context(world.NewStudent(), world.FilledTeacher()), world.Directory, reporter);
        var state = distiller.Run(CancellationToken.None);

        // The stop is where the reported validations first had 2 after their best (the first lowest one).
        var losses = reporter.Validations.Select(v => (v.Step, Loss: v.ByCategory.Values.Average(c => c.VisionLoss))).ToList();
        long? expected = null;
        for (var k = 0; k < losses.Count && expected is null; k++)
        {
            var seen = losses.Take(k + 1).ToList();
            var best = seen.IndexOf(seen.MinBy(l => l.Loss));
            if (k - best >= 2) expected = losses[k].Step;
        }
        Assert.Equal(6, expected); // validations at steps 2, 4 and 6, the last two not below the first
        Assert.True(expected < 60, $"held-out losses: {string.Join(", ", losses)}");
        Assert.Equal(expected, state.GlobalStep);
        Assert.Equal(expected, losses[^1].Step); // nothing validated after the stop
        Assert.Equal(expected, reporter.Updates[^1].Step);
        var stop = Assert.Single(reporter.Events, e => e.Kind == TrainingEventKind.StoppedEarly);
        Assert.Equal(expected, stop.Step);
        Assert.StartsWith($"stopped early at step {expected:N0}: the held-out vision loss", stop.Message);
        Assert.EndsWith("(validation.patience: 2)", stop.Message);
        Assert.Equal(stop.Message, distiller.StoppedEarly);
        // A checkpoint where it stopped, to fork or resume from.
        Assert.Contains(reporter.Events, e => e.Kind == TrainingEventKind.CheckpointWritten && e.Step == expected);
        Assert.True(Directory.Exists(Path.Combine(distiller.CheckpointsDirectory, TrainingCheckpoint.DirectoryName(expected.Value))));
    }

    [Fact]
    public void WithMedianPruningTheStudioIsAskedAfterEachValidationWithTheBestLossAndCanStopTheRun()
    {
        using var world = new TinyWorld();
        var config = TinyWorld.Config(updates: 12, checkpointEvery: 1000);
        config.Validation = new ValidationConfig { Every = 2, Prompts = [new PromptSource { Set = "tiny" }], PromptsPerCategory = 1, Noises = 1, Prune = "median" };
        Assert.Empty(RunConfigChecks.Values(config));
        var reporter = new RecordingReporter { PruneWith = q => q.Step == 8 ? "stopped at step 8 (validation.prune: median): ..." : null };
        var distiller = new Distiller(config, world.Context(world.NewStudent(), world.FilledTeacher()), world.Directory, reporter);
        var state = distiller.Run(CancellationToken.None);

        Assert.Equal(8, state.GlobalStep);
        // Asked from the third validation on (steps 2 and 4 are the warm-up), with the best so far as the trainer's own held-out losses say.
        Assert.Equal([6L, 8], reporter.PruneAsked.Select(a => a.Step));
        var means = reporter.Validations.Select(v => v.ByCategory.Values.Average(c => c.VisionLoss)).ToList();
        Assert.Equal(4, means.Count);
        Assert.Equal([means.Take(3).Min(), means.Take(4).Min()], reporter.PruneAsked.Select(a => a.Best));
        Assert.All(reporter.PruneAsked, a => Assert.Equal("median", a.Rule));
        Assert.Equal("stopped at step 8 (validation.prune: median): ...", Assert.Single(reporter.Events, e => e.Kind == TrainingEventKind.StoppedEarly).Message);
        Assert.True(Directory.Exists(Path.Combine(distiller.CheckpointsDirectory, TrainingCheckpoint.DirectoryName(8))));

        config.Validation.Prune = "mean";
        Assert.Equal(["validation.prune: 'mean' is not none, median or halving"], RunConfigChecks.Values(config));
        config.Validation = new ValidationConfig { Every = 0, Prune = "median" };
        Assert.Equal(["validation.prune: needs validation (validation.every and validation.prompts) to compare the run with its group"], RunConfigChecks.Values(config));
        config.Validation = new ValidationConfig { Every = 0, Prune = "halving", PruneFactor = 1 };
        Assert.Equal(["validation.prune: needs validation (validation.every and validation.prompts) to compare the run with its group",
                      "validation.prune_factor: 1 must be at least 2 (halving keeps the best 1/prune_factor of the runs)"], RunConfigChecks.Values(config));
    }

    [Fact]
    public void MedianAsksFromTheThirdValidationAndHalvingAtItsRungsOnly()
    {
        static List<int> Asked(string rule, int factor) =>
            Enumerable.Range(1, 40).Where(n => Distiller.AsksToPrune(new ValidationConfig { Prune = rule, PruneFactor = factor }, n)).ToList();
        Assert.Equal(Enumerable.Range(3, 38), Asked("median", 3));
        Assert.Equal([3, 9, 27], Asked("halving", 3));
        Assert.Equal([3, 6, 12, 24], Asked("halving", 2));
        Assert.Equal([3, 12], Asked("halving", 4));
        Assert.Empty(Asked("none", 3));
    }

    [Fact]
    public void WithHalvingTheStudioIsAskedAtTheRungsWithTheFactorAndCanStopTheRun()
    {
        using var world = new TinyWorld();
        var config = TinyWorld.Config(updates: 20, checkpointEvery: 1000);
        config.Validation = new ValidationConfig { Every = 1, Prompts = [new PromptSource { Set = "tiny" }], PromptsPerCategory = 1, Noises = 1, Prune = "halving", PruneFactor = 2 };
        Assert.Empty(RunConfigChecks.Values(config));
        var reporter = new RecordingReporter { PruneWith = q => q.Step == 12 ? "stopped at step 12 (validation.prune: halving): ..." : null };
        var state = new Distiller(config, world.Context(world.NewStudent(), world.FilledTeacher()), world.Directory, reporter).Run(CancellationToken.None);

        // Validations at every update: the rungs are the 3rd, 6th and 12th, and the run stops at the last.
        Assert.Equal(12, state.GlobalStep);
        Assert.Equal([3L, 6, 12], reporter.PruneAsked.Select(a => a.Step));
        Assert.All(reporter.PruneAsked, a => Assert.Equal(("halving", 2), (a.Rule, a.Factor)));
        var means = reporter.Validations.Select(v => v.ByCategory.Values.Average(c => c.VisionLoss)).ToList();
        Assert.Equal([means.Take(3).Min(), means.Take(6).Min(), means.Take(12).Min()], reporter.PruneAsked.Select(a => a.Best));
        Assert.Equal("stopped at step 12 (validation.prune: halving): ...", Assert.Single(reporter.Events, e => e.Kind == TrainingEventKind.StoppedEarly).Message);
    }

    [Fact]
    public void EarlyStoppingCountsValidationsSinceTheBestAndAResumeCountsFromItsStep()
    {
        var root = TestPaths.NewTempDirectory("early-stopping");
        try
        {
            var early = new EarlyStopping(root, patience: 2, resumedAt: 0);
            Assert.Null(early.Record(10, 0.5));
            Assert.Null(early.Record(20, 0.4));
            Assert.Null(early.Record(30, 0.45));
            Assert.Equal("stopped early at step 40: the held-out vision loss (0.4) has not gone below its best (0.4 at step 20) in 2 validations (validation.patience: 2)",
                early.Record(40, 0.4)); // equal is not better
            Assert.Equal([10L, 20, 30, 40], EarlyStopping.History(root).Select(h => h.Step));

            // Resumed from the step-30 checkpoint: the step-40 validation never happened for it.
            var resumed = new EarlyStopping(root, patience: 2, resumedAt: 30);
            Assert.Null(resumed.Record(40, 0.35));
            Assert.Equal([10L, 20, 30, 40], EarlyStopping.History(root).Select(h => h.Step));
            Assert.Equal(0.35, EarlyStopping.History(root)[^1].Loss);
            Assert.Null(resumed.Record(50, 0.36));
            Assert.NotNull(resumed.Record(60, double.NaN)); // a non-finite loss is never a best

            File.WriteAllText(Path.Combine(root, EarlyStopping.HistoryFile), "[ not json");
            Assert.Empty(EarlyStopping.History(root));
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void PruningKeepsTheNewestAndTheProtectedBestAndScoresOfGoneCheckpointsAreDropped()
    {
        var root = TestPaths.NewTempDirectory("prune-best");
        try
        {
            foreach (var step in new[] { 2, 4, 6 }) Directory.CreateDirectory(Path.Combine(root, TrainingCheckpoint.DirectoryName(step)));
            string At(int step) => Path.Combine(root, TrainingCheckpoint.DirectoryName(step));
            TrainingCheckpoint.RecordScore(At(2), 0.1);
            TrainingCheckpoint.RecordScore(At(4), 0.3);
            TrainingCheckpoint.RecordScore(At(6), 0.2);
            Assert.Equal(At(2), TrainingCheckpoint.Best(root));
            Assert.Equal([At(4)], TrainingCheckpoint.Prune(root, keep: 1, protect: TrainingCheckpoint.Best(root)));
            Assert.Equal([At(6), At(2)], TrainingCheckpoint.List(root));
            Assert.Empty(TrainingCheckpoint.Prune(root, keep: 0)); // 0 keeps all

            // A new score rewrites the file without the checkpoints that are gone; a damaged file forgets the scores only.
            Directory.CreateDirectory(At(8));
            TrainingCheckpoint.RecordScore(At(8), 0.05);
            Assert.Equal(["step-00000002", "step-00000006", "step-00000008"], TrainingCheckpoint.Scores(root).Keys.Order());
            TrainingCheckpoint.RecordScore(At(6), double.NaN); // a diverged validation is stored, and is never the best
            Assert.True(double.IsNaN(TrainingCheckpoint.Scores(root)["step-00000006"]));
            Assert.Equal(At(8), TrainingCheckpoint.Best(root));
            File.WriteAllText(Path.Combine(root, TrainingCheckpoint.ScoresFile), "{ not json");
            Assert.Null(TrainingCheckpoint.Best(root));
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void ValidationAlsoRunsAtTheLastUpdate()
    {
        using var world = new TinyWorld();
        var config = TinyWorld.Config(updates: 5);
        config.Validation = new ValidationConfig { Every = 3, Prompts = [new PromptSource { Set = "tiny" }], PromptsPerCategory = 1, Noises = 1 };
        var reporter = new RecordingReporter();
        new Distiller(config, world.Context(world.NewStudent(), world.FilledTeacher()), world.Directory, reporter).Run(CancellationToken.None);
        // Every 3 updates gives update 3; the run's last update (5) is validated too.
        Assert.Equal([3L, 5L], reporter.Validations.Select(v => v.Step));
    }

    [Fact]
    public void CacheIsReusedAcrossRuns()
    {
        using var world = new TinyWorld();
        world.FilledTeacher();
        var encodedFirst = world.TeacherEncodings;
        Assert.Equal(TinyWorld.Prompts.Length, encodedFirst);
        var second = world.FilledTeacher();
        Assert.Equal(encodedFirst, world.TeacherEncodings);
        new Distiller(TinyWorld.Config(updates: 4), world.Context(world.NewStudent(), second), world.Directory, new RecordingReporter()).Run(CancellationToken.None);
        Assert.True(world.Cache.Hits >= 2, $"cache hits {world.Cache.Hits}");
    }

    [Fact]
    public void ExportedStudentLoadsBackAndReproducesItsOutputs()
    {
        using var world = new TinyWorld();
        var student = world.NewStudent();
        student.eval();
        var (ids, _) = TinyWorld.Tokenize(TinyWorld.Prompts, TinyWorld.MaxLength);
        using var expected = student.forward(ids);

        var distillT5 = Path.Combine(world.Directory, "export-distillt5");
        student.ExportDistillT5(distillT5, ScalarType.Float32);
        using var reloaded = StudentEncoder.LoadDistillT5(distillT5);
        using var actual = reloaded.forward(ids);
        Assert.True(actual.eq(expected).all().item<bool>());
        using (var file = SafeTensorsFile.Open(Path.Combine(distillT5, "model.safetensors")))
        {
            Assert.Contains("encoder.shared.weight", file.Entries.Keys);
            Assert.Contains("final_projection.0.weight", file.Entries.Keys);
            Assert.Contains("final_projection.3.weight", file.Entries.Keys);
            Assert.Contains("encoder.encoder.final_layer_norm.weight", file.Entries.Keys);
        }

        var t5 = Path.Combine(world.Directory, "export-t5");
        student.ExportT5(t5, ScalarType.Float32);
        var (plain, report) = Studio.Ml.Models.T5.T5Encoder.Load(t5);
        Assert.True(report.IsClean, report.ToString());
        using var hidden = plain.forward(ids);
        using var projection = SafeTensorsFile.Open(Path.Combine(t5, "projection.safetensors"));
        using var w0 = projection.Read("0.weight");
        using var w3 = projection.Read("3.weight");
        using var projected = nn.functional.linear(nn.functional.relu(nn.functional.linear(hidden, w0)), w3);
        Assert.True(projected.eq(expected).all().item<bool>());
    }
}
