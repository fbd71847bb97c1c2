using Studio.Ml.Models.Common;
using Studio.Ml.Models.T5;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Diffusion;

/// <summary>
/// What fills the T5 slot of a text-to-image pipeline (FLUX's `text_encoder_2`, SD3's `text_encoder_3`): token ids
/// of the pipeline's T5 tokenizer in, states of the transformer's text width out. Three folder layouts load:
/// a `T5EncoderModel` folder (the original T5-XXL), a student exported by this studio as a `T5EncoderModel` folder with
/// `projection.safetensors` beside it, and a DistillT5 `T5EncoderWithProjection` folder (config with `project_out_dim`).
/// </summary>
public sealed class T5SlotEncoder : IDisposable
{
    /// <summary>The module that holds the weights (a T5 encoder or a student with its projection).</summary>
    public nn.Module Module { get; }
    readonly Func<Tensor, Tensor> _encode;

    /// <summary>Width of the states (4096 for T5-XXL and students distilled from it).</summary>
    public int Width { get; }

    /// <summary>What was loaded, for logs: "T5EncoderModel", "student T5 + projection", "DistillT5".</summary>
    public string Description { get; }

    T5SlotEncoder(nn.Module owner, Func<Tensor, Tensor> encode, int width, string description)
    {
        Module = owner;
        _encode = encode;
        Width = width;
        Description = description;
    }

    public static T5SlotEncoder From(T5Encoder encoder) =>
        new(encoder, ids => encoder.forward(ids), encoder.Config.DModel, "T5EncoderModel");

    public static T5SlotEncoder From(StudentEncoder student, string description = "student T5 + projection") =>
        new(student, ids => student.forward(ids), student.ProjectionDim, description);

    /// <summary>Loads any of the three layouts from <paramref name="folder"/>, parameters in <paramref name="dtype"/> on <paramref name="device"/> (default: the CPU), in eval mode.</summary>
    public static T5SlotEncoder Load(string folder, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        var slot = LoadOnCpu(folder, dtype);
        if (device is not null) slot.Module.to(device);
        return slot;
    }

    static T5SlotEncoder LoadOnCpu(string folder, ScalarType dtype)
    {
        var configPath = Path.Combine(folder, "config.json");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{configPath}: no such config file (not a T5 encoder folder)", configPath);
        if (ModelConfig.Load(configPath).Has("project_out_dim"))
        {
            var distilled = StudentEncoder.LoadDistillT5(folder);
            distilled.to(dtype);
            distilled.eval();
            return From(distilled, "DistillT5");
        }
        var (encoder, _) = T5Encoder.Load(folder, dtype);
        var projectionPath = Path.Combine(folder, "projection.safetensors");
        if (!File.Exists(projectionPath)) return From(encoder);

        using var projection = Checkpoint.Open(projectionPath);
        var width = (int)projection.Entry("3.weight").Shape[0];
        var student = new StudentEncoder(encoder, width);
        student.to(dtype);
        // The encoder is loaded already; only the projection comes from this file ("0.weight", "3.weight").
        var report = ModuleLoader.Load(student, projection, strict: false,
            candidates: name => name.StartsWith("final_projection.", StringComparison.Ordinal) ? [name["final_projection.".Length..]] : []);
        if (report.Unexpected.Count > 0 || report.ShapeMismatches.Count > 0 || report.Missing.Any(n => n.StartsWith("final_projection.", StringComparison.Ordinal)))
            throw new CheckpointLoadException($"{projectionPath} is not the projection of this encoder: {report}", report);
        student.eval();
        return From(student);
    }

    /// <summary>States (B, T, Width) of int64 ids (B, T); no attention mask, as FLUX and SD3 encode.</summary>
    public Tensor Encode(Tensor inputIds) => _encode(inputIds);

    public void Dispose() => Module.Dispose();
}
