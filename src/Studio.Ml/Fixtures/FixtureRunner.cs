using Studio.Ml.Tensors;
using static TorchSharp.torch;

namespace Studio.Ml.Fixtures;

/// <summary>The `studio fixture DIR --out FILE` contract: detect the kind, compute the named outputs, write them.</summary>
public static class FixtureRunner
{
    public static IFixtureKind Detect(FixtureFolder fixture)
    {
        var matches = FixtureKinds.All.Where(k => k.Matches(fixture)).ToList();
        return matches.Count switch
        {
            1 => matches[0],
            0 => throw new NotSupportedException(
                $"{fixture.ConfigPath}: no known fixture kind for model_type='{fixture.ConfigString("model_type")}', " +
                $"classes=[{string.Join(", ", fixture.ClassNames())}]; known kinds: {string.Join(", ", FixtureKinds.All.Select(k => k.Name))}"),
            _ => throw new InvalidOperationException($"{fixture.Directory}: ambiguous fixture kind ({string.Join(", ", matches.Select(k => k.Name))})"),
        };
    }

    /// <summary>
    /// Computes the outputs of the fixture on <paramref name="device"/> (default: the CPU) and checks each is present
    /// with the requested shape; returns them on the CPU in the requested dtypes.
    /// </summary>
    public static Dictionary<string, Tensor> Compute(FixtureFolder fixture, Device? device = null)
    {
        var kind = Detect(fixture);
        using var scope = NewDisposeScope();
        var computed = kind.Compute(fixture, device ?? CPU);
        var result = new Dictionary<string, Tensor>();
        foreach (var (name, spec) in fixture.Outputs)
        {
            if (!computed.TryGetValue(name, out var t))
                throw new InvalidOperationException($"{fixture.Directory}: the {kind.Name} kind did not compute the requested output '{name}'");
            if (!t.shape.SequenceEqual(spec.Shape))
                throw new InvalidOperationException(
                    $"{fixture.Directory}: output '{name}' has shape [{string.Join(", ", t.shape)}], requested [{string.Join(", ", spec.Shape)}]");
            result[name] = t.to_type(spec.DType).to(CPU).contiguous().MoveToOuterDisposeScope();
        }
        return result;
    }

    /// <summary>Writes computed outputs to <paramref name="outPath"/> (safetensors), in the order the folder names them.</summary>
    public static void Save(FixtureFolder fixture, IReadOnlyDictionary<string, Tensor> outputs, string outPath) =>
        SafeTensorsWriter.Save(outPath, fixture.Outputs.Keys.Select(k => new KeyValuePair<string, Tensor>(k, outputs[k])));
}
