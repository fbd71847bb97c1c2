using System.CommandLine;
using Studio.Ml.Distillation;
using Studio.Ml;
using Studio.Ml.Diffusion;
using Studio.Ml.Evaluation;
using Studio.Ml.Models.Common;
using Studio.Ml.Tensors;
using Studio.Ml.Toy;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Cli;

/// <summary>
/// `studio eval --pipeline DIR|toy [--text-encoder-2 CKPT] --prompts heldout --seeds N`: generates the toy prompts and
/// scores the images on the three criteria (docs/TOY-WORLD.md); prints the table and writes the JSON report. With
/// `--agreement-only --resolution N`, any FLUX pipeline: only the student's |Δ| to the teacher's images.
/// </summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var defaults = new ToyEvaluationOptions();
        var pipeline = new Option<string>("--pipeline") { Description = "a FLUX pipeline folder (of the toy world; any FLUX or SD3 pipeline with --agreement-only), or toy (the built-in teacher)", DefaultValueFactory = _ => "toy" };
        var textEncoder2 = new Option<string?>("--text-encoder-2") { Description = "the T5 slot: a training checkpoint folder, an exported student, DistillT5 or T5EncoderModel folder (default: the pipeline's own); each batch is then also drawn with the teacher's own encoder, for the mean |Δ| to the teacher" };
        var prompts = new Option<string>("--prompts") { Description = "heldout (the standard set) or train", DefaultValueFactory = _ => defaults.Split };
        var count = new Option<int>("--count") { Description = "prompts per category (5 categories)", DefaultValueFactory = _ => defaults.PromptsPerCategory };
        var seeds = new Option<int>("--seeds") { Description = "images per prompt (seeds 0..N-1)", DefaultValueFactory = _ => defaults.Seeds };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => defaults.Steps };
        var guidance = new Option<double>("--guidance") { DefaultValueFactory = _ => defaults.Guidance };
        var trueCfg = new Option<double>("--true-cfg") { Description = "true classifier-free guidance scale against the empty prompt (1: off)", DefaultValueFactory = _ => defaults.TrueCfgScale };
        var maxLength = new Option<int>("--max-sequence-length") { Description = "T5 tokens per prompt (the toy teacher's 32)", DefaultValueFactory = _ => defaults.MaxSequenceLength };
        var batch = new Option<int>("--batch") { Description = "prompts per pipeline call", DefaultValueFactory = _ => defaults.BatchSize };
        var dtype = new Option<string>("--dtype") { Description = "float32 or bfloat16", DefaultValueFactory = _ => "float32" };
        var report = new Option<FileInfo>("--report") { Description = "the JSON report", DefaultValueFactory = _ => new FileInfo("eval-report.json") };
        var sheet = new Option<FileInfo?>("--sheet") { Description = "also write a PNG sheet of the first seed's images, each captioned with its prompt and what made it" };
        var samples = new Option<DirectoryInfo?>("--samples") { Description = "keep the first seed's images of two prompts per category there as PNGs (with a student, the teacher's beside them), listed in the report with their |Δ| and SSIM" };
        var teacherImages = new Option<DirectoryInfo?>("--teacher-images") { Description = "a folder that keeps the teacher's images of these settings: an evaluation that draws them stores them there, and a student's evaluation compares with them instead of drawing them again" };
        var agreementOnly = new Option<bool>("--agreement-only") { Description = "teacher agreement alone, for any FLUX or SD3 pipeline: the student's mean |Δ| to the teacher's images of the same prompts and noise, at --resolution; no toy scores" };
        var clip = new Option<DirectoryInfo?>("--clip") { Description = "a transformers CLIP model folder (openai/clip-vit-large-patch14, as the paper): also the CLIP score of every image against its prompt, the teacher's own included" };
        var resolution = new Option<int>("--resolution") { Description = "image side in pixels (the toy world's 64; another size with --agreement-only)", DefaultValueFactory = _ => defaults.Resolution };
        var lora = new Option<FileInfo?>("--lora") { Description = "a LoRA of the transformer and CLIP (as studio sample --lora) merged for the teacher's images and the student's alike: does the student still follow the teacher with it?" };
        var loraScale = new Option<double>("--lora-scale") { Description = "how much of the LoRA", DefaultValueFactory = _ => 1.0 };
        var device = DeviceOption.Create();
        var command = new Command("eval", "Evaluate a toy pipeline (or a student in its T5 slot) on toy prompts: image quality (FD), semantics, text; or, with --agreement-only, a student in any FLUX or SD3 pipeline against its teacher.")
        {
            pipeline, textEncoder2, prompts, count, seeds, steps, guidance, trueCfg, maxLength, batch, dtype, report, sheet, samples, teacherImages,
            agreementOnly, resolution, clip, lora, loraScale, device,
        };
        command.SetAction((parse, cancel) =>
        {
            var options = new ToyEvaluationOptions
            {
                Split = parse.GetValue(prompts)!, PromptsPerCategory = parse.GetValue(count), Seeds = parse.GetValue(seeds),
                Steps = parse.GetValue(steps), Guidance = parse.GetValue(guidance), TrueCfgScale = parse.GetValue(trueCfg), MaxSequenceLength = parse.GetValue(maxLength),
                BatchSize = parse.GetValue(batch), ScoreScenes = !parse.GetValue(agreementOnly), Resolution = parse.GetValue(resolution),
            };
            if (options.Problem() is { } problem) throw new ArgumentException(problem);
            if (!options.ScoreScenes && parse.GetValue(sheet) is not null) throw new ArgumentException("--sheet: the sheet shows toy images; --agreement-only draws none to score");
            if (!options.ScoreScenes && parse.GetValue(textEncoder2) is null && parse.GetValue(teacherImages) is null && parse.GetValue(clip) is null)
                throw new ArgumentException("--agreement-only measures a student against the teacher: give --text-encoder-2 (or --teacher-images to keep the teacher's images for later, or --clip for the teacher's CLIP score)");
            var type = DType.ParseJob(parse.GetValue(dtype)!, "--dtype");
            // Where the results go, before anything is loaded or drawn.
            AtomicFile.CheckOption("--report", parse.GetValue(report)!.FullName);
            AtomicFile.CheckOption("--sheet", parse.GetValue(sheet)?.FullName);
            if (parse.GetValue(samples)?.FullName is { } samplesAt && (File.Exists(samplesAt) ? samplesAt : AtomicFile.FileInTheWay(samplesAt)) is { } inTheWay)
                throw new ArgumentException($"--samples {samplesAt}: {inTheWay} is a file, not a folder");
            if (!double.IsFinite(parse.GetValue(loraScale))) throw new ArgumentException($"--lora-scale {parse.GetValue(loraScale)} is not a finite number");
            TorchRuntime.Initialise();
            if (DeviceOption.Resolve(parse, device) is not { } on) return Task.FromResult(1);
            var folder = BuiltInSources.PipelineFolder(parse.GetValue(pipeline)!);
            using var loraWeights = parse.GetValue(lora) is { } loraFile ? LoraWeights.Load(loraFile.FullName) : null;
            using var flux = TeacherFamily.LoadPipeline(folder, type, on);
            using var merged = loraWeights is null ? null : flux.MergeLora(loraWeights, parse.GetValue(loraScale));
            using var student = parse.GetValue(textEncoder2) is { } t5 ? ToyEvaluation.LoadTextEncoder2(t5, type) : null;
            student?.Module.to(on);
            var sheetFile = parse.GetValue(sheet) is { } file ? new ToyEvaluationSheet(file.FullName, SheetLabel(parse.GetValue(pipeline)!, parse.GetValue(textEncoder2))) : null;
            var store = parse.GetValue(teacherImages) is { } imagesFolder ? new TeacherImageStore(imagesFolder.FullName) : null;
            var samplesFolder = parse.GetValue(samples)?.FullName;
            using var scorer = parse.GetValue(clip) is { } clipFolder ? ClipScorer.Load(clipFolder.FullName, on) : null;
            var result = ToyEvaluation.Run(flux, student, options, line => Console.Error.Write($"\r{line}   "), sheetFile, cancel, store, samplesFolder, scorer);
            if (loraWeights is not null) result = result with { Lora = loraWeights.Path, LoraScale = parse.GetValue(loraScale) };
            Console.Error.WriteLine();
            Console.WriteLine(result.Table());
            var path = parse.GetValue(report)!.FullName;
            result.Save(path);
            Console.WriteLine($"report: {path}");
            if (result.Samples is { } kept) Console.WriteLine($"samples: {kept.Count} prompts' images in {samplesFolder}");
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>What made the sheet's images: the pipeline's name (`toy` or its folder's), or "teacher + " the T5 slot's folder name.</summary>
    public static string SheetLabel(string pipeline, string? textEncoder2) =>
        textEncoder2 is null ? FolderName(pipeline) : $"teacher + {FolderName(textEncoder2)}";

    static string FolderName(string path) => Path.GetFileName(Path.TrimEndingDirectorySeparator(path)) is { Length: > 0 } name ? name : path;
}
