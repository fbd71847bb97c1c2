using static TorchSharp.torch;

namespace Studio.Ml.Fixtures;

/// <summary>One kind of reference case (a model family or a pure function such as a schedule).</summary>
public interface IFixtureKind
{
    /// <summary>Short name shown in messages, e.g. "t5-encoder".</summary>
    string Name { get; }

    /// <summary>True when this kind handles the folder (decided from config.json and the folder's content).</summary>
    bool Matches(FixtureFolder fixture);

    /// <summary>
    /// Computes every output the folder names (fixture.Outputs), from config, weights and inputs alone, with the model
    /// and the inputs on <paramref name="device"/> (the outputs may stay there).
    /// </summary>
    IReadOnlyDictionary<string, Tensor> Compute(FixtureFolder fixture, Device device);
}
