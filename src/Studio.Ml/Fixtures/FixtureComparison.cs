using Studio.Ml.Tensors;
using static TorchSharp.torch;

namespace Studio.Ml.Fixtures;

/// <summary>
/// How far computed outputs are from a fixture's reference values (outputs.safetensors), each tensor on its own scale:
/// max|out - ref| / max|ref|, and an all-zero reference must be matched exactly. It reads the reference values, which
/// the kinds never do: it runs after the computation, for `studio fixture --compare` and the tests.
/// </summary>
public static class FixtureComparison
{
    /// <summary>The relative error of every reference output, by name; a missing or misshapen output throws.</summary>
    public static Dictionary<string, double> RelativeErrors(string directory, IReadOnlyDictionary<string, Tensor> computed)
    {
        var path = Path.Combine(directory, "outputs.safetensors");
        using var reference = SafeTensorsFile.Open(path);
        var errors = new Dictionary<string, double>();
        foreach (var name in reference.Entries.Keys)
        {
            using var scope = NewDisposeScope();
            if (!computed.TryGetValue(name, out var output)) throw new InvalidOperationException($"{path}: no computed output '{name}'");
            var expected = reference.Read(name);
            if (!expected.shape.SequenceEqual(output.shape))
                throw new InvalidOperationException($"{path}: '{name}' is [{string.Join(", ", expected.shape)}], computed [{string.Join(", ", output.shape)}]");
            errors[name] = RelativeError(expected, output);
        }
        return errors;
    }

    /// <summary>max|actual - expected| / max|expected| in float64 on the CPU (0 or infinity for an all-zero expectation).</summary>
    public static double RelativeError(Tensor expected, Tensor actual)
    {
        using var scope = NewDisposeScope();
        var e = expected.to_type(ScalarType.Float64).to(CPU);
        var a = actual.to_type(ScalarType.Float64).to(CPU);
        var maxDiff = (a - e).abs().max().item<double>();
        var maxRef = e.abs().max().item<double>();
        return maxRef > 0 ? maxDiff / maxRef : maxDiff > 0 ? double.PositiveInfinity : 0;
    }
}
