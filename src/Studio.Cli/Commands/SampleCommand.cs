using System.CommandLine;
using System.Diagnostics;
using Studio.Ml;
using Studio.Ml.Diffusion;
using Studio.Ml.Models.Common;
using Studio.Ml.Tensors;
using static TorchSharp.torch;

namespace Studio.Cli;

/// <summary>
/// `studio sample --pipeline DIR [--text-encoder-2 DIR] --prompt TEXT [--prompt ...] --seed N --steps N --guidance G
/// --width W --height H --out FILE_OR_DIR`: text to image with a diffusers FLUX folder, any T5-slot encoder (T5-XXL,
/// a student, a DistillT5 folder), printing the time of each stage. One prompt may go to a `.png` file; otherwise
/// `--out` is a folder that receives `image-N.png` per prompt.
/// </summary>
public static class SampleCommand
{
    public static Command Create()
    {
        var pipeline = new Option<string>("--pipeline") { Description = "A diffusers FLUX pipeline folder (model_index.json, transformer/, vae/, text_encoder/, text_encoder_2/, tokenizers, scheduler/)", Required = true };
        var textEncoder2 = new Option<string?>("--text-encoder-2") { Description = "A folder for the T5 slot instead of the pipeline's text_encoder_2/ (T5EncoderModel, student T5 + projection, or DistillT5)" };
        var prompts = new Option<string[]>("--prompt") { Description = "A prompt (repeat for a batch; one image each)", Required = true, AllowMultipleArgumentsPerToken = false };
        var seed = new Option<long>("--seed") { Description = "Seed of the initial noise (the whole batch)", DefaultValueFactory = _ => 0 };
        var steps = new Option<int>("--steps") { Description = "Denoising steps", DefaultValueFactory = _ => 28 };
        var guidance = new Option<double>("--guidance") { Description = "Embedded guidance scale (FLUX.1-dev; ignored by schnell)", DefaultValueFactory = _ => 3.5 };
        var width = new Option<int>("--width") { Description = "Image width, a multiple of 16", DefaultValueFactory = _ => 1024 };
        var height = new Option<int>("--height") { Description = "Image height, a multiple of 16", DefaultValueFactory = _ => 1024 };
        var maxLength = new Option<int?>("--max-sequence-length") { Description = "T5 tokens per prompt (default 512 for dev, 256 for schnell)" };
        var dtype = new Option<string>("--dtype") { Description = "float32 or bfloat16", DefaultValueFactory = _ => "float32" };
        var vaeTile = new Option<int?>("--vae-tile") { Description = "Decode in tiles of this many pixels (less memory for big images)" };
        var output = new Option<string>("--out") { Description = "A .png file (one prompt) or a folder", Required = true };
        var command = new Command("sample", "Generate images with a FLUX pipeline folder and any T5-slot encoder.")
            { pipeline, textEncoder2, prompts, seed, steps, guidance, width, height, maxLength, dtype, vaeTile, output };
        command.SetAction(parse =>
        {
            try
            {
                var request = new FluxRequest(parse.GetValue(prompts)!, parse.GetValue(seed), parse.GetValue(steps), parse.GetValue(guidance),
                    parse.GetValue(width), parse.GetValue(height), parse.GetValue(maxLength), parse.GetValue(vaeTile));
                Run(parse.GetValue(pipeline)!, parse.GetValue(textEncoder2), ParseDType(parse.GetValue(dtype)!), request, parse.GetValue(output)!);
                return 0;
            }
            catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException or UnauthorizedAccessException or CheckpointLoadException or NotSupportedException)
            {
                Console.Error.WriteLine($"studio sample: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    static ScalarType ParseDType(string name) => name switch
    {
        "float32" or "fp32" => ScalarType.Float32,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        _ => throw new ArgumentException($"--dtype '{name}' is not float32 or bfloat16"),
    };

    public static void Run(string pipelineFolder, string? textEncoder2, ScalarType dtype, FluxRequest request, string output)
    {
        var single = output.EndsWith(".png", StringComparison.OrdinalIgnoreCase);
        if (single && request.Prompts.Count != 1)
            throw new ArgumentException($"--out {output} is one file but there are {request.Prompts.Count} prompts; give a folder");
        var className = ModelConfig.Load(Path.Combine(pipelineFolder, "model_index.json")).OptionalString("_class_name");
        if (className is not null && !className.StartsWith("Flux", StringComparison.Ordinal))
            throw new NotSupportedException($"{pipelineFolder}: '{className}' pipelines are not supported by studio sample yet (FLUX only)");

        TorchRuntime.Initialise();
        var clock = Stopwatch.StartNew();
        using var flux = FluxPipeline.Load(pipelineFolder, dtype, textEncoder2);
        Console.WriteLine($"load pipeline: {clock.Elapsed.TotalSeconds:F2} s (T5 slot: {flux.T5.Description}, {dtype})");
        using var images = flux.Generate(request);
        foreach (var (stage, time) in images.Timings) Console.WriteLine($"{stage}: {time.TotalSeconds:F2} s");

        if (!single) Directory.CreateDirectory(output);
        for (int i = 0; i < images.Count; i++)
        {
            var path = single ? output : Path.Combine(output, $"image-{i}.png");
            var png = images.Png(i);
            AtomicFile.Write(path, stream => stream.Write(png));
            Console.WriteLine(path);
        }
    }
}
