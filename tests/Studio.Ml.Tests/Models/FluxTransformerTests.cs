namespace Studio.Ml.Tests.Models;

public class FluxTransformerTests
{
    public FluxTransformerTests() => TorchRuntime.Initialise();

    [Fact]
    public void MatchesDiffusersFluxTransformer2DModel() => FixtureAssert.Matches("flux_transformer");
}
