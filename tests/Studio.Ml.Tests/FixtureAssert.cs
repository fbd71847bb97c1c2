using Studio.Ml.Fixtures;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests;

/// <summary>Compares what FixtureRunner computes with the reference outputs, by the tolerances of the fixtures' README.</summary>
public static class FixtureAssert
{
    /// <summary>Models: max|out - ref| &lt;= 1e-4 * max(1, max|ref|).</summary>
    public const double ModelTolerance = 1e-4;
    /// <summary>Schedules (sigmas/timesteps).</summary>
    public const double ScheduleTolerance = 1e-6;

    /// <summary>Runs the fixture through the same code path as `studio fixture` and checks every output.</summary>
    public static void Matches(string fixtureName, Func<string, double>? toleranceOf = null, Func<string, bool>? exact = null)
    {
        TorchRuntime.Initialise();
        var dir = TestPaths.Fixture(fixtureName);
        using var fixture = FixtureFolder.Open(dir);
        var computed = FixtureRunner.Compute(fixture);
        using var reference = SafeTensorsFile.Open(Path.Combine(dir, "outputs.safetensors"));
        try
        {
            foreach (var name in reference.Entries.Keys)
            {
                using var expected = reference.Read(name);
                var actual = computed[name];
                Assert.Equal(expected.shape, actual.shape);
                if (exact?.Invoke(name) ?? false)
                {
                    Assert.True(expected.eq(actual).all().item<bool>(), $"{fixtureName}/{name}: not exactly equal");
                    continue;
                }
                using var e64 = expected.to_type(ScalarType.Float64);
                using var a64 = actual.to_type(ScalarType.Float64);
                var maxRef = e64.abs().max().item<double>();
                var maxDiff = (a64 - e64).abs().max().item<double>();
                var tolerance = (toleranceOf?.Invoke(name) ?? ModelTolerance) * Math.Max(1, maxRef);
                Assert.True(maxDiff <= tolerance, $"{fixtureName}/{name}: max|diff| {maxDiff:E3} > {tolerance:E3} (max|ref| {maxRef:G4})");
            }
        }
        finally
        {
            foreach (var t in computed.Values) t.Dispose();
        }
    }

    /// <summary>
    /// Runs the fixture folder through the same code path as `studio fixture` (on <paramref name="device"/>, default the
    /// CPU) and returns, for every reference output, max|out - ref| / max|ref| (each tensor measured on its own scale).
    /// </summary>
    public static Dictionary<string, double> RelativeErrors(string directory, Device? device = null)
    {
        TorchRuntime.Initialise();
        using var fixture = FixtureFolder.Open(directory);
        var computed = FixtureRunner.Compute(fixture, device);
        try
        {
            return FixtureComparison.RelativeErrors(directory, computed);
        }
        finally
        {
            foreach (var t in computed.Values) t.Dispose();
        }
    }
}
