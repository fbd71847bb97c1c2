using Studio.Ml.Distillation;
using Studio.Ml;
using Studio.Ml.Diffusion;
using Studio.Ml.Evaluation;
using Studio.Ml.Models.Common;
using Studio.Ml.Toy;
using TorchSharp;
using static TorchSharp.torch;
using Studio.Core.Jobs;

namespace Studio.Core.Evaluations;

/// <summary>
/// Evaluates with exactly what `studio eval` runs: <see cref="TeacherFamily.LoadPipeline"/> of the teacher (FLUX or SD3),
/// <see cref="ToyEvaluation.LoadTextEncoder2"/> of the checkpoint, <see cref="ToyEvaluation.Run"/>, in the worker's dtype (Studio:DType, float32 by default), on the worker's device, with the
/// worker's store of the teacher's images (<see cref="EvaluationExecution.TeacherImages"/>), and the CLIP score with the
/// worker's CLIP model (<see cref="EvaluationExecution.ClipModel"/>); the evaluation's LoRA merged into the transformer (and CLIP)
/// (<see cref="EvaluationExecution.Lora"/>, as `studio eval --lora`).
/// </summary>
public sealed class ToyEvaluationExecutor : IEvaluationExecutor
{
    public Task<ToyEvaluationResult> ExecuteAsync(EvaluationExecution evaluation, IProgress<JobProgress> progress, CancellationToken ct) =>
        Task.Factory.StartNew(() => Execute(evaluation, progress, ct), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    static ToyEvaluationResult Execute(EvaluationExecution e, IProgress<JobProgress> progress, CancellationToken ct)
    {
        TorchRuntime.Initialise();
        progress.Report(new JobProgress("loading the teacher pipeline", 0));
        var dtype = Studio.Ml.Tensors.DType.ParseJob(e.DType, "Studio:DType");
        using var lora = e.Lora is { } loraFile ? LoraWeights.Load(loraFile) : null;
        using var pipeline = TeacherFamily.LoadPipeline(e.TeacherFolder, dtype, ComputeDevice.Parse(e.Device, "Studio:Device"));
        // The LoRA is merged for the teacher's images and the student's alike (this pipeline is the evaluation's own).
        using var merged = lora is null ? null : pipeline.MergeLora(lora, e.LoraScale);
        ct.ThrowIfCancellationRequested();
        if (e.CheckpointPath is not null) progress.Report(new JobProgress("loading the checkpoint's encoder", 0));
        using var student = e.CheckpointPath is { } path ? ToyEvaluation.LoadTextEncoder2(path, dtype) : null;
        student?.Module.to(pipeline.Device);
        // ToyEvaluation reports once per generated batch.
        var batches = e.Options.Seeds * (int)Math.Ceiling((double)e.Options.PromptsPerCategory * ToyCriteria.Categories.Length / e.Options.BatchSize);
        var done = 0;
        if (e.ClipModel is not null) progress.Report(new JobProgress("loading the CLIP model", 0));
        using var clip = e.ClipModel is { } clipFolder ? ClipScorer.Load(clipFolder, pipeline.Device) : null;
        progress.Report(new JobProgress("generating", 0));
        var result = ToyEvaluation.Run(pipeline, student, e.Options,
            line => progress.Report(new JobProgress(line, Math.Min(0.99, (double)++done / batches))), cancel: ct,
            teacherImages: e.TeacherImages is { } folder ? new TeacherImageStore(folder) : null, samplesFolder: e.SamplesFolder, clip: clip);
        progress.Report(new JobProgress("scored", 1));
        return lora is null ? result : result with { Lora = lora.Path, LoraScale = e.LoraScale };
    }
}
