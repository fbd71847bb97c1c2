using Studio.Ml.Models.Flux;
using Studio.Ml.Models.T5;
using Studio.Ml.Models.Vae;
using Studio.Ml.Tensors;

namespace Studio.Ml.Distillation;

/// <summary>
/// A rough peak-memory estimate of a run on its device, from the configuration and the teacher's config files (no
/// weights are read): the frozen transformer's weights, the student with its gradients and AdamW moments (16 bytes
/// per parameter, float32; 20 with optimizer.ema's average), and the activations the backward pass through the
/// transformer keeps.
/// </summary>
public sealed record MemoryEstimate(long TeacherWeightBytes, long StudentParameters, long StudentBytes, long ActivationBytes)
{
    public long TotalBytes => TeacherWeightBytes + StudentBytes + ActivationBytes;

    /// <summary>Null when the teacher folder cannot be read (the validation says why).</summary>
    public static MemoryEstimate? Of(RunConfig config) => Of(config, TeacherShape.Read(DistillationSetup.ResolveTeacherFolder(config)));

    /// <summary>With the teacher already read (a form re-estimates on every edit; the teacher changes only with its folder).</summary>
    public static MemoryEstimate? Of(RunConfig config, TeacherShape? teacher)
    {
        if (teacher is null) return null;
        try { return Build(config, StudentPresets.Resolve(config.Student), teacher.Transformer, teacher.Downscale, teacher.Parameters); }
        catch (ArgumentException) { return null; }
    }

    static MemoryEstimate Build(RunConfig config, T5Config student, FluxTransformerConfig transformer, int downscale, long teacherParameters)
    {
        var teacherBytes = teacherParameters * BytesOf(config.Teacher.Dtype);
        var studentParameters = T5Parameters(student) + (long)student.DModel * transformer.JointAttentionDim + (long)transformer.JointAttentionDim * transformer.JointAttentionDim;

        // Activations of one micro-batch at the largest stage resolution: per block, the tokens of both streams times
        // the inner width times ~24 saved tensors (norms, modulations, q/k/v, attention output, MLP), plus the
        // attention probabilities; with gradient checkpointing only each block's input and one block's activations.
        var resolution = config.Stages.Count > 0 ? config.Stages.Max(s => s.Resolution) : 512;
        long imageTokens = (long)(resolution / downscale / 2) * (resolution / downscale / 2);
        long tokens = config.Optimizer.BatchSize * (imageTokens + config.Text.MaxLength);
        long perBlock = tokens * transformer.InnerDim * 24 + tokens * (imageTokens + config.Text.MaxLength) * transformer.NumAttentionHeads;
        var blocks = transformer.NumLayers + transformer.NumSingleLayers;
        var activationValues = config.Optimizer.GradientCheckpointing ? tokens * transformer.InnerDim * blocks + perBlock : perBlock * blocks;
        var activationBytes = activationValues * BytesOf(config.Teacher.Dtype);
        return new MemoryEstimate(teacherBytes, studentParameters, studentParameters * (config.Optimizer.Ema > 0 ? 20 : 16), activationBytes);
    }

    /// <summary>T5 encoder parameters: embedding, per layer attention (q, k, v, o) and the gated feed-forward, norms, position bias.</summary>
    public static long T5Parameters(T5Config c)
    {
        long inner = (long)c.NumHeads * c.DKv;
        long attention = 4 * c.DModel * inner;
        long feedForward = (c.IsGatedAct ? 3L : 2L) * c.DModel * c.DFf;
        return (long)c.VocabSize * c.DModel + c.NumLayers * (attention + feedForward + 2L * c.DModel)
               + c.DModel + (long)c.RelativeAttentionNumBuckets * c.NumHeads;
    }

    static int BytesOf(string dtype) => DType.ParseFriendly(dtype) == TorchSharp.torch.ScalarType.Float32 ? 4 : 2;
}

/// <summary>What an estimate needs from a teacher folder: the transformer's config and parameter count (safetensors headers only) and the VAE's downscale.</summary>
public sealed record TeacherShape(FluxTransformerConfig Transformer, int Downscale, long Parameters)
{
    /// <summary>Null when the folder cannot be read (the validation says why).</summary>
    public static TeacherShape? Read(string teacherFolder)
    {
        try
        {
            var transformer = FluxTransformerConfig.Load(Path.Combine(teacherFolder, "transformer", "config.json"));
            var downscale = AutoencoderKLConfig.Load(Path.Combine(teacherFolder, "vae", "config.json")).DownscaleFactor;
            using var weights = Checkpoint.Open(Path.Combine(teacherFolder, "transformer"));
            long count = 0;
            foreach (var name in weights.Names) count += weights.Entry(name).Shape.Aggregate(1L, (a, b) => a * b);
            return new TeacherShape(transformer, downscale, count);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or FormatException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
