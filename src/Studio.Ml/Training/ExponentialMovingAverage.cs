using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Training;

/// <summary>
/// optimizer.ema: an exponential moving average of a module's trainable weights. After each update,
/// average = decay x average + (1 - decay) x weight, on the weight's device and in its dtype (the student trains in
/// float32); it starts at the weights it is made with. <see cref="Swap"/> puts the averages in the module for a while
/// (validation, samples) and gives the live weights back after; <see cref="StateDict"/> is the module's state with the
/// averages in place of the weights, which checkpoints store as the student, so what is evaluated and exported is the
/// average while training goes on from the live weights.
/// </summary>
public sealed class ExponentialMovingAverage : IDisposable
{
    readonly List<(string Name, TorchSharp.Modules.Parameter Weight, Tensor Average)> _entries;
    // Held for the average's life: a Scalar made per call could be finalized under a kernel (README, TorchSharp temporaries).
    readonly Scalar _decay, _rest;

    public double Decay { get; }

    public ExponentialMovingAverage(nn.Module module, double decay)
    {
        if (!(decay > 0 && decay < 1)) throw new ArgumentOutOfRangeException(nameof(decay), decay, "an average's decay is between 0 and 1");
        Decay = decay;
        (_decay, _rest) = (decay.ToScalar(), (1 - decay).ToScalar());
        using var _ = no_grad();
        _entries = module.named_parameters().Where(p => p.parameter.requires_grad)
            .Select(p => (p.name, p.parameter, p.parameter.detach().clone())).ToList();
    }

    /// <summary>Moves each average towards its weight (after an optimizer step).</summary>
    public void Update()
    {
        using var _ = no_grad();
        foreach (var (_, weight, average) in _entries) average.mul_(_decay).add_(weight, _rest);
    }

    /// <summary>Starts the averages again at the current weights (a run resumed from a checkpoint made without an average).</summary>
    public void Reset()
    {
        using var _ = no_grad();
        foreach (var (_, weight, average) in _entries) average.copy_(weight);
    }

    /// <summary>Reads the averages from a checkpoint's student file (names as the module's own).</summary>
    public void Load(Checkpoint averages)
    {
        using var _ = no_grad();
        foreach (var (name, _, average) in _entries)
        {
            using var stored = averages.Read(name);
            average.copy_(stored);
        }
    }

    /// <summary>The averages in the module until the result is disposed; then the live weights again, exactly.</summary>
    public IDisposable Swap()
    {
        using var _ = no_grad();
        var live = _entries.Select(e => e.Weight.detach().clone()).ToList();
        foreach (var (_, weight, average) in _entries) weight.copy_(average);
        return new Restore(this, live);
    }

    /// <summary>The module's state dict with each averaged weight replaced by its average (buffers and frozen weights as they are).</summary>
    public IEnumerable<KeyValuePair<string, Tensor>> StateDict(nn.Module module)
    {
        var averages = _entries.ToDictionary(e => e.Name, e => e.Average);
        return module.state_dict().Select(kv => new KeyValuePair<string, Tensor>(kv.Key, averages.GetValueOrDefault(kv.Key) ?? kv.Value));
    }

    public void Dispose()
    {
        foreach (var (_, _, average) in _entries) average.Dispose();
        _decay.Dispose();
        _rest.Dispose();
    }

    sealed class Restore(ExponentialMovingAverage owner, List<Tensor> live) : IDisposable
    {
        public void Dispose()
        {
            using var _ = no_grad();
            foreach (var ((_, weight, _), saved) in owner._entries.Zip(live))
            {
                weight.copy_(saved);
                saved.Dispose();
            }
        }
    }
}
