using Studio.Ml.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Models.T5;

/// <summary>
/// Hugging Face `T5EncoderModel`: the shared token embedding (`shared`, unscaled) and the encoder stack (`encoder`).
/// Parameter names are those of transformers, so real checkpoints load by name.
/// </summary>
public sealed class T5Encoder : nn.Module
{
    readonly Embedding shared;
    readonly T5Stack encoder;

    public T5Config Config { get; }

    /// <param name="dtype">Parameter dtype (float32 reference; bfloat16 / float16 keep norms and softmax in float32).</param>
    public T5Encoder(T5Config config, ScalarType dtype = ScalarType.Float32) : base(nameof(T5Encoder))
    {
        Config = config;
        shared = nn.Embedding(config.VocabSize, config.DModel, dtype: dtype);
        encoder = new T5Stack(config, dtype);
        RegisterComponents();
    }

    /// <summary>last_hidden_state [batch, seq, d_model] of int64 ids [batch, seq]; the mask (1 = token, 0 = padding) is optional.</summary>
    public Tensor forward(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var embeddings = shared.forward(inputIds);
        return encoder.forward(embeddings, attentionMask);
    }

    public ScalarType DType => shared.weight!.dtype;

    /// <summary>
    /// Loads a T5 encoder from a Hugging Face folder (config.json and safetensors, sharded or not) in the given dtype.
    /// Accepts the layouts of `T5EncoderModel`, full `T5ForConditionalGeneration` (decoder and lm_head ignored),
    /// a bare stack, and wrappers such as DistillT5's `T5EncoderWithProjection` (`encoder.shared.weight`,
    /// `encoder.encoder.block.N...`; the wrapper's own parts, e.g. its `final_projection`, are left to their owner).
    /// </summary>
    public static (T5Encoder Model, LoadReport Report) Load(string folder, ScalarType dtype = ScalarType.Float32, bool strict = true)
    {
        using var checkpoint = Checkpoint.Open(folder);
        var configPath = Path.Combine(folder, "config.json");
        var config = T5Config.Load(configPath);
        return CheckpointLoadException.NamingConfig(checkpoint.Source, configPath, () => Load(config, checkpoint, dtype, strict));
    }

    public static (T5Encoder Model, LoadReport Report) Load(T5Config config, Checkpoint checkpoint, ScalarType dtype = ScalarType.Float32, bool strict = true)
    {
        var model = Create(config, dtype);
        try
        {
            var report = LoadWeights(model, checkpoint, strict);
            return (model, report);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>A randomly initialised encoder of the given dtype, in eval mode (call train() to fine-tune).</summary>
    public static T5Encoder Create(T5Config config, ScalarType dtype = ScalarType.Float32)
    {
        var model = new T5Encoder(config, dtype);
        model.eval();
        return model;
    }

    /// <summary>
    /// Re-draws every weight as transformers' `T5PreTrainedModel._init_weights` does (normal with std scaled by the
    /// fan-in, norms at `factor`), from torch's current random generator.
    /// </summary>
    public void InitialiseLikeTransformers(double factor = 1.0, Generator? generator = null)
    {
        double dModel = Config.DModel, dKv = Config.DKv, heads = Config.NumHeads, dFf = Config.DFf;
        using var _ = torch.no_grad();
        foreach (var (name, p) in named_parameters())
        {
            var last = name.Split('.')[^2];
            if (last is "layer_norm" or "final_layer_norm") { p.fill_(factor); continue; }
            var std = last switch
            {
                "shared" => factor,
                "q" => factor * Math.Pow(dModel * dKv, -0.5),
                "k" or "v" or "relative_attention_bias" or "wi" or "wi_0" or "wi_1" => factor * Math.Pow(dModel, -0.5),
                "o" => factor * Math.Pow(heads * dKv, -0.5),
                "wo" => factor * Math.Pow(dFf, -0.5),
                _ => throw new InvalidOperationException($"no transformers initialisation known for {name}"),
            };
            p.normal_(0, std, generator);
        }
    }

    /// <summary>Loads checkpoint tensors by transformers name, resolving the tied embedding and wrapper prefixes.</summary>
    public static LoadReport LoadWeights(T5Encoder model, Checkpoint checkpoint, bool strict = true)
    {
        // Where the encoder stack lives: the key of its final norm tells ("encoder." in T5EncoderModel,
        // "encoder.encoder." in DistillT5's wrapper, "" for a bare stack).
        const string finalNorm = "final_layer_norm.weight";
        var stackKeys = checkpoint.Names.Where(n => n.EndsWith(finalNorm, StringComparison.Ordinal) && !n.Contains("decoder.")).ToList();
        if (stackKeys.Count != 1)
            throw new InvalidDataException($"{checkpoint.Source}: expected one encoder '{finalNorm}', found {(stackKeys.Count == 0 ? "none" : string.Join(", ", stackKeys))}");
        var stackPrefix = stackKeys[0][..^finalNorm.Length];
        var rootPrefix = stackPrefix.EndsWith("encoder.", StringComparison.Ordinal) ? stackPrefix[..^"encoder.".Length] : stackPrefix;

        IEnumerable<string> Candidates(string name) => name switch
        {
            // The token embedding is tied: `shared.weight` and `encoder.embed_tokens.weight` are the same tensor,
            // and a file may hold either one.
            "shared.weight" => [rootPrefix + "shared.weight", stackPrefix + "embed_tokens.weight"],
            _ when name.StartsWith("encoder.", StringComparison.Ordinal) => [stackPrefix + name["encoder.".Length..]],
            _ => [rootPrefix + name],
        };
        bool Ignored(string name) =>
            !name.StartsWith(rootPrefix, StringComparison.Ordinal) // the wrapper's own modules
            || name.StartsWith(rootPrefix + "decoder.", StringComparison.Ordinal)
            || name == rootPrefix + "lm_head.weight";

        return ModuleLoader.Load(model, checkpoint, strict, Candidates, Ignored);
    }
}
