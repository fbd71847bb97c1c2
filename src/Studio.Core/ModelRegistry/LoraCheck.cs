using Studio.Core.Hosting;
using Studio.Core.Runs;

namespace Studio.Core.ModelRegistry;

/// <summary>The one check of a requested LoRA, for generations and evaluations alike.</summary>
public static class LoraCheck
{
    /// <summary>The largest |loraScale| a request may ask for.</summary>
    public const double MaxScale = 8;

    /// <summary>
    /// The request's LoRA as a worker will open it (null: none): a .safetensors file inside the allowed folders whose
    /// header is a LoRA of a transformer and/or CLIP (<see cref="Studio.Ml.Models.Common.LoraWeights.Check"/>), as a full path (the
    /// worker that opens it may run elsewhere), with a finite scale of at most <see cref="MaxScale"/>; refused naming the
    /// field (`lora`, `loraScale`) otherwise. With <paramref name="teacherFolder"/>, every layer must fit that pipeline's
    /// transformer or CLIP too, as their weights' headers say (<see cref="Studio.Ml.Models.Common.LoraWeights.CheckFits"/>: a LoRA of
    /// another model is refused here rather than failing on the worker; a transformer in an original single-file layout
    /// is left to the worker). <paramref name="options"/> null: no LoRA is taken.
    /// </summary>
    public static string? Resolve(StudioOptions? options, string? path, double scale, string? teacherFolder = null)
    {
        if (string.IsNullOrWhiteSpace(path)) return null;
        path = path.Trim();
        if (!double.IsFinite(scale) || Math.Abs(scale) > MaxScale)
            throw new RunActionException($"loraScale must be a number between -{MaxScale} and {MaxScale} (got {scale})");
        if (options is null) throw new RunActionException("lora: this studio takes no LoRA (no allowed folders configured for it)");
        if (new PathGuard(options).Problem(path) is { } outside) throw new RunActionException($"lora: {outside}");
        path = Path.GetFullPath(path);
        if (!File.Exists(path)) throw new RunActionException($"lora: {path}: no such file");
        try
        {
            Studio.Ml.Models.Common.LoraWeights.Check(path);
            if (teacherFolder is not null && PartsOf(ModelFolders.Resolve(teacherFolder)) is var (shapes, flux))
                Studio.Ml.Models.Common.LoraWeights.CheckFits(path, shapes, flux);
        }
        catch (Exception e) when (e is InvalidDataException or Studio.Ml.Tensors.SafeTensorsFormatException or IOException or UnauthorizedAccessException)
        {
            throw new RunActionException($"lora: {e.Message}");
        }
        return path;
    }

    /// <summary>
    /// The shapes of a pipeline's transformer and CLIP weights by diffusers name and part (`transformer`, `text_encoder`,
    /// `text_encoder_2`), from their headers, and its FLUX configuration (null for SD3); null when the transformer cannot
    /// be read that way (no `transformer/` folder, an original layout, unreadable); a text encoder that cannot is left out.
    /// </summary>
    static (IReadOnlyDictionary<string, IReadOnlyDictionary<string, long[]>> Shapes, Studio.Ml.Models.Flux.FluxTransformerConfig? Flux)? PartsOf(string teacherFolder)
    {
        var folder = Path.Combine(teacherFolder, "transformer");
        if (!Directory.Exists(folder)) return null;
        var shapes = new Dictionary<string, IReadOnlyDictionary<string, long[]>>();
        try
        {
            using (var weights = Studio.Ml.Tensors.Checkpoint.Open(folder))
            {
                if (Studio.Ml.Models.Flux.FluxOriginalCheckpoint.IsOriginalLayout(weights)) return null;
                shapes[Studio.Ml.Models.Common.LoraWeights.Transformer] = ShapesOf(weights);
            }
            var config = Path.Combine(folder, "config.json");
            var family = Studio.Ml.Distillation.TeacherFamily.Of(teacherFolder);
            var flux = family == Studio.Ml.Distillation.ModelFamily.Flux && File.Exists(config)
                ? Studio.Ml.Models.Flux.FluxTransformerConfig.Load(config) : null;
            // CLIP's folders: every text encoder but the T5 slot's (FLUX's text_encoder_2 is T5, SD3's is its second CLIP).
            foreach (var part in new[] { "text_encoder", "text_encoder_2" }.Where(p => p != Studio.Ml.Distillation.TeacherFamily.SlotEncoder(family)))
            {
                if (!Directory.Exists(Path.Combine(teacherFolder, part))) continue;
                try
                {
                    using var weights = Studio.Ml.Tensors.Checkpoint.Open(Path.Combine(teacherFolder, part));
                    shapes[part] = ShapesOf(weights);
                }
                catch (Exception e) when (Unreadable(e)) { } // the worker says what is wrong with it
            }
            return (shapes, flux);
        }
        catch (Exception e) when (Unreadable(e))
        {
            return null; // the worker, which loads the pipeline anyway, says what is wrong with it
        }
    }

    static Dictionary<string, long[]> ShapesOf(Studio.Ml.Tensors.Checkpoint weights) => weights.Names.ToDictionary(n => n, n => weights.Entry(n).Shape);

    static bool Unreadable(Exception e) => e is InvalidDataException or Studio.Ml.Tensors.SafeTensorsFormatException or IOException or UnauthorizedAccessException
        or System.Text.Json.JsonException or ArgumentException;
}
