using System.Diagnostics;
using Studio.Ml;
using Studio.Ml.Diffusion;
using Studio.Ml.Distillation;
using Studio.Ml.Evaluation;
using Studio.Ml.Models.Common;
using Studio.Ml.Tensors;
using Studio.Ml.Toy;
using TorchSharp;
using static TorchSharp.torch;
using Studio.Core.Jobs;

namespace Studio.Core.Generations;

/// <summary>
/// Generates with the teacher's pipeline (<see cref="FluxPipeline"/> or <see cref="Sd3Pipeline"/>, by the folder's
/// family: <see cref="TeacherFamily.LoadPipeline"/>): the teacher pipeline is loaded once and kept in a pipeline cache, each
/// student encoder (a training checkpoint folder or an exported student folder) in a second cache, and every encoder
/// runs on the one loaded transformer with the same seeded noise (with the generation's LoRA merged into it, and given
/// back after). With a CLIP model (Studio:ClipModel) each image gets
/// its CLIP score against the prompt. The worker keeps recently used pipelines, encoders and CLIP models loaded (a
/// quarter of the machine's memory for each cache), so the next request starts at once.
/// </summary>
public sealed class PipelineGenerationExecutor : IGenerationExecutor, IDisposable
{
    readonly PipelineCache<ISlotPipeline> _pipelines;
    readonly PipelineCache<T5SlotEncoder> _encoders;
    readonly PipelineCache<ClipScorer> _clipModels;

    public PipelineGenerationExecutor()
    {
        var budget = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4;
        _pipelines = new PipelineCache<ISlotPipeline>(budget, p => p.ParameterBytes);
        _encoders = new PipelineCache<T5SlotEncoder>(budget, e => e.Module.state_dict().Values.Sum(t => t.NumberOfElements * t.ElementSize));
        _clipModels = new PipelineCache<ClipScorer>(budget, c => c.ParameterBytes);
    }

    /// <summary>The CLIP models loaded now (folder and device).</summary>
    public IReadOnlyCollection<PipelineKey> LoadedClipModels => _clipModels.Loaded;

