using System.Text.Json.Nodes;
using Studio.Ml.Models.Common;
using Studio.Ml.Models.T5;
using Studio.Ml.Tensors;
using Studio.Ml.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Models.T5;

/// <summary>
/// The student: a T5 encoder followed by a per-token projection MLP into the teacher's width,
/// `Linear(d -> D, no bias) -> ReLU -> Dropout -> Linear(D -> D, no bias)`. Parameter names are those of the released
/// DistillT5 `T5EncoderWithProjection` (`encoder.shared.weight`, `encoder.encoder.block.N...`,
/// `final_projection.0.weight`, `final_projection.3.weight`), so checkpoints drop into diffusers and ComfyUI unchanged.
/// </summary>
public sealed class StudentEncoder : nn.Module
{
    readonly T5Encoder encoder;
    readonly Sequential final_projection;

    public T5Config Config => encoder.Config;
    public int ProjectionDim { get; }
    public T5Encoder Encoder => encoder;

    public StudentEncoder(T5Encoder encoder, int projectionDim, double projectionDropout = 0.1) : base(nameof(StudentEncoder))
    {
        this.encoder = encoder;
        ProjectionDim = projectionDim;
        final_projection = nn.Sequential(
            ("0", nn.Linear(encoder.Config.DModel, projectionDim, hasBias: false)),
            ("1", nn.ReLU()),
            ("2", new SeededDropout(projectionDropout)),
            ("3", nn.Linear(projectionDim, projectionDim, hasBias: false)));
        RegisterComponents();
    }

    /// <summary>Projected states [batch, seq, D] of int64 ids [batch, seq].</summary>
    public Tensor forward(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var hidden = encoder.forward(inputIds, attentionMask);
        return final_projection.forward(hidden);
    }

    /// <summary>The projection's parameters (seeded standard Linear initialisation happens at construction).</summary>
    public IEnumerable<Parameter> ProjectionParameters => final_projection.parameters();

    /// <summary>
    /// The part of the student a parameter belongs to, as the trainer reports gradient norms: "embedding", "block N",
    /// "final norm", "projection" (another name: its module path).
    /// </summary>
    public static string ModuleOf(string parameterName)
    {
        var parts = parameterName.Split('.');
        return parts switch
        {
            ["encoder", "shared", ..] => "embedding",
            ["encoder", "encoder", "block", var n, ..] => $"block {n}",
            ["encoder", "encoder", "final_layer_norm", ..] => "final norm",
            ["final_projection", ..] => "projection",
            _ => string.Join('.', parts[..^1]),
        };
    }

    /// <summary>A student of <paramref name="config"/>, its T5 from <paramref name="initFolder"/> when given, else random; the MLP always fresh.</summary>
    public static StudentEncoder Create(T5Config config, int projectionDim, double projectionDropout, int seed, string? initFolder = null)
    {
        // Every random weight is drawn from a generator of this student's own, not from the process's global generator,
        // which anything else in the process (another run loading its teacher) may draw from at the same time.
        T5Encoder t5;
        if (initFolder is null)
        {
            t5 = T5Encoder.Create(config);
            using var generator = new Generator((ulong)DeterministicRandom.Seed(seed, "student-init"), CPU);
            t5.InitialiseLikeTransformers(generator: generator);
        }
        else
        {
            t5 = T5Encoder.Load(initFolder).Model;
        }
        var student = new StudentEncoder(t5, projectionDim, projectionDropout);
        using (var generator = new Generator((ulong)DeterministicRandom.Seed(seed, "projection-init"), CPU))
            student.InitialiseProjection(generator);
        return student;
    }

    /// <summary>PyTorch's default nn.Linear initialisation of the projection (kaiming_uniform with a = sqrt(5): U(±1/sqrt(fan_in))), from <paramref name="generator"/>.</summary>
    void InitialiseProjection(Generator generator)
    {
        using var _ = torch.no_grad();
        foreach (var linear in final_projection.children().OfType<Linear>())
        {
            var bound = 1 / Math.Sqrt(linear.weight!.shape[1]);
            linear.weight.uniform_(-bound, bound, generator);
        }
    }

    /// <summary>Loads a DistillT5-layout folder (config.json with project_in_dim/project_out_dim, safetensors).</summary>
    public static StudentEncoder LoadDistillT5(string folder, double projectionDropout = 0.1)
    {
        var json = ModelConfig.Load(Path.Combine(folder, "config.json"));
        var t5Config = T5Config.From(json);
        if (!json.Has("project_out_dim")) throw json.Invalid("project_out_dim", "is missing (not a DistillT5 T5EncoderWithProjection folder?)");
        var outDim = json.Int("project_out_dim");
        if (json.Int("project_in_dim", t5Config.DModel) != t5Config.DModel)
            throw json.Invalid("project_in_dim", $"is {json.Int("project_in_dim")} but d_model is {t5Config.DModel}");
        var student = new StudentEncoder(T5Encoder.Create(t5Config), outDim, projectionDropout);
        using var checkpoint = Checkpoint.Open(folder);
        LoadWeights(student, checkpoint);
        student.eval();
        return student;
    }

