using System.Text.RegularExpressions;
using Studio.Ml.Tensors;
using static TorchSharp.torch;

namespace Studio.Ml.Models.Flux;

/// <summary>
/// The original single-file FLUX checkpoint layout (Black Forest Labs' `flux1-dev.safetensors` /
/// `flux1-schnell.safetensors`; ComfyUI's `model.diffusion_model.` prefix is accepted) mapped onto diffusers names.
/// Fused tensors are split by rows: `qkv` into q, k, v thirds; the single blocks' `linear1` into q, k, v (inner_dim
/// rows each) then the MLP input (mlp_ratio * inner_dim rows). `final_layer.adaLN_modulation.1` stores (shift, scale)
/// where diffusers' `norm_out.linear` stores (scale, shift): its halves are swapped. The table is in docs/MODELS.md.
/// </summary>
public static partial class FluxOriginalCheckpoint
{
    public const string ComfyPrefix = "model.diffusion_model.";

    /// <summary>Where a diffusers tensor comes from: rows [RowStart, RowStart + RowCount) of an original tensor, halves swapped or not.</summary>
    public sealed record Source(string Name, long RowStart = 0, long? RowCount = null, bool SwapHalves = false);

    /// <summary>True when the checkpoint holds the original layout (with or without the ComfyUI prefix).</summary>
    public static bool IsOriginalLayout(Checkpoint checkpoint) =>
        checkpoint.Contains("img_in.weight") || checkpoint.Contains(ComfyPrefix + "img_in.weight");

    /// <summary>The source of every diffusers parameter of a model with this configuration.</summary>
    public static IReadOnlyDictionary<string, Source> Map(FluxTransformerConfig config)
    {
        var map = new Dictionary<string, Source>();
        long inner = config.InnerDim, mlp = 4L * config.InnerDim;
        void Whole(string diffusers, string original)
        {
            map[diffusers + ".weight"] = new Source(original + ".weight");
            map[diffusers + ".bias"] = new Source(original + ".bias");
        }
        void Rows(string diffusers, string original, long start, long count)
        {
            map[diffusers + ".weight"] = new Source(original + ".weight", start, count);
            map[diffusers + ".bias"] = new Source(original + ".bias", start, count);
        }

        Whole("time_text_embed.timestep_embedder.linear_1", "time_in.in_layer");
        Whole("time_text_embed.timestep_embedder.linear_2", "time_in.out_layer");
        if (config.GuidanceEmbeds)
        {
            Whole("time_text_embed.guidance_embedder.linear_1", "guidance_in.in_layer");
            Whole("time_text_embed.guidance_embedder.linear_2", "guidance_in.out_layer");
        }
        Whole("time_text_embed.text_embedder.linear_1", "vector_in.in_layer");
        Whole("time_text_embed.text_embedder.linear_2", "vector_in.out_layer");
        Whole("context_embedder", "txt_in");
        Whole("x_embedder", "img_in");

        for (int i = 0; i < config.NumLayers; i++)
        {
            string to = $"transformer_blocks.{i}.", from = $"double_blocks.{i}.";
            Whole(to + "norm1.linear", from + "img_mod.lin");
            Whole(to + "norm1_context.linear", from + "txt_mod.lin");
            Rows(to + "attn.to_q", from + "img_attn.qkv", 0, inner);
            Rows(to + "attn.to_k", from + "img_attn.qkv", inner, inner);
            Rows(to + "attn.to_v", from + "img_attn.qkv", 2 * inner, inner);
            Rows(to + "attn.add_q_proj", from + "txt_attn.qkv", 0, inner);
            Rows(to + "attn.add_k_proj", from + "txt_attn.qkv", inner, inner);
            Rows(to + "attn.add_v_proj", from + "txt_attn.qkv", 2 * inner, inner);
            map[to + "attn.norm_q.weight"] = new Source(from + "img_attn.norm.query_norm.scale");
            map[to + "attn.norm_k.weight"] = new Source(from + "img_attn.norm.key_norm.scale");
            map[to + "attn.norm_added_q.weight"] = new Source(from + "txt_attn.norm.query_norm.scale");
            map[to + "attn.norm_added_k.weight"] = new Source(from + "txt_attn.norm.key_norm.scale");
            Whole(to + "attn.to_out.0", from + "img_attn.proj");
            Whole(to + "attn.to_add_out", from + "txt_attn.proj");
            Whole(to + "ff.net.0.proj", from + "img_mlp.0");
            Whole(to + "ff.net.2", from + "img_mlp.2");
            Whole(to + "ff_context.net.0.proj", from + "txt_mlp.0");
            Whole(to + "ff_context.net.2", from + "txt_mlp.2");
        }

        for (int i = 0; i < config.NumSingleLayers; i++)
        {
            string to = $"single_transformer_blocks.{i}.", from = $"single_blocks.{i}.";
            Whole(to + "norm.linear", from + "modulation.lin");
            Rows(to + "attn.to_q", from + "linear1", 0, inner);
            Rows(to + "attn.to_k", from + "linear1", inner, inner);
            Rows(to + "attn.to_v", from + "linear1", 2 * inner, inner);
            Rows(to + "proj_mlp", from + "linear1", 3 * inner, mlp);
            map[to + "attn.norm_q.weight"] = new Source(from + "norm.query_norm.scale");
            map[to + "attn.norm_k.weight"] = new Source(from + "norm.key_norm.scale");
            Whole(to + "proj_out", from + "linear2");
        }

        map["norm_out.linear.weight"] = new Source("final_layer.adaLN_modulation.1.weight", SwapHalves: true);
        map["norm_out.linear.bias"] = new Source("final_layer.adaLN_modulation.1.bias", SwapHalves: true);
        Whole("proj_out", "final_layer.linear");
        return map;
    }

