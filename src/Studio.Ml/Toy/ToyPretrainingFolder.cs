using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Studio.Ml.Models.Clip;
using Studio.Ml.Models.Flux;
using Studio.Ml.Models.T5;
using Studio.Ml.Models.Vae;
using Studio.Ml.Tensors;
using Studio.Ml.Text;
using static TorchSharp.torch;

namespace Studio.Ml.Toy;

/// <summary>Writes the trained toy teacher as a diffusers FluxPipeline folder (bf16 weights, real tokenizer files).</summary>
public static class ToyTeacherFolder
{
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Builds the folder beside <paramref name="outputFolder"/>, then swaps it in, so a reader never sees half a teacher.</summary>
    public static void Write(string outputFolder, ToyTeacherArchitecture a, AutoencoderKL vae, FluxTransformer transformer, T5Encoder t5,
        ClipTextEncoder clip, TextTokenizer t5Tokenizer, TextTokenizer clipTokenizer, string readme)
    {
        var full = Path.GetFullPath(outputFolder);
        var temp = full.TrimEnd(Path.DirectorySeparatorChar) + ".tmp";
        if (Directory.Exists(temp)) Directory.Delete(temp, true);
        Directory.CreateDirectory(temp);
        AtomicFile.WriteAllText(Path.Combine(temp, "model_index.json"), ToyTeacherConfigs.ModelIndex().ToJsonString(Indented));
        WriteComponent(Path.Combine(temp, "vae"), ToyTeacherConfigs.Vae(a, vae.Config.ScalingFactor, vae.Config.ShiftFactor), "diffusion_pytorch_model.safetensors", vae, ScalarType.BFloat16);
        WriteComponent(Path.Combine(temp, "transformer"), ToyTeacherConfigs.Transformer(a), "diffusion_pytorch_model.safetensors", transformer, ScalarType.BFloat16);
        WriteComponent(Path.Combine(temp, "text_encoder"), ToyTeacherConfigs.Clip(a), "model.safetensors", clip, ScalarType.BFloat16);
        WriteComponent(Path.Combine(temp, "text_encoder_2"), ToyTeacherConfigs.T5(a), "model.safetensors", t5, ScalarType.BFloat16);
        Directory.CreateDirectory(Path.Combine(temp, "scheduler"));
        AtomicFile.WriteAllText(Path.Combine(temp, "scheduler", "scheduler_config.json"), ToyTeacherConfigs.Scheduler(a).ToJsonString(Indented));
        CopyTokenizer(clipTokenizer.Source, Path.Combine(temp, "tokenizer"), ToyTeacherArchitecture.ClipTextLength);
        CopyTokenizer(t5Tokenizer.Source, Path.Combine(temp, "tokenizer_2"), ToyTeacherArchitecture.T5TextLength);
        AtomicFile.WriteAllText(Path.Combine(temp, "README.md"), readme);

        var old = full + ".old";
        if (Directory.Exists(old)) Directory.Delete(old, true);
        if (Directory.Exists(full)) Directory.Move(full, old);
        Directory.Move(temp, full);
        if (Directory.Exists(old)) Directory.Delete(old, true);
    }

    /// <summary>One component folder: config.json and the module's weights in <paramref name="dtype"/>.</summary>
    public static void WriteComponent(string folder, JsonObject config, string weightsFile, nn.Module module, ScalarType dtype)
    {
        Directory.CreateDirectory(folder);
        AtomicFile.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString(Indented));
        using var scope = NewDisposeScope();
        var tensors = module.state_dict().Select(kv => new KeyValuePair<string, Tensor>(kv.Key, kv.Value.detach().to(dtype))).ToList();
        SafeTensorsWriter.Save(Path.Combine(folder, weightsFile), tensors, new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>
    /// Copies the real tokenizer files with model_max_length set to the length the teacher was trained with (for T5,
    /// 32 where FLUX.1-dev uses 512): without an attention mask, padding changes the T5 states, so pipelines must pad
    /// T5 prompts to exactly that length.
    /// </summary>
    static void CopyTokenizer(string source, string target, int maxLength)
    {
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(source))
        {
            var name = Path.GetFileName(file);
            if (name == "README.md") continue;
            if (name == "tokenizer_config.json")
            {
                var json = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
                json["model_max_length"] = maxLength;
                AtomicFile.WriteAllText(Path.Combine(target, name), json.ToJsonString(Indented));
            }
            else File.Copy(file, Path.Combine(target, name), overwrite: true);
        }
    }