    /// <summary>
    /// Loads student weights saved by this class (a training checkpoint or an export), with DistillT5's tied-embedding
    /// alias. With a <paramref name="prefix"/> (e.g. "student."), only the names under it are the student's.
    /// </summary>
    public static LoadReport LoadWeights(StudentEncoder student, Checkpoint checkpoint, string prefix = "") =>
        ModuleLoader.Load(student, checkpoint, strict: true,
            candidates: name => name == "encoder.shared.weight" ? [prefix + name, prefix + "encoder.encoder.embed_tokens.weight"] : [prefix + name],
            ignoreUnexpected: name => !name.StartsWith(prefix, StringComparison.Ordinal) || name == prefix + "encoder.encoder.embed_tokens.weight");

    /// <summary>Writes a DistillT5 folder: config.json (T5 config + project_in_dim/out_dim) and model.safetensors.</summary>
    public void ExportDistillT5(string folder, ScalarType dtype)
    {
        var tensors = state_dict().Select(kv => new KeyValuePair<string, Tensor>(kv.Key, kv.Value.to_type(dtype))).ToList();
        WriteFolder(folder, tensors, ConfigJson(extra: new JsonObject
        {
            ["architectures"] = new JsonArray("T5EncoderWithProjection"),
            ["project_in_dim"] = Config.DModel,
            ["project_out_dim"] = ProjectionDim,
            ["torch_dtype"] = dtype == ScalarType.BFloat16 ? "bfloat16" : "float32",
        }));
    }

    /// <summary>Writes a plain `T5EncoderModel` folder and, beside it, the projection as `projection.safetensors`.</summary>
    public void ExportT5(string folder, ScalarType dtype)
    {
        var encoderTensors = encoder.state_dict()
            .Select(kv => new KeyValuePair<string, Tensor>(kv.Key, kv.Value.to_type(dtype))).ToList();
        WriteFolder(folder, encoderTensors, ConfigJson(extra: new JsonObject
        {
            ["architectures"] = new JsonArray("T5EncoderModel"),
            ["torch_dtype"] = dtype == ScalarType.BFloat16 ? "bfloat16" : "float32",
        }));
        var projection = final_projection.state_dict()
            .Select(kv => new KeyValuePair<string, Tensor>(kv.Key, kv.Value.to_type(dtype))).ToList();
        SafeTensorsWriter.Save(Path.Combine(folder, "projection.safetensors"), projection,
            new Dictionary<string, string> { ["format"] = "pt", ["layout"] = "Linear(d->D, no bias), ReLU, Dropout, Linear(D->D, no bias)" });
        foreach (var (_, t) in projection) t.Dispose();
    }

    JsonObject ConfigJson(JsonObject extra)
    {
        var c = Config;
        var json = new JsonObject
        {
            ["model_type"] = "t5",
            ["vocab_size"] = c.VocabSize,
            ["d_model"] = c.DModel,
            ["d_kv"] = c.DKv,
            ["num_heads"] = c.NumHeads,
            ["d_ff"] = c.DFf,
            ["num_layers"] = c.NumLayers,
            ["num_decoder_layers"] = c.NumLayers,
            ["relative_attention_num_buckets"] = c.RelativeAttentionNumBuckets,
            ["relative_attention_max_distance"] = c.RelativeAttentionMaxDistance,
            ["layer_norm_epsilon"] = c.LayerNormEpsilon,
            ["dropout_rate"] = c.DropoutRate,
            ["feed_forward_proj"] = c.IsGatedAct ? (c.DenseActFn == "gelu_new" ? "gated-gelu" : "gated-" + c.DenseActFn) : c.DenseActFn,
            ["dense_act_fn"] = c.DenseActFn,
            ["is_gated_act"] = c.IsGatedAct,
            ["is_encoder_decoder"] = true,
            ["pad_token_id"] = 0,
            ["eos_token_id"] = 1,
            ["decoder_start_token_id"] = 0,
            ["tie_word_embeddings"] = false,
        };
        foreach (var (k, v) in extra) json[k] = v?.DeepClone();
        return json;
    }

    static void WriteFolder(string folder, List<KeyValuePair<string, Tensor>> tensors, JsonObject config)
    {
        Directory.CreateDirectory(folder);
        try
        {
            SafeTensorsWriter.Save(Path.Combine(folder, "model.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt" });
            AtomicFile.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        }
        finally
        {
            foreach (var (_, t) in tensors) t.Dispose();
        }
    }
}
