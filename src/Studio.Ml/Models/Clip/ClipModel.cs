using Studio.Ml.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Models.Clip;

/// <summary>
/// transformers `CLIPModel`: the text tower and the vision tower, each with a projection (Linear without bias) into
/// one embedding space, and the learned `logit_scale` (a log temperature). What CLIP score is measured with
/// (<see cref="Evaluation.ClipScore"/>). Parameter names are those of transformers.
/// </summary>
public sealed class ClipModel : nn.Module
{
    readonly ClipTextTransformer text_model;
    readonly ClipVisionTransformer vision_model;
    readonly Linear visual_projection, text_projection;
    readonly Parameter logit_scale;

    public ClipModelConfig Config { get; }

    public ClipModel(ClipModelConfig config, ScalarType dtype = ScalarType.Float32) : base(nameof(ClipModel))
    {
        Config = config;
        text_model = new ClipTextTransformer(config.Text, dtype);
        vision_model = new ClipVisionTransformer(config.Vision, dtype);
        visual_projection = nn.Linear(config.Vision.HiddenSize, config.ProjectionDim, hasBias: false, dtype: dtype);
        text_projection = nn.Linear(config.Text.HiddenSize, config.ProjectionDim, hasBias: false, dtype: dtype);
        logit_scale = new Parameter(torch.zeros(Array.Empty<long>(), dtype));
        RegisterComponents();
    }

    /// <summary>transformers' `get_text_features`: the pooled text rows projected, [batch, projection_dim] (not normalised).</summary>
    public Tensor TextFeatures(Tensor inputIds)
    {
        using var scope = NewDisposeScope();
        var (_, pooled, _) = text_model.forward(inputIds);
        return text_projection.forward(pooled).MoveToOuterDisposeScope();
    }

    /// <summary>transformers' `get_image_features`: the pooled image rows projected, [batch, projection_dim] (not normalised).</summary>
    public Tensor ImageFeatures(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        var (_, pooled) = vision_model.forward(pixelValues);
        return visual_projection.forward(pooled).MoveToOuterDisposeScope();
    }

    /// <summary>The vision tower's own outputs (last_hidden_state, pooler_output), for checks against transformers.</summary>
    public (Tensor LastHiddenState, Tensor Pooled) Vision(Tensor pixelValues) => vision_model.forward(pixelValues);

    /// <summary>
    /// transformers' `logits_per_image`: exp(logit_scale) times the cosine of every image with every text, [images, texts].
    /// </summary>
    public Tensor LogitsPerImage(Tensor inputIds, Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        var text = TextFeatures(inputIds);
        var image = ImageFeatures(pixelValues);
        text = text / text.norm(1, keepdim: true);
        image = image / image.norm(1, keepdim: true);
        return (image.matmul(text.t()) * logit_scale.exp()).MoveToOuterDisposeScope();
    }

    /// <summary>Loads a CLIP model from a Hugging Face folder (config.json with model_type "clip", and safetensors).</summary>
    public static ClipModel Load(string folder, ScalarType dtype = ScalarType.Float32)
    {
        using var checkpoint = Checkpoint.Open(folder);
        var configPath = Path.Combine(folder, "config.json");
        var config = ClipModelConfig.Load(configPath);
        return CheckpointLoadException.NamingConfig(checkpoint.Source, configPath, () => Load(config, checkpoint, dtype));
    }

    public static ClipModel Load(ClipModelConfig config, Checkpoint checkpoint, ScalarType dtype = ScalarType.Float32)
    {
        var model = new ClipModel(config, dtype);
        model.eval();
        try
        {
            // Older checkpoints also store the towers' position_ids buffers (0..positions-1).
            ModuleLoader.Load(model, checkpoint, strict: true, ignoreUnexpected: name => name.EndsWith(".embeddings.position_ids", StringComparison.Ordinal));
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
