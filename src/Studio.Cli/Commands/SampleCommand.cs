using System.CommandLine;
using System.Diagnostics;
using Studio.Ml;
using Studio.Ml.Diffusion;
using Studio.Ml.Distillation;
using Studio.Ml.Models.Common;
using Studio.Ml.Models.Sd3;
using Studio.Ml.Models.Vae;
using Studio.Ml.Tensors;
using Studio.Ml.Toy;
using static TorchSharp.torch;

namespace Studio.Cli;

/// <summary>
/// `studio sample --pipeline DIR [--text-encoder-2 DIR | --text-encoder-3 DIR] --prompt TEXT [--prompt ...] --seed N
/// [--steps N] --guidance G [--width W --height H] --out FILE_OR_DIR`: text to image with a diffusers FLUX or Stable
/// Diffusion 3 folder (told apart by `model_index.json`) and any T5-slot encoder (T5-XXL, a student, a DistillT5 folder),
/// printing the time of each stage. One prompt may go to a `.png` file; otherwise `--out` is a folder that receives
/// `image-N.png` per prompt.
/// </summary>
public static class SampleCommand
{
    public static Command Create()
    {
        var pipeline = new Option<string>("--pipeline") { Description = "A diffusers FLUX or SD3 pipeline folder (model_index.json, transformer/, vae/, text encoders, tokenizers, scheduler/), or toy (the built-in toy teacher)", Required = true };
        var textEncoder2 = new Option<string?>("--text-encoder-2") { Description = "FLUX: a folder for the T5 slot instead of text_encoder_2/ (T5EncoderModel, student T5 + projection, or DistillT5)" };
        var textEncoder3 = new Option<string?>("--text-encoder-3") { Description = "SD3: a folder for the T5 slot instead of text_encoder_3/ (same layouts)" };
        var prompts = new Option<string[]>("--prompt") { Description = "A prompt (repeat for a batch; one image each)", Required = true, AllowMultipleArgumentsPerToken = false };
        var negativePrompts = new Option<string[]>("--negative-prompt") { Description = "SD3: a negative prompt per --prompt (default: empty)", AllowMultipleArgumentsPerToken = false };
        var seed = new Option<long>("--seed") { Description = "Seed of the initial noise (the whole batch)", DefaultValueFactory = _ => 0 };
        var steps = new Option<int?>("--steps") { Description = "Denoising steps (default: the toy teacher's 20, else diffusers' 28)" };
        var guidance = new Option<double?>("--guidance") { Description = "FLUX: embedded guidance (default 3.5; ignored by schnell). SD3: classifier-free guidance scale (default 7.0)" };
        var width = new Option<int?>("--width") { Description = "Image width, a multiple of twice the VAE's downscale (16 for FLUX.1 and SD3, 8 for the toy teacher; default: the toy teacher's 64, else diffusers' 1024)" };
        var height = new Option<int?>("--height") { Description = "Image height, a multiple of twice the VAE's downscale (16 for FLUX.1 and SD3, 8 for the toy teacher; default: the toy teacher's 64, else diffusers' 1024)" };
        var maxLength = new Option<int?>("--max-sequence-length") { Description = "T5 tokens per prompt (FLUX: 512 for dev, 256 for schnell; SD3: 256)" };
        var dtype = new Option<string>("--dtype") { Description = "float32 or bfloat16", DefaultValueFactory = _ => "float32" };
        var vaeTile = new Option<int?>("--vae-tile") { Description = "Decode in tiles of this many pixels (less memory for big images)" };
        var output = new Option<string>("--out") { Description = "A .png file (one prompt) or a folder", Required = true };
        var device = DeviceOption.Create();
        var freeTextEncoders = new Option<bool>("--free-text-encoders") { Description = "Free the text encoders once the prompts are encoded (T5-XXL and the transformer are then never in memory together)" };
        var lora = new Option<string?>("--lora") { Description = "A LoRA of the transformer (diffusers' layout as ai-toolkit writes it, or FLUX's original, kohya's or XLabs'; CLIP's layers too), merged for these images" };
        var loraScale = new Option<double>("--lora-scale") { Description = "How much of the LoRA (diffusers' lora_scale)", DefaultValueFactory = _ => 1.0 };
        var command = new Command("sample", "Generate images with a FLUX or SD3 pipeline folder and any T5-slot encoder.")
            { pipeline, textEncoder2, textEncoder3, prompts, negativePrompts, seed, steps, guidance, width, height, maxLength, dtype, vaeTile, output, device, freeTextEncoders, lora, loraScale };
        command.SetAction(parse =>
        {
            var folder = parse.GetValue(pipeline)!;
            // What the command line leaves out is the pipeline's: a toy teacher (the built-in one or one `studio toy
            // pretrain` wrote) draws its 64x64 scenes in 20 steps (as Generate does), a real pipeline diffusers' 1024x1024 in 28.
            var defaults = ToyTeacher.Is(BuiltInSources.PipelineFolder(folder)) ? ToyTeacher.Defaults : (Width: 1024, Height: 1024, Steps: 28);
            var options = new SampleOptions(parse.GetValue(prompts)!, parse.GetValue(negativePrompts) is { Length: > 0 } n ? n : null,
                parse.GetValue(seed), parse.GetValue(steps) ?? defaults.Steps, parse.GetValue(guidance),
                parse.GetValue(width) ?? defaults.Width, parse.GetValue(height) ?? defaults.Height,
                parse.GetValue(maxLength), parse.GetValue(vaeTile), DType.ParseJob(parse.GetValue(dtype)!, "--dtype"),
                parse.GetValue(textEncoder2), parse.GetValue(textEncoder3), parse.GetValue(device)!, parse.GetValue(freeTextEncoders),
                parse.GetValue(lora), parse.GetValue(loraScale));
            Run(folder, options, parse.GetValue(output)!);
            return 0;
        });
        return command;
    }