    public Task ExecuteAsync(GenerationExecution generation, Func<GeneratedImage, Task> imageReady, IProgress<JobProgress> progress, CancellationToken ct) =>
        Task.Factory.StartNew(() => Execute(generation, imageReady, progress, ct), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    void Execute(GenerationExecution g, Func<GeneratedImage, Task> imageReady, IProgress<JobProgress> progress, CancellationToken ct)
    {
        TorchRuntime.Initialise();
        var teacherFolder = g.TeacherFolder ?? ToyTeacher.Folder;
        using var lora = g.Lora is { } loraFile ? LoraWeights.Load(loraFile) : null;
        progress.Report(new JobProgress("loading the teacher pipeline", 0));
        var device = ComputeDevice.Parse(g.Device, "Studio:Device");
        // float32 is the reference path; bfloat16 halves a real FLUX's memory on a GPU worker.
        var dtype = Studio.Ml.Tensors.DType.ParseJob(g.DType, "Studio:DType");
        using var teacher = _pipelines.Acquire(PipelineKey.Of(teacherFolder, null, dtype.ToString(), g.Device),
            () => TeacherFamily.LoadPipeline(teacherFolder, dtype, device, g.FreeTextEncoders));
        var pipeline = teacher.Pipeline;
        var request = Request(g, pipeline.MaxSequenceLength);
        // One generation at a time draws with a cached pipeline: a LoRA is merged into its transformer's weights while
        // the generation draws, and given back before the next one.
        lock (pipeline)
        {
            if (lora is not null) progress.Report(new JobProgress($"merging the LoRA ({lora.Layers.Count} layers)", 0));
            using var merged = lora is null ? null : pipeline.MergeLora(lora, g.LoraScale);
            DrawEach(g, pipeline, request, device, dtype, imageReady, progress, ct);
        }
        progress.Report(new JobProgress("done", 1));
    }

    void DrawEach(GenerationExecution g, ISlotPipeline pipeline, SlotRequest request, Device device, ScalarType dtype,
        Func<GeneratedImage, Task> imageReady, IProgress<JobProgress> progress, CancellationToken ct)
    {
        var total = g.Encoders.Count * g.Steps;
        foreach (var (encoder, index) in g.Encoders.Select((e, i) => (e, i)))
        {
            ct.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            string? png = null, error = null;
            double? clipScore = null;
            try
            {
                PipelineCache<T5SlotEncoder>.Lease? student = null;
                if (encoder.EncoderPath is { } path)
                {
                    progress.Report(new JobProgress($"{encoder.Label}: loading the encoder", (double)index * g.Steps / total));
                    student = _encoders.Acquire(PipelineKey.Of(path, null, dtype.ToString(), g.Device), () => LoadEncoder(path, dtype, device));
                }
                using (student)
                using (var images = pipeline.Draw(request, student?.Pipeline, step =>
                       {
                           ct.ThrowIfCancellationRequested();
                           progress.Report(new JobProgress($"{encoder.Label}: step {step + 1}/{g.Steps}", (double)(index * g.Steps + step + 1) / total));
                       }))
                {
                    png = Path.Combine(g.OutputFolder, $"image-{encoder.ImageId}.png");
                    var bytes = images.Png(0);
                    AtomicFile.Write(png, stream => stream.Write(bytes));
                }
                if (g.ClipModel is { } clipFolder)
                {
                    progress.Report(new JobProgress($"{encoder.Label}: CLIP score", (double)(index + 1) * g.Steps / total));
                    clipScore = ClipScoreOf(clipFolder, g.Prompt, png, g.Device, device);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException && encoder.EncoderPath is not null)
            {
                // A student that does not load or does not fit the transformer fails alone; the others still render.
                error = e.Message;
            }
            imageReady(new GeneratedImage(encoder.ImageId, png, clock.Elapsed, error, clipScore)).GetAwaiter().GetResult();
        }
    }

    /// <summary>
    /// The CLIP score of a drawn image against the prompt, with the CLIP model loaded once and kept; null when the model
    /// cannot be loaded or fails (the image stands without its score; the next image tries again).
    /// </summary>
    double? ClipScoreOf(string folder, string prompt, string png, string deviceName, Device device)
    {
        try
        {
            using var clip = _clipModels.Acquire(PipelineKey.Of(folder, null, "float32", deviceName), () => ClipScorer.Load(folder, device));
            return clip.Pipeline.Score([prompt], [RgbImage.FromPng(png)])[0];
        }
        catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException)) { return null; }
    }

    /// <summary>
    /// The pipeline call of every encoder (FLUX reads the negative prompt only with a true CFG scale above 1, SD3 always).
    /// The pipeline encodes it in the same T5 slot as the prompt, so each student is guided against its own encoding of
    /// the negative prompt.
    /// </summary>
    public static SlotRequest Request(GenerationExecution g, int maxSequenceLength) =>
        new([g.Prompt], g.Seed, g.Steps, g.Guidance, g.Width, g.Height, maxSequenceLength, g.TrueCfgScale, g.NegativePrompt);

    /// <summary>A training checkpoint folder (student weights + the run's YAML) or an exported student folder (config.json).</summary>
    static T5SlotEncoder LoadEncoder(string path, ScalarType dtype, Device device)
    {
        if (File.Exists(Path.Combine(path, TrainingCheckpoint.StateFile)))
        {
            var student = CheckpointExport.LoadStudent(path);
            student.to(dtype);
            student.to(device);
            return T5SlotEncoder.From(student, "training checkpoint");
        }
        if (!Directory.Exists(path)) throw new DirectoryNotFoundException($"{path} no longer exists");
        return T5SlotEncoder.Load(path, dtype, device);
    }

    public void Dispose()
    {
        _clipModels.Dispose();
        _encoders.Dispose();
        _pipelines.Dispose();
    }
}