    /// <summary>
    /// The configuration an original checkpoint implies: widths from the embedders' shapes, head width from the q/k
    /// norm scales, block counts from the names, guidance from `guidance_in`. The RoPE axes are not stored in the file:
    /// pass them unless the head width is FLUX.1's 128, whose axes are (16, 56, 56).
    /// </summary>
    public static FluxTransformerConfig InferConfig(Checkpoint checkpoint, int[]? axesDimsRope = null)
    {
        var prefix = Prefix(checkpoint);
        long[] Shape(string name) => checkpoint.Contains(prefix + name)
            ? checkpoint.Entry(prefix + name).Shape
            : throw new InvalidDataException($"{checkpoint.Source}: '{prefix + name}' is missing, so this is not an original FLUX checkpoint");
        var imgIn = Shape("img_in.weight");
        var (inner, inChannels) = (imgIn[0], imgIn[1]);
        var doubleCount = BlockCount(checkpoint, prefix, DoubleBlockName());
        var singleCount = BlockCount(checkpoint, prefix, SingleBlockName());
        var headDim = doubleCount > 0 ? Shape("double_blocks.0.img_attn.norm.query_norm.scale")[0] : Shape("single_blocks.0.norm.query_norm.scale")[0];
        if (inner % headDim != 0) throw new InvalidDataException($"{checkpoint.Source}: hidden width {inner} is not a multiple of the head width {headDim}");
        var outRows = Shape("final_layer.linear.weight")[0];
        var patch = (long)Math.Round(Math.Sqrt(outRows / (double)inChannels));
        if (patch * patch * inChannels != outRows)
            throw new InvalidDataException($"{checkpoint.Source}: final_layer.linear has {outRows} outputs, not patch^2 * {inChannels} input channels");
        var axes = axesDimsRope ?? (headDim == 128 ? [16, 56, 56]
            : throw new ArgumentException($"{checkpoint.Source}: head width {headDim} is not FLUX.1's 128; pass axes_dims_rope (the file does not store it)"));
        return new FluxTransformerConfig(
            PatchSize: (int)patch,
            InChannels: (int)inChannels,
            NumLayers: doubleCount,
            NumSingleLayers: singleCount,
            AttentionHeadDim: (int)headDim,
            NumAttentionHeads: (int)(inner / headDim),
            JointAttentionDim: (int)Shape("txt_in.weight")[1],
            PooledProjectionDim: (int)Shape("vector_in.in_layer.weight")[1],
            GuidanceEmbeds: checkpoint.Contains(prefix + "guidance_in.in_layer.weight"),
            AxesDimsRope: axes);
    }

