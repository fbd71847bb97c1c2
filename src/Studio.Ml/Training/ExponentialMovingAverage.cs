using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Training;

/// <summary>
/// optimizer.ema: an exponential moving average of a module's trainable weights. After update k (1, 2, ...),
/// average = d x average + (1 - d) x weight with d = min(decay, j / (9 + j)), j = k - start, diffusers' EMAModel warm-up
/// (d is 0.1 at the first averaged update and reaches 0.999 after about 9,000; without it an average of 0.999 would stay
/// near the initial weights for thousands of updates); up to update start (optimizer.ema_start, diffusers'
/// update_after_step) d is 0, so the average is the weights themselves, on the weight's device and in its dtype (the student trains in float32). <see cref="Swap"/> puts the averages in the module for a while
/// (validation, samples) and gives the live weights back after; <see cref="StateDict"/> is the module's state with the
/// averages in place of the weights, which checkpoints store as the student, so what is evaluated and exported is the
/// average while training goes on from the live weights.
/// </summary>
public sealed class ExponentialMovingAverage : IDisposable
{
    readonly List<(string Name, TorchSharp.Modules.Parameter Weight, Tensor Average)> _entries;

    public double Decay { get; }
    /// <summary>The last update at which the average is the weights themselves (0: it averages from the first).</summary>
    public long Start { get; }

    public ExponentialMovingAverage(nn.Module module, double decay, long start = 0)
    {
        if (!(decay > 0 && decay < 1)) throw new ArgumentOutOfRangeException(nameof(decay), decay, "an average's decay is between 0 and 1");
        if (start < 0) throw new ArgumentOutOfRangeException(nameof(start), start, "an average starts at update 0 or later");
        Decay = decay;
        Start = start;
        using var _ = no_grad();
        _entries = module.named_parameters().Where(p => p.parameter.requires_grad)
            .Select(p => (p.name, p.parameter, p.parameter.detach().clone())).ToList();
    }

    /// <summary>The decay applied at update <paramref name="update"/> (1-based, counted over the whole run, resumes included).</summary>
    public double DecayAt(long update) => update <= Start ? 0 : Math.Min(Decay, (double)(update - Start) / (9 + update - Start));

    /// <summary>Moves each average towards its weight, after the optimizer step of update <paramref name="update"/>.</summary>
    public void Update(long update)
    {
        var d = DecayAt(update);
        using var _ = no_grad();
        // Referenced until the loop is done: a Scalar left to the garbage collector could be freed under a kernel (docs/ARCHITECTURE.md, TorchSharp temporaries).
        using var decay = d.ToScalar();
        using var rest = (1 - d).ToScalar();
        foreach (var (_, weight, average) in _entries) average.mul_(decay).add_(weight, rest);
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
