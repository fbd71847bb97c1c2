using Studio.Ml.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Models.Clip;

/// <summary>
/// The outputs as transformers names them; TextEmbeds only with a projection. PenultimateHiddenState is
/// `hidden_states[-2]` (the input of the last layer, without the final norm), what SD3 takes as CLIP's token states.
/// </summary>
public sealed record ClipTextOutput(Tensor LastHiddenState, Tensor PoolerOutput, Tensor? TextEmbeds, Tensor PenultimateHiddenState) : IDisposable
{
    public void Dispose()
    {
        LastHiddenState.Dispose();
        PoolerOutput.Dispose();
        TextEmbeds?.Dispose();
        PenultimateHiddenState.Dispose();
    }
}

/// <summary>
/// transformers `CLIPTextModel` (FLUX's and SD's CLIP-L text encoder) and, with `text_projection` (a Linear without
/// bias), `CLIPTextModelWithProjection` (SD3's encoders). Parameter names are those of transformers.
/// </summary>
public sealed class ClipTextEncoder : nn.Module
{
    readonly ClipTextTransformer text_model;
    readonly Linear? text_projection;

    public ClipTextConfig Config { get; }

    public ClipTextEncoder(ClipTextConfig config, ScalarType dtype = ScalarType.Float32) : base(nameof(ClipTextEncoder))
    {
        Config = config;
        text_model = new ClipTextTransformer(config, dtype);
        if (config.HasProjection) text_projection = nn.Linear(config.HiddenSize, config.ProjectionDim, hasBias: false, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>Int64 ids [batch, seq]; the mask (1 = token, 0 = padding) is optional: FLUX and SD3 call without one.</summary>
    public ClipTextOutput forward(Tensor inputIds, Tensor? attentionMask = null)
    {
        var (last, pooled, penultimate) = text_model.forward(inputIds, attentionMask);
        return new ClipTextOutput(last, pooled, text_projection?.forward(pooled), penultimate);
    }

    /// <summary>Loads a CLIP text encoder from a Hugging Face folder (config.json and safetensors) in the given dtype.</summary>
    public static (ClipTextEncoder Model, LoadReport Report) Load(string folder, ScalarType dtype = ScalarType.Float32, bool strict = true)
    {
        using var checkpoint = Checkpoint.Open(folder);
        var configPath = Path.Combine(folder, "config.json");
        var config = ClipTextConfig.Load(configPath);
        return CheckpointLoadException.NamingConfig(checkpoint.Source, configPath, () => Load(config, checkpoint, dtype, strict));
    }

    public static (ClipTextEncoder Model, LoadReport Report) Load(ClipTextConfig config, Checkpoint checkpoint, ScalarType dtype = ScalarType.Float32, bool strict = true)
    {
        var model = new ClipTextEncoder(config, dtype);
        model.eval();
        try
        {
            // Older checkpoints also store the position_ids buffer, which is just 0..max_position_embeddings-1.
            var report = ModuleLoader.Load(model, checkpoint, strict, ignoreUnexpected: name => name == "text_model.embeddings.position_ids");
            return (model, report);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
