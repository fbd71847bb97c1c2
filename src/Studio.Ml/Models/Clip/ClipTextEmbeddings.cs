using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Models.Clip;

/// <summary>Token embedding plus learned absolute position embedding (positions 0..seq-1).</summary>
public sealed class ClipTextEmbeddings : nn.Module<Tensor, Tensor>
{
    readonly Embedding token_embedding, position_embedding;
    readonly int _maxPositions;

    public ClipTextEmbeddings(ClipTextConfig config, ScalarType dtype) : base(nameof(ClipTextEmbeddings))
    {
        token_embedding = nn.Embedding(config.VocabSize, config.HiddenSize, dtype: dtype);
        position_embedding = nn.Embedding(config.MaxPositionEmbeddings, config.HiddenSize, dtype: dtype);
        _maxPositions = config.MaxPositionEmbeddings;
        RegisterComponents();
    }

    public override Tensor forward(Tensor inputIds)
    {
        var seq = inputIds.shape[1];
        if (seq > _maxPositions)
            throw new ArgumentException($"sequence length {seq} exceeds max_position_embeddings {_maxPositions}");
        using var positions = torch.arange(seq, dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0);
        using var tokens = token_embedding.forward(inputIds);
        using var placed = position_embedding.forward(positions);
        return tokens + placed;
    }
}
