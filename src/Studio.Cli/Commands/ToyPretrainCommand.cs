using System.CommandLine;
using Studio.Ml;
using Studio.Ml.Tensors;
using Studio.Ml.Toy;

namespace Studio.Cli;

/// <summary>`studio toy pretrain`: trains the toy teacher from scratch and writes it as a FluxPipeline folder.</summary>
public static class ToyPretrainCommand
{
    public static Command Create()
    {
        var defaults = new ToyPretrainingOptions();
        var output = new Option<DirectoryInfo>("--out") { Description = "the teacher folder to write (replaced when done)", Required = true };
        var work = new Option<DirectoryInfo?>("--work") { Description = "checkpoints and cached data (default: OUT.work)" };
        var resume = new Option<bool>("--resume") { Description = "continue the run in the work folder" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => defaults.Seed };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => defaults.BatchSize };
        var vaeSteps = new Option<int>("--vae-steps") { Description = "stage A (autoencoder) updates", DefaultValueFactory = _ => defaults.VaeSteps };
        var inkWeight = new Option<double>("--vae-ink-weight") { Description = "stage A: extra L1 weight of object, letter and plate pixels (a pixel counts 1 + this)", DefaultValueFactory = _ => defaults.VaeInkWeight };
        var fluxSteps = new Option<int>("--flux-steps") { Description = "stage B (transformer + text encoders) updates", DefaultValueFactory = _ => defaults.FluxSteps };
        var dropout = new Option<double>("--prompt-dropout") { Description = "stage B: share of prompts replaced by the empty prompt (for true classifier-free guidance)", DefaultValueFactory = _ => defaults.PromptDropout };
        var pool = new Option<int>("--pool") { Description = "train prompts encoded once for stage B", DefaultValueFactory = _ => defaults.PoolSize };
        var vaeLr = new Option<double>("--vae-lr") { Description = "stage A peak learning rate (warm-up, then cosine)", DefaultValueFactory = _ => defaults.VaeLearningRate };
        var fluxLr = new Option<double>("--flux-lr") { Description = "stage B peak learning rate (warm-up, then cosine)", DefaultValueFactory = _ => defaults.FluxLearningRate };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "updates between checkpoints (stage B also logs its held-out loss then)", DefaultValueFactory = _ => defaults.CheckpointEvery };
        var architecture = new Option<string>("--architecture")
        {
            Description = $"the teacher's sizes: {string.Join(", ", ToyTeacherArchitecture.Named.Keys)} (latent16: a 16x16 latent, 64 image tokens; latent8: the first teachers' 8x8, 16 tokens)",
            DefaultValueFactory = _ => ToyTeacherArchitecture.Named.Keys.First(),
        };
        var pooledDropout = new Option<double>("--pooled-dropout") { Description = "stage B: share of a batch whose CLIP prompt (the pooled vector) is the empty prompt's while T5 keeps the prompt, so the transformer learns to read T5", DefaultValueFactory = _ => defaults.PooledDropout };
        var pureNoise = new Option<double>("--pure-noise") { Description = "stage B: share of a batch trained at sigma 1, where a generation starts (the prompt alone decides the background there)", DefaultValueFactory = _ => defaults.PureNoise };
        var fluxInk = new Option<double>("--flux-ink-weight") { Description = "stage B: extra weight of image tokens by their share of ink (objects, letters) in the flow loss (0: plain MSE)", DefaultValueFactory = _ => defaults.FluxInkWeight };
        var from = new Option<DirectoryInfo?>("--from") { Description = "continue a toy teacher folder (or toy: the shipped one): stage A skipped, stage B starts from its transformer and text encoders" };
        var vaeFrom = new Option<DirectoryInfo?>("--vae-from") { Description = "train a new transformer and text encoders (the --architecture's sizes, from random initialisation) on this toy teacher's autoencoder (or toy: the shipped one's): stage A skipped" };
        var vaeOnly = new Option<bool>("--vae-only") { Description = "stop after stage A; the autoencoder stays in WORK/vae for `studio toy ceiling --vae`" };
        var dtype = new Option<string>("--dtype") { Description = "compute dtype of both stages: float32, or bfloat16 with float32 master weights (faster on a GPU and on CPUs with AVX-512 BF16; checkpoints and the teacher are written from the float32 masters)", DefaultValueFactory = _ => "float32" };
        var threads = new Option<int>("--threads") { Description = "CPU threads", DefaultValueFactory = _ => 2 };
        var device = DeviceOption.Create();

        var command = new Command("pretrain", "Train the toy teacher (AutoencoderKL, then FLUX transformer + T5 + CLIP with rectified flow) on this CPU or a GPU.")
        {
            output, work, resume, architecture, from, vaeFrom, vaeOnly, seed, batch, vaeSteps, inkWeight, fluxSteps, dropout, pureNoise, pooledDropout, fluxInk, pool, vaeLr, fluxLr, checkpointEvery, dtype, threads, device,
        };
        command.SetAction(parse =>
        {
            var name = parse.GetValue(architecture)!;
            var options = defaults with
            {
                Architecture = ToyTeacherArchitecture.Named.TryGetValue(name, out var a) ? a
                    : throw new ArgumentException($"--architecture: unknown {name}; one of {string.Join(", ", ToyTeacherArchitecture.Named.Keys)}"),
                Seed = parse.GetValue(seed),
                BatchSize = Positive(parse.GetValue(batch), "--batch"),
                VaeSteps = Positive(parse.GetValue(vaeSteps), "--vae-steps"),
                VaeInkWeight = parse.GetValue(inkWeight) is >= 0 and var iw ? iw : throw new ArgumentException("--vae-ink-weight must be 0 or more"),
                FluxSteps = Positive(parse.GetValue(fluxSteps), "--flux-steps"),
                PromptDropout = parse.GetValue(dropout) is >= 0 and < 1 and var pd ? pd : throw new ArgumentException($"--prompt-dropout: {parse.GetValue(dropout)} must be at least 0 and below 1"),
                PooledDropout = parse.GetValue(pooledDropout) is >= 0 and <= 1 and var cd ? cd : throw new ArgumentException($"--pooled-dropout: {parse.GetValue(pooledDropout)} must be between 0 and 1"),
                PureNoise = parse.GetValue(pureNoise) is >= 0 and <= 1 and var pn ? pn : throw new ArgumentException($"--pure-noise: {parse.GetValue(pureNoise)} must be between 0 and 1"),
                FluxInkWeight = parse.GetValue(fluxInk) is >= 0 and var fw ? fw : throw new ArgumentException($"--flux-ink-weight: {parse.GetValue(fluxInk)} must be 0 or more"),
                From = parse.GetValue(from) is { } f ? TeacherFolder(f, "--from", "vae", "transformer", "text_encoder", "text_encoder_2") : null,
                VaeFrom = parse.GetValue(vaeFrom) is { } vf ? TeacherFolder(vf, "--vae-from", "vae") : null,
                PoolSize = Positive(parse.GetValue(pool), "--pool"),
                VaeLearningRate = parse.GetValue(vaeLr) is > 0 and var vl ? vl : throw new ArgumentException("--vae-lr must be positive"),
                FluxLearningRate = parse.GetValue(fluxLr) is > 0 and var fl ? fl : throw new ArgumentException("--flux-lr must be positive"),
                CheckpointEvery = Positive(parse.GetValue(checkpointEvery), "--checkpoint-every"),
                DType = DType.ParseJob(parse.GetValue(dtype)!, "--dtype"),
            };
            TorchRuntime.Initialise();
            TorchSharp.torch.set_num_threads(Positive(parse.GetValue(threads), "--threads"));
            if (DeviceOption.Resolve(parse, device) is not { } on) return 1;
            var outFolder = parse.GetValue(output)!.FullName;
            var workFolder = parse.GetValue(work)?.FullName ?? outFolder.TrimEnd(Path.DirectorySeparatorChar) + ".work";
            var commandLine = $"studio toy pretrain --out OUT --architecture {name} --seed {options.Seed} --batch {options.BatchSize} --vae-steps {options.VaeSteps} --vae-ink-weight {options.VaeInkWeight} --flux-steps {options.FluxSteps} --prompt-dropout {options.PromptDropout} --pool {options.PoolSize} --vae-lr {options.VaeLearningRate} --flux-lr {options.FluxLearningRate}"
                + (options.PureNoise > 0 ? $" --pure-noise {options.PureNoise}" : "") + (options.PooledDropout > 0 ? $" --pooled-dropout {options.PooledDropout}" : "") + (options.FluxInkWeight > 0 ? $" --flux-ink-weight {options.FluxInkWeight}" : "") + (options.From is null ? "" : $" --from {parse.GetValue(from)!.ToString()}") + (options.VaeFrom is null ? "" : $" --vae-from {parse.GetValue(vaeFrom)!.ToString()}") + (options.DType == TorchSharp.torch.ScalarType.Float32 ? "" : $" --dtype {options.DType.ToString().ToLowerInvariant()}");
            var pretraining = new ToyPretraining(options, workFolder, line => Console.WriteLine($"{DateTime.UtcNow:HH:mm:ss} {line}"), on);
            if (parse.GetValue(vaeOnly))
            {
                var given = options.From is not null ? "--from" : options.VaeFrom is not null ? "--vae-from" : null;
                if (given is not null)
                    throw new ArgumentException($"--vae-only trains the autoencoder, which {given} takes as it is: pass one of them");
                var (stageA, vaeFolder) = pretraining.RunAutoencoder(parse.GetValue(resume));
                Console.WriteLine($"VAE eval L1 {stageA.VaeEvalAfter:0.0000}; the autoencoder: {vaeFolder} (measure it with `studio toy ceiling --vae {vaeFolder}`)");
                return 0;
            }
            var result = pretraining.Run(outFolder, parse.GetValue(resume), commandLine);
            Console.WriteLine($"VAE eval L1 {result.VaeEvalAfter:0.0000}; flow eval MSE {result.FluxEvalBefore:0.0000} -> {result.FluxEvalAfter:0.0000}");
            return 0;
        });
        return command;
    }

    /// <summary>--from, --vae-from: a toy teacher folder ("toy": the shipped one) with the components stage B takes.</summary>
    static string TeacherFolder(DirectoryInfo folder, string option, params string[] parts)
    {
        var path = folder.ToString() == "toy" ? ToyTeacher.Folder : folder.FullName;
        foreach (var part in parts)
            if (!Directory.Exists(Path.Combine(path, part))) throw new ArgumentException($"{option} {folder}: no {part}/ folder there; a toy teacher folder (FluxPipeline layout) is needed");
        return path;
    }

    static int Positive(int value, string option) => value >= 1 ? value : throw new ArgumentException($"{option}: {value} must be at least 1");
}