    public static string Readme(string command, ToyPretrainingOptions o, ToyPretrainingResult r)
    {
        var a = o.Architecture;
        string F(double v) => v.ToString("0.0000", CultureInfo.InvariantCulture);
        // Whose autoencoder stage B used when stage A did not run (null: stage A trained it).
        var takenVae = o.From is not null ? "the teacher continued" : o.VaeFrom;
        return $"""
            {ToyTeacher.ReadmeTitle} (FluxPipeline layout)

            A tiny FLUX.1-architecture text-to-image model of the toy world, trained {(o.From is not null ? "further from the teacher in " + o.From : o.VaeFrom is not null ? "from random initialisation on the autoencoder of " + o.VaeFrom : "from random initialisation")} by this
            project's own code (`studio toy pretrain`) on 64x64 renders of train-split toy prompts. Weights are bfloat16.

            Re-make it with ({(o.DType == TorchSharp.torch.ScalarType.Float32 ? "float32 training" : $"{o.DType.ToString().ToLowerInvariant()} compute with float32 master weights")}):

                {command}

            | | |
            |---|---|
            | seed | {o.Seed} |
            | batch size | {o.BatchSize} |
            | stage A (AutoencoderKL) | {(takenVae is not null ? "none: the autoencoder of " + takenVae : $"{o.VaeSteps} AdamW steps, lr {o.VaeLearningRate} cosine, L1 with ink pixels weighted {1 + o.VaeInkWeight}x + {o.KlWeight} x KL; {r.VaeSeconds / 60:0.0} min")} |
            | stage B (FLUX transformer + T5 + CLIP, jointly) | {o.FluxSteps} AdamW steps, lr {o.FluxLearningRate} cosine, rectified-flow MSE{(o.FluxInkWeight > 0 ? $" with image tokens weighted 1 + {o.FluxInkWeight:0.##} x their share of ink" : "")}{(o.PromptDropout > 0 ? $", {o.PromptDropout:0.##} of prompts dropped to the empty prompt" : "")}{(o.PureNoise > 0 ? $", {o.PureNoise:0.##} of each batch at sigma 1 (pure noise)" : "")}{(o.PooledDropout > 0 ? $", {o.PooledDropout:0.##} of each batch with CLIP given the empty prompt (T5 the prompt)" : "")}; pool of {o.PoolSize} prompts; {r.FluxSeconds / 60:0.0} min |
            | VAE held-out L1 (pixels in [-1, 1]) | {(takenVae is not null ? "that of " + takenVae : $"{F(r.VaeEvalBefore)} at init -> {F(r.VaeEvalAfter)} (train L1 {F(r.VaeTrainLoss)})")} |
            | latent shift_factor / scaling_factor | {F(r.ShiftFactor)} / {F(r.ScalingFactor)} |
            | flow held-out MSE (sigma 0.2/0.5/0.8) | {F(r.FluxEvalBefore)} at {(o.From is null ? "init" : "the start")} -> {F(r.FluxEvalAfter)} (train MSE, mean of the last steps: {F(r.FluxTrainLoss)}) |

            Components (same classes and layouts as the real FLUX.1-dev folder):
            - `vae/`: AutoencoderKL, block_out_channels [{string.Join(", ", a.VaeBlockOutChannels)}], 16 latent channels (64x64 -> {a.LatentSize}x{a.LatentSize}: {a.ImageTokens} image tokens), no quant convs.
              shift/scaling factors measured on posterior samples of train renders so (z - shift) * scale has unit variance.
            - `transformer/`: FluxTransformer2DModel, {a.FluxNumHeads} heads x {a.FluxHeadDim}, {a.FluxDoubleBlocks} double + {a.FluxSingleBlocks} single blocks,
              guidance embedder (trained with random guidance in [1, 5]; the model learns to ignore it: there is no guidance distillation).
            - `text_encoder_2/`: T5EncoderModel, d_model {a.T5DModel}, {a.T5NumLayers} layers, {a.T5NumHeads} heads, d_ff {a.T5DFf}, gated-gelu; prompts padded to {ToyTeacherArchitecture.T5TextLength} tokens, no attention mask (as FLUX).
            - `text_encoder/`: CLIPTextModel, hidden {a.ClipHiddenSize}, {a.ClipNumLayers} layers; its pooled output feeds pooled_projections.
            - `tokenizer/`, `tokenizer_2/`: the real CLIP and T5 tokenizer files; tokenizer_2's model_max_length is {ToyTeacherArchitecture.T5TextLength}: call the pipeline with max_sequence_length {ToyTeacherArchitecture.T5TextLength}.
            - `scheduler/`: FlowMatchEulerDiscreteScheduler with dynamic shifting anchored at the toy resolution: base_image_seq_len {a.ImageTokens}
              (64x64) with base_shift 0.5, max_image_seq_len {a.ImageTokens * 16} (256x256) with max_shift 1.15, so a 64x64 image gets mu = 0.5, the shift FLUX.1
              uses at its own base resolution. Training sigmas: logit-normal, shifted by the same mu{(o.PureNoise > 0 ? $"; {o.PureNoise:0.##} of each batch at sigma 1" : "")}.
            """;
    }
}
