using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Models.Clip;

/// <summary>
/// The class token, then one token per patch (a strided convolution without bias), plus a learned position embedding
/// for each of the (patches + 1) positions.
/// </summary>
public sealed class ClipVisionEmbeddings : nn.Module<Tensor, Tensor>
{
    readonly Parameter class_embedding;
    readonly Conv2d patch_embedding;
    readonly Embedding position_embedding;

    public ClipVisionEmbeddings(ClipVisionConfig config, ScalarType dtype) : base(nameof(ClipVisionEmbeddings))
    {
        class_embedding = new Parameter(torch.zeros(config.HiddenSize, dtype));
        patch_embedding = nn.Conv2d(config.NumChannels, config.HiddenSize, config.PatchSize, stride: config.PatchSize, bias: false, dtype: dtype);
        var positions = config.PatchesPerSide * config.PatchesPerSide + 1;
        position_embedding = nn.Embedding(positions, config.HiddenSize, dtype: dtype);
        RegisterComponents();
    }

    /// <param name="pixelValues">[batch, channels, image_size, image_size], normalised as CLIP's image processor does.</param>
    public override Tensor forward(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        var batch = pixelValues.shape[0];
        var patches = patch_embedding.forward(pixelValues.to(patch_embedding.weight!.dtype)).flatten(2).transpose(1, 2);
        var cls = class_embedding.view(1, 1, -1).expand(batch, 1, -1);
        var tokens = torch.cat([cls, patches], 1);
        var positions = torch.arange(tokens.shape[1], dtype: ScalarType.Int64, device: tokens.device).unsqueeze(0);
        return (tokens + position_embedding.forward(positions)).MoveToOuterDisposeScope();
    }
}