    /// <summary>
    /// Loads an original-layout checkpoint into a model, tensor by tensor (a fused tensor is read once per part).
    /// With strict, any missing, unexpected or mis-shaped tensor throws <see cref="CheckpointLoadException"/>.
    /// </summary>
    public static LoadReport Load(FluxTransformer model, Checkpoint checkpoint, bool strict = true)
    {
        var prefix = Prefix(checkpoint);
        var map = Map(model.Config);
        var missing = new List<string>();
        var mismatched = new List<string>();
        var used = new HashSet<string>();
        int loaded = 0;
        using (no_grad())
        {
            foreach (var (name, target) in model.state_dict())
            {
                if (!map.TryGetValue(name, out var source)) { missing.Add($"{name} (no original counterpart)"); continue; }
                var original = prefix + source.Name;
                if (!checkpoint.Contains(original)) { missing.Add($"{original} (for {name})"); continue; }
                used.Add(original);
                var shape = checkpoint.Entry(original).Shape;
                var rows = source.RowCount ?? shape[0];
                if (source.RowStart + rows > shape[0] || !shape.Skip(1).SequenceEqual(target.shape.Skip(1)) || rows != target.shape[0])
                {
                    mismatched.Add($"{name} (from {original} [{string.Join(", ", shape)}] rows {source.RowStart}..{source.RowStart + rows}, model [{string.Join(", ", target.shape)}])");
                    continue;
                }
                using var scope = NewDisposeScope();
                var value = checkpoint.Read(original).narrow(0, source.RowStart, rows);
                if (source.SwapHalves)
                {
                    var halves = value.chunk(2, 0);
                    value = cat([halves[1], halves[0]], 0);
                }
                target.copy_(value);
                loaded++;
            }
        }
        // With the ComfyUI prefix, names outside it (an all-in-one file's VAE and text encoders) belong to other models.
        var unexpected = checkpoint.Names.Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && !used.Contains(n))
            .OrderBy(n => n, StringComparer.Ordinal).ToList();
        var report = new LoadReport(missing, unexpected, mismatched, loaded);
        if (strict && !report.IsClean)
            throw new CheckpointLoadException($"{checkpoint.Source} does not fit the original FLUX layout of this model: {report}", report);
        return report;
    }

    static string Prefix(Checkpoint checkpoint) => checkpoint.Contains(ComfyPrefix + "img_in.weight") ? ComfyPrefix : "";

    static int BlockCount(Checkpoint checkpoint, string prefix, Regex pattern)
    {
        var indices = checkpoint.Names.Where(n => n.StartsWith(prefix, StringComparison.Ordinal))
            .Select(n => pattern.Match(n[prefix.Length..])).Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value)).Distinct().ToList();
        if (indices.Count == 0) return 0;
        if (indices.Max() + 1 != indices.Count)
            throw new InvalidDataException($"{checkpoint.Source}: block numbers are not contiguous ({pattern}: {indices.Count} blocks, highest {indices.Max()})");
        return indices.Count;
    }

    [GeneratedRegex(@"^double_blocks\.(\d+)\.")]
    private static partial Regex DoubleBlockName();

    [GeneratedRegex(@"^single_blocks\.(\d+)\.")]
    private static partial Regex SingleBlockName();
}
