using static TorchSharp.torch;

namespace Studio.Ml.Diffusion;

/// <summary>
/// Changes made to a pipeline's text encoders (a LoRA's CLIP layers) that must outlive the encoders themselves: each is
/// applied to the encoders in memory when it is added and again each time a pipeline that frees its text encoders after
/// encoding loads them back, and undone (in reverse order) before they are freed; disposing an adaptation undoes it and
/// stops it.
/// </summary>
sealed class TextEncoderAdaptations
{
    /// <summary>One adaptation: what applies it to the encoders' parts, and the undo of its application to those in memory.</summary>
    sealed class Entry(Func<IReadOnlyList<(string Part, nn.Module Module)>, IDisposable> apply)
    {
        public Func<IReadOnlyList<(string Part, nn.Module Module)>, IDisposable> Apply { get; } = apply;
        public IDisposable? Applied { get; set; }
    }

    readonly List<Entry> _entries = [];

    /// <summary>Applies <paramref name="apply"/> to <paramref name="loaded"/> (the encoders in memory) and keeps it for later loads.</summary>
    public IDisposable Add(Func<IReadOnlyList<(string Part, nn.Module Module)>, IDisposable> apply, IReadOnlyList<(string Part, nn.Module Module)> loaded)
    {
        var entry = new Entry(apply) { Applied = apply(loaded) };
        _entries.Add(entry);
        return new Removal(this, entry);
    }

    /// <summary>Applies every adaptation to encoders just loaded; when one fails, those applied are undone and it is thrown.</summary>
    public void Loaded(IReadOnlyList<(string Part, nn.Module Module)> parts)
    {
        try
        {
            foreach (var entry in _entries) entry.Applied = entry.Apply(parts);
        }
        catch
        {
            Unloading();
            throw;
        }
    }

    /// <summary>Undoes every adaptation on the encoders in memory, which are about to be freed.</summary>
    public void Unloading()
    {
        for (var i = _entries.Count - 1; i >= 0; i--)
        {
            _entries[i].Applied?.Dispose();
            _entries[i].Applied = null;
        }
    }

    sealed class Removal(TextEncoderAdaptations owner, Entry entry) : IDisposable
    {
        public void Dispose()
        {
            if (!owner._entries.Remove(entry)) return;
            entry.Applied?.Dispose();
            entry.Applied = null;
        }
    }
}
