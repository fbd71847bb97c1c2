using static TorchSharp.torch;

namespace Studio.Ml.Diffusion;

/// <summary>The starting noise of a text-to-image call: drawn on the CPU from the seed (as diffusers draws it), then moved.</summary>
public static class SeededNoise
{
    /// <summary>
    /// <paramref name="draw"/>(batch, generator) for the whole batch from one generator seeded with <paramref name="seed"/>
    /// (diffusers' way: a prompt's noise depends on its place in the batch), or, with <paramref name="eachPromptAlone"/>,
    /// every prompt's noise as a one-prompt call with that seed draws it: a run's samples, drawn in one batch, are then
    /// the pictures Generate draws for the same prompt and seed.
    /// </summary>
    public static Tensor Draw(int batch, long seed, bool eachPromptAlone, Func<int, Generator, Tensor> draw)
    {
        using var generator = new Generator((ulong)seed, CPU);
        if (!eachPromptAlone || batch == 1) return draw(batch, generator);
        using var one = draw(1, generator);
        return cat(Enumerable.Repeat(one, batch).ToList(), 0);
    }
}
