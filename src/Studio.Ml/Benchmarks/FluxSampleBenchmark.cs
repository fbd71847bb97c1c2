using System.Diagnostics;
using System.Text.Json.Nodes;
using Studio.Ml.Diffusion;
using Studio.Ml.Models.Clip;
using Studio.Ml.Models.Common;
using Studio.Ml.Models.Flux;
using Studio.Ml.Models.T5;
using Studio.Ml.Models.Vae;
using Studio.Ml.Tensors;
using Studio.Ml.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Benchmarks;

/// <summary>
/// The FLUX sampling workload (bench/flux-sample-toy.json): a random pipeline of the given component configs is
/// written in the diffusers folder layout (with the built-in CLIP and T5 tokenizers), loaded like a real one, and one
/// text-to-image call (encode prompts, denoise, decode) is timed.
/// </summary>
public sealed record FluxSampleWorkload(
    WorkloadFile File, JsonObject Transformer, JsonObject TextEncoder, JsonObject TextEncoder2, JsonObject Vae, JsonObject Scheduler,
    IReadOnlyList<string> Prompts, int Steps, double Guidance, int Width, int Height, int MaxSequenceLength)
{
    public static FluxSampleWorkload Load(string path)
    {
        var (file, config) = WorkloadFile.Load(path);
        JsonObject Part(string field) => file.Json[field] as JsonObject ?? throw config.Invalid(field, "must be an object holding that component's config.json");
        int Positive(string field) => WorkloadFile.Positive(config, field);
        WorkloadFile.RequireFloat32(config);
        var prompts = config.StringArray("prompts");
        if (prompts.Length == 0) throw config.Invalid("prompts", "must hold at least one prompt");
        return new FluxSampleWorkload(file, Part("transformer"), Part("text_encoder"), Part("text_encoder_2"), Part("vae"),
            Part("scheduler"), prompts, Positive("steps"), config.Double("guidance"), Positive("width"), Positive("height"),
            Positive("max_sequence_length"));
    }
}

public static class FluxSampleBenchmark
{
    /// <summary>Per dtype: the load time (once), the time per call, and the median time of each stage.</summary>
    public sealed record Result(ScalarType DType, double LoadMs, BenchmarkTimes Times, IReadOnlyDictionary<string, double> StageMedianMs);

    public static IReadOnlyList<Result> Run(FluxSampleWorkload workload)
    {
        var device = workload.File.Start();
        var folder = Directory.CreateTempSubdirectory("studio-bench-flux-").FullName;
        try
        {
            WriteRandomPipeline(folder, workload);
            var request = new FluxRequest(workload.Prompts, workload.File.Seed, workload.Steps, workload.Guidance, workload.Width, workload.Height,
                workload.MaxSequenceLength);
            return [Time(folder, ScalarType.Float32, device, request, workload), Time(folder, ScalarType.BFloat16, device, request, workload)];
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    static Result Time(string folder, ScalarType dtype, Device device, FluxRequest request, FluxSampleWorkload workload)
    {
        var load = Stopwatch.StartNew();
        using var pipeline = FluxPipeline.Load(folder, dtype, device: device);
        var loadMs = load.Elapsed.TotalMilliseconds;
        var stages = new Dictionary<string, List<double>>();
        var times = workload.File.Measure(() =>
        {
            using var images = pipeline.Generate(request);
            foreach (var (stage, time) in images.Timings)
            {
                if (!stages.TryGetValue(stage, out var list)) stages[stage] = list = [];
                list.Add(time.TotalMilliseconds);
            }
        });
        // Stage times of the timed calls only (the warm-up calls come first).
        var medians = stages.ToDictionary(s => s.Key, s => BenchmarkTimes.Of(s.Value.Skip(workload.File.Warmup).ToList()).MedianMs);
        return new Result(dtype, loadMs, times, medians);
    }

    /// <summary>Writes a pipeline folder with seeded random weights for the workload's component configs.</summary>
    public static void WriteRandomPipeline(string folder, FluxSampleWorkload workload)
    {
        manual_seed(workload.File.Seed);
        void Json(string relative, JsonNode json)
        {
            var path = Path.Combine(folder, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            AtomicFile.WriteAllText(path, json.ToJsonString());
        }
        void Weights(string relative, nn.Module module) =>
            SafeTensorsWriter.Save(Path.Combine(folder, relative), module.state_dict().Select(p => new KeyValuePair<string, Tensor>(p.Key, p.Value)));

        Json("model_index.json", new JsonObject { ["_class_name"] = "FluxPipeline", ["_diffusers_version"] = "0.31.0" });
        Json("scheduler/scheduler_config.json", workload.Scheduler.DeepClone());
        Json("transformer/config.json", workload.Transformer.DeepClone());
        using (var transformer = new FluxTransformer(FluxTransformerConfig.From(new ModelConfig(workload.Transformer, "transformer"))))
            Weights("transformer/diffusion_pytorch_model.safetensors", transformer);
        Json("vae/config.json", workload.Vae.DeepClone());
        using (var vae = new AutoencoderKL(AutoencoderKLConfig.Parse(new ModelConfig(workload.Vae, "vae"))))
            Weights("vae/diffusion_pytorch_model.safetensors", vae);
        Json("text_encoder/config.json", workload.TextEncoder.DeepClone());
        using (var clip = new ClipTextEncoder(ClipTextConfig.From(new ModelConfig(workload.TextEncoder, "text_encoder"))))
            Weights("text_encoder/model.safetensors", clip);
        Json("text_encoder_2/config.json", workload.TextEncoder2.DeepClone());
        using (var t5 = T5Encoder.Create(T5Config.From(new ModelConfig(workload.TextEncoder2, "text_encoder_2"))))
        {
            t5.InitialiseLikeTransformers();
            Weights("text_encoder_2/model.safetensors", t5);
        }
        foreach (var (kind, target) in new[] { ("clip", "tokenizer"), ("t5", "tokenizer_2") })
        {
            Directory.CreateDirectory(Path.Combine(folder, target));
            foreach (var file in Directory.GetFiles(TextTokenizer.BuiltInFolder(kind)))
                File.Copy(file, Path.Combine(folder, target, Path.GetFileName(file)));
        }
    }
}
