using Studio.Ml.Models.T5;

namespace Studio.Ml.Distillation;

/// <summary>Student sizes: the Flan-T5 configurations of the paper, and the toy world's sizes.</summary>
public static class StudentPresets
{
    static T5Config FlanT5(int dModel, int layers, int heads, int dFf) =>
        new(VocabSize: 32128, DModel: dModel, DKv: 64, NumHeads: heads, DFf: dFf, NumLayers: layers,
            RelativeAttentionNumBuckets: 32, RelativeAttentionMaxDistance: 128, LayerNormEpsilon: 1e-6,
            DropoutRate: 0.1, DenseActFn: "gelu_new", IsGatedAct: true);

    static T5Config Toy(int dModel, int layers, int heads, int dFf) =>
        FlanT5(dModel, layers, heads, dFf) with { DKv = dModel / heads };

    public static readonly IReadOnlyDictionary<string, T5Config> All = new Dictionary<string, T5Config>
    {
        ["small"] = FlanT5(512, 8, 6, 1024),
        ["base"] = FlanT5(768, 12, 12, 2048),
        ["large"] = FlanT5(1024, 24, 16, 2816),
        ["xl"] = FlanT5(2048, 24, 32, 5120),
        ["toy-small"] = Toy(32, 1, 2, 64),
        ["toy-base"] = Toy(64, 2, 2, 128),
        ["toy-large"] = Toy(128, 3, 4, 256),
    };

    /// <summary>The preset with the config's overrides applied (preset "custom" needs every size).</summary>
    public static T5Config Resolve(StudentConfig student)
    {
        T5Config config;
        if (student.Preset == "custom")
        {
            if (student.DModel is null || student.NumLayers is null || student.NumHeads is null || student.DFf is null)
                throw new ArgumentException("student: preset 'custom' needs d_model, num_layers, num_heads and d_ff");
            config = FlanT5(student.DModel.Value, student.NumLayers.Value, student.NumHeads.Value, student.DFf.Value);
            config = config with { DKv = student.DKv ?? student.DModel.Value / student.NumHeads.Value };
        }
        else if (!All.TryGetValue(student.Preset, out config!))
        {
            throw new ArgumentException($"student.preset: unknown preset '{student.Preset}' (use {string.Join(", ", All.Keys)} or custom)");
        }
        return config with
        {
            DModel = student.DModel ?? config.DModel,
            NumLayers = student.NumLayers ?? config.NumLayers,
            NumHeads = student.NumHeads ?? config.NumHeads,
            DKv = student.DKv ?? config.DKv,
            DFf = student.DFf ?? config.DFf,
        };
    }
}
