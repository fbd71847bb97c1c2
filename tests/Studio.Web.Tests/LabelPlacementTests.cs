using Studio.Web.Components.Charts;

namespace Studio.Web.Tests;

/// <summary>Where the charts' point labels go when the spots next to a point are taken.</summary>
public class LabelPlacementTests
{
    static readonly LabelPlacement.Box Plot = new(0, 0, 800, 400);

    [Fact]
    public void AFreeLabelSitsRightAboveItsPointWithNoLeader()
    {
        var placed = LabelPlacement.Place([(100, 200, "run 1")], [], Plot).Single();
        Assert.Equal((108.0, 194.0, false, false), (placed.X, placed.Y, placed.LeftOfPoint, placed.Leader));
    }

    [Fact]
    public void ALabelWhoseNearSpotsAreTakenMovesOutPastThemAndGetsALeader()
    {
        // Two neighbours' error bars left and right of the point reach 40 units above and below it: every spot within two
        // lines of the point crosses one; the first free one is right above, three lines out (baseline 200 - 6 - 42).
        LabelPlacement.Box[] bars = [new(80, 160, 8, 80), new(120, 160, 8, 80)];
        var placed = LabelPlacement.Place([(100, 200, "run 1")], bars, Plot).Single();
        Assert.Equal((108.0, 152.0, false), (placed.X, placed.Y, placed.LeftOfPoint));
        Assert.All(bars, b => Assert.Equal(0, placed.Box.Overlap(b)));
        Assert.True(placed.Leader);
    }

    [Fact]
    public void WhereNoSpotIsFreeTheLabelTakesTheLeastCovered()
    {
        // A wall over the whole plot but a strip on the left: every spot overlaps it; left above covers the least of it.
        LabelPlacement.Box[] wall = [new(100, 0, 700, 400)];
        var placed = LabelPlacement.Place([(110, 200, "run 1")], wall, Plot).Single();
        Assert.True(placed.LeftOfPoint);
        Assert.Equal(102.0, placed.X);
    }
}
