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
    /// header is a LoRA of a transformer (<see cref="Studio.Ml.Models.Common.LoraWeights.Check"/>), as a full path (the
    /// worker that opens it may run elsewhere), with a finite scale of at most <see cref="MaxScale"/>; refused naming the
    /// field (`lora`, `loraScale`) otherwise. <paramref name="options"/> null: no LoRA is taken.
    /// </summary>
    public static string? Resolve(StudioOptions? options, string? path, double scale)
    {
        if (string.IsNullOrWhiteSpace(path)) return null;
        path = path.Trim();
        if (!double.IsFinite(scale) || Math.Abs(scale) > MaxScale)
            throw new RunActionException($"loraScale must be a number between -{MaxScale} and {MaxScale} (got {scale})");
        if (options is null) throw new RunActionException("lora: this studio takes no LoRA (no allowed folders configured for it)");
        if (new PathGuard(options).Problem(path) is { } outside) throw new RunActionException($"lora: {outside}");
        path = Path.GetFullPath(path);
        if (!File.Exists(path)) throw new RunActionException($"lora: {path}: no such file");
        try { Studio.Ml.Models.Common.LoraWeights.Check(path); }
        catch (Exception e) when (e is InvalidDataException or Studio.Ml.Tensors.SafeTensorsFormatException or IOException or UnauthorizedAccessException)
        {
            throw new RunActionException($"lora: {e.Message}");
        }
        return path;
    }
}