    /// <summary>What the command line asked for; the family's defaults fill what it left out.</summary>
    public sealed record SampleOptions(IReadOnlyList<string> Prompts, IReadOnlyList<string>? NegativePrompts, long Seed, int Steps,
        double? Guidance, int Width, int Height, int? MaxSequenceLength, int? VaeTileSize, ScalarType DType,
        string? TextEncoder2, string? TextEncoder3, string Device = "cpu", bool FreeTextEncoders = false, string? Lora = null, double LoraScale = 1);

    static IDisposable? Merge(LoraWeights? lora, ISlotPipeline pipeline, double scale)
    {
        if (lora is null) return null;
        var merged = pipeline.MergeLora(lora, scale);
        Console.WriteLine($"LoRA: {lora.Layers.Count} layer{(lora.Layers.Count == 1 ? "" : "s")} of rank {string.Join("/", lora.Layers.Select(l => l.Rank).Distinct())} merged at scale {scale} ({lora.Path})");
        return merged;
    }

    /// <summary>
    /// The multiple an image side must be of, read from the folder's configurations before any weights load (a wrong size
    /// is then refused at once, not after the pipeline has loaded): the VAE's downscale times the transformer's patch
    /// (FLUX packs 2x2 latents; SD3's patch_size). Null when a configuration is missing: loading says what is wrong then.
    /// </summary>
    static int? SizeMultiple(string pipelineFolder, bool sd3)
    {
        var vae = Path.Combine(pipelineFolder, "vae", "config.json");
        var transformer = Path.Combine(pipelineFolder, "transformer", "config.json");
        if (!File.Exists(vae) || (sd3 && !File.Exists(transformer))) return null;
        var patch = sd3 ? Sd3TransformerConfig.Load(transformer).PatchSize : 2;
        return AutoencoderKLConfig.Load(vae).DownscaleFactor * patch;
    }

