using Studio.Core.Charts;
using Studio.Core.Data;

namespace Studio.Core.Tests;

/// <summary>The per-label values of metric points (loss by sigma bucket, gradient norm by part) as heatmap grids.</summary>
public class BreakdownTests
{
    static MetricPoint At(long step, string json) => new() { Step = step, GradNormByModuleJson = json };

    [Fact]
    public void AHeatmapAveragesEachLabelOverEqualStepRangesInLabelOrReportedOrder()
    {
        // Steps 1-4 in two columns (1-2, 3-4); "block 10" is reported after "block 2", as a model's parts are.
        MetricPoint[] points =
        [
            At(1, """{"embedding": 1, "block 2": 2, "block 10": 4}"""),
            At(2, """{"embedding": 3, "block 2": 2, "block 10": 8}"""),
            At(3, "not json"),
            At(4, """{"embedding": 5, "block 10": 1}"""),
        ];

        var reported = Breakdown.Heatmap(points, p => p.GradNormByModuleJson, columns: 2, reportedOrder: true);
        Assert.Equal(["embedding", "block 2", "block 10"], reported.Rows);
        Assert.Equal([(1L, 2L), (3L, 4L)], reported.Columns);
        Assert.Equal(new double?[,] { { 2, 5 }, { 2, null }, { 6, 1 } }, reported.Values);

        // Label order (sigma buckets read well so): "block 10" sorts before "block 2".
        Assert.Equal(["block 10", "block 2", "embedding"], Breakdown.Heatmap(points, p => p.GradNormByModuleJson, columns: 2).Rows);
        Assert.Empty(Breakdown.Heatmap([], p => p.GradNormByModuleJson).Rows);
    }
}
