namespace Studio.Ml;

/// <summary>Disposes its parts in their order (a group of loaded encoders, a LoRA's merges into several modules).</summary>
sealed class DisposeAll(params IEnumerable<IDisposable> parts) : IDisposable
{
    public void Dispose()
    {
        foreach (var part in parts) part.Dispose();
    }
}
