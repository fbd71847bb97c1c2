using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Studio.Ml.Models.Common;

/// <summary>
/// nn.Dropout's computation (in training mode, each value zeroed with probability p and the others scaled by
/// 1 / (1 - p); the input as it is otherwise), with its masks drawn from <see cref="Generator"/> when one is set. The
/// global generator, which nn.Dropout draws from, is one per process: two runs training at once in one worker process
/// (Studio:WorkerCount 2) would draw each other's masks and neither would be repeatable. A trainer gives each run's
/// student its own generator (<see cref="UseGenerator"/>); without one, the global generator. The generator must be on
/// the input's device: TorchSharp 0.107 makes CPU generators only, so on a GPU the trainer gives none and seeds the
/// device's generator under a lock instead (<see cref="Distillation.DropoutRandom.DeviceGenerator"/>).
/// </summary>
public sealed class SeededDropout(double p) : nn.Module<Tensor, Tensor>("Dropout")
{
    public double P { get; } = p;

    /// <summary>Where the masks come from (null: the global generator, as nn.Dropout).</summary>
    public Generator? Generator { get; set; }

    public override Tensor forward(Tensor input)
    {
        if (!training || P == 0) return input.alias();
        if (Generator is null) return F.dropout(input, P, training: true);
        using var keep = empty_like(input).bernoulli_(1 - P, Generator);
        var kept = input * keep;
        return kept.mul_(1 / (1 - P));
    }

    /// <summary>Makes every <see cref="SeededDropout"/> in <paramref name="module"/> draw from <paramref name="generator"/> (null: the global generator again).</summary>
    public static void UseGenerator(nn.Module module, Generator? generator)
    {
        foreach (var dropout in module.modules().OfType<SeededDropout>()) dropout.Generator = generator;
    }
}
