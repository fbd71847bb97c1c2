using System.Text.Json.Nodes;
using Studio.Ml.Models.Common;
using Studio.Ml.Models.T5;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Benchmarks;

/// <summary>
/// The standard T5 encoder forward workload of bench/t5-base.json: a T5 config, batch x seq random ids, with or
/// without an attention mask, on the workload's device (CPU threads fixed), inference only (eval, no autograd).
/// </summary>
public sealed record T5ForwardWorkload(WorkloadFile File, T5Config Model, int Batch, int Seq, bool AttentionMask)
{
    public static T5ForwardWorkload Load(string path)
    {
        var (file, config) = WorkloadFile.Load(path);
        if (file.Json["model"] is not JsonObject model) throw config.Invalid("model", "must be an object holding the T5 config");
        WorkloadFile.RequireFloat32(config);
        return new T5ForwardWorkload(
            File: file,
            Model: T5Config.From(new ModelConfig(model, $"{path} (model)")),
            Batch: WorkloadFile.Positive(config, "batch"),
            Seq: WorkloadFile.Positive(config, "seq"),
            AttentionMask: config.Bool("attention_mask"));
    }
}

/// <summary>Runs the T5 forward workload in float32 and again in bfloat16 with the same weights and ids.</summary>
public static class T5ForwardBenchmark
{
    public sealed record Result(ScalarType DType, BenchmarkTimes Times, double? MaxRelativeErrorVsFloat32);

    /// <summary>
    /// Builds the model (transformers' initialisation, seeded), then times float32 and bfloat16 forwards. The bf16 error
    /// is max|bf16 - f32| / max|f32| over last_hidden_state.
    /// </summary>
    public static IReadOnlyList<Result> Run(T5ForwardWorkload workload)
    {
        var device = workload.File.Start();
        torch.manual_seed(workload.File.Seed);
        using var model = T5Encoder.Create(workload.Model);
        model.InitialiseLikeTransformers();
        using var bf16 = T5Encoder.Create(workload.Model, ScalarType.BFloat16);
        using (torch.no_grad())
        {
            var weights = model.state_dict();
            foreach (var (name, p) in bf16.state_dict()) p.copy_(weights[name]);
        }
        model.to(device);
        bf16.to(device);
        // Ids drawn on the CPU (the same on every device), then moved.
        using var cpuIds = torch.randint(0, workload.Model.VocabSize, [workload.Batch, workload.Seq], dtype: ScalarType.Int64, device: CPU);
        using var ids = cpuIds.to(device);
        using var mask = workload.AttentionMask ? torch.ones(workload.Batch, workload.Seq, dtype: ScalarType.Int64, device: device) : null;

        using var inference = torch.inference_mode();
        var float32 = new Result(ScalarType.Float32, Time(model, ids, mask, workload), null);
        var bfloat16 = new Result(ScalarType.BFloat16, Time(bf16, ids, mask, workload), RelativeError(model, bf16, ids, mask));
        return [float32, bfloat16];
    }

    static double RelativeError(T5Encoder reference, T5Encoder candidate, Tensor ids, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        var expected = reference.forward(ids, mask);
        var actual = candidate.forward(ids, mask).to(ScalarType.Float32);
        return ((actual - expected).abs().max() / expected.abs().max()).item<float>();
    }

    static BenchmarkTimes Time(T5Encoder model, Tensor ids, Tensor? mask, T5ForwardWorkload workload) =>
        workload.File.Measure(() =>
        {
            using var output = model.forward(ids, mask);
            ComputeDevice.Synchronize(ids.device);
        });
}