    public static void Run(string pipelineFolder, SampleOptions options, string output)
    {
        pipelineFolder = BuiltInSources.PipelineFolder(pipelineFolder);
        var single = output.EndsWith(".png", StringComparison.OrdinalIgnoreCase);
        if (Path.GetExtension(output).ToLowerInvariant() is ".jpg" or ".jpeg" or ".webp" or ".gif" or ".bmp" or ".tif" or ".tiff")
            throw new ArgumentException($"--out {output}: studio sample writes PNG images; give a .png file or a folder");
        if (single && options.Prompts.Count != 1)
            throw new ArgumentException($"--out {output} is one file but there are {options.Prompts.Count} prompts; give a folder");
        var modelIndex = Path.Combine(pipelineFolder, "model_index.json");
        var className = ModelConfig.Load(modelIndex).OptionalString("_class_name") ?? "FluxPipeline";
        var sd3 = className.StartsWith("StableDiffusion3", StringComparison.Ordinal);
        if (!sd3 && !className.StartsWith("Flux", StringComparison.Ordinal))
            throw new NotSupportedException($"{modelIndex}: '_class_name' is '{className}': not supported by studio sample (FLUX and Stable Diffusion 3 are)");
        if (sd3 && options.TextEncoder2 is not null)
            throw new ArgumentException($"{pipelineFolder} is a Stable Diffusion 3 pipeline: its T5 slot is --text-encoder-3 (--text-encoder-2 is CLIP-G there)");
        if (!sd3 && options.TextEncoder3 is not null)
            throw new ArgumentException($"{pipelineFolder} is a FLUX pipeline: its T5 slot is --text-encoder-2");
        if (!sd3 && options.NegativePrompts is not null)
            throw new ArgumentException("--negative-prompt is for Stable Diffusion 3; FLUX.1 uses embedded guidance without one");

        if (!double.IsFinite(options.LoraScale)) throw new ArgumentException($"--lora-scale {options.LoraScale} is not a finite number");
        if (options.Steps < 1) throw new ArgumentException($"--steps: {options.Steps} must be at least 1");
        if (options.Guidance is { } guidance && GuidanceScale.Problem(guidance) is { } badGuidance)
            throw new ArgumentException($"--guidance: {badGuidance}");
        if (options.Width < 1 || options.Height < 1) throw new ArgumentException($"--width/--height: {options.Width}x{options.Height} is not a positive size");
        if (Math.Max(options.Width, options.Height) > RunConfigChecks.MaxResolution)
            throw new ArgumentException($"--width/--height: {options.Width}x{options.Height} is more than {RunConfigChecks.MaxResolution} pixels a side");
        if (options.Steps > RunConfigChecks.MaxSteps) throw new ArgumentException($"--steps: {options.Steps} is more than {RunConfigChecks.MaxSteps}");
        if (SizeMultiple(pipelineFolder, sd3) is { } multiple && (options.Width % multiple != 0 || options.Height % multiple != 0))
            throw new ArgumentException($"--width/--height: {options.Width}x{options.Height} is not a multiple of {multiple} (the VAE's downscale times the transformer's patch) for {pipelineFolder}");
        if (options.MaxSequenceLength is < 1 or > 512) throw new ArgumentException($"--max-sequence-length: {options.MaxSequenceLength} is not between 1 and 512");
        if (options.VaeTileSize is < 1) throw new ArgumentException($"--vae-tile: {options.VaeTileSize} is not a positive number of pixels");

        TorchRuntime.Initialise();
        var device = ComputeDevice.Parse(options.Device);
        using var lora = options.Lora is { } loraFile ? LoraWeights.Load(loraFile) : null;
        var clock = Stopwatch.StartNew();
        GeneratedImages images;
        if (sd3)
        {
            using var pipeline = Sd3Pipeline.Load(pipelineFolder, options.DType, options.TextEncoder3, device, options.FreeTextEncoders);
            Console.WriteLine($"load pipeline: {clock.Elapsed.TotalSeconds:F2} s (T5 slot: {pipeline.T5?.Description ?? "none: zeros"}, {options.DType}, {ComputeDevice.Name(device)})");
            using var merged = Merge(lora, pipeline, options.LoraScale);
            images = pipeline.Generate(new Sd3Request(options.Prompts, options.Seed, options.Steps, options.Guidance ?? 7.0, options.Width,
                options.Height, options.NegativePrompts, options.MaxSequenceLength ?? 256, options.VaeTileSize));
        }
        else
        {
            using var pipeline = FluxPipeline.Load(pipelineFolder, options.DType, options.TextEncoder2, device, options.FreeTextEncoders);
            Console.WriteLine($"load pipeline: {clock.Elapsed.TotalSeconds:F2} s (T5 slot: {pipeline.T5.Description}, {options.DType}, {ComputeDevice.Name(device)})");
            using var merged = Merge(lora, pipeline, options.LoraScale);
            images = pipeline.Generate(new FluxRequest(options.Prompts, options.Seed, options.Steps, options.Guidance ?? 3.5, options.Width,
                options.Height, options.MaxSequenceLength, options.VaeTileSize));
        }
        using (images)
        {
            foreach (var (stage, time) in images.Timings) Console.WriteLine($"{stage}: {time.TotalSeconds:F2} s");
            if (!single) Directory.CreateDirectory(output);
            for (var i = 0; i < images.Count; i++)
            {
                var path = single ? output : Path.Combine(output, $"image-{i}.png");
                var png = images.Png(i);
                AtomicFile.Write(path, stream => stream.Write(png));
                Console.WriteLine(path);
            }
        }
    }
}
