namespace Studio.Ml.Fixtures;

/// <summary>Every fixture kind the `studio fixture` verb knows. Add a kind with one line here.</summary>
public static class FixtureKinds
{
    public static IReadOnlyList<IFixtureKind> All { get; } =
    [
        new FlowMatchSchedulerKind(),
        new FluxPackingKind(),
        new T5EncoderKind(),
        new ClipTextKind(),
        new ClipModelKind(),
        new AutoencoderKLKind(),
        new FluxTransformerKind(),
        new Sd3TransformerKind(),
        new StepFollowingUpdateKind(),
    ];
}
