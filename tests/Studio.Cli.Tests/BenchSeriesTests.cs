using System.Text.Json;

namespace Studio.Cli.Tests;

[Collection("console")]
public class BenchSeriesTests
{
    [Fact]
    public void SeriesBenchReadsTheWholeRunAndTheBoundedOverview()
    {
        var (code, output, error) = Cli.Run("bench", "series", "--points", "5000", "--capacity", "1000");

        Assert.True(code == 0, error);
        var json = JsonDocument.Parse(Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries))).RootElement;
        Assert.Equal("run-series", json.GetProperty("bench").GetString());
        Assert.Equal(5000, json.GetProperty("whole_points_held").GetInt32());
        // Stride 8 (4 would leave 1,250 > 1,000): steps 8, 16, ..., 5000 (625) plus the first step.
        Assert.Equal(626, json.GetProperty("overview_points_held").GetInt32());
        // The Runs table's line: 5,000 updates in spans of 125 (5000 / 40).
        Assert.Equal(40, json.GetProperty("outline_points").GetInt32());
        foreach (var field in new[] { "whole_read_ms", "overview_read_ms", "whole_redraw_ms", "overview_redraw_ms", "outline_read_ms" })
            Assert.True(json.GetProperty(field).GetDouble() > 0, field);
    }

    [Fact]
    public void SeriesBenchRefusesAnEmptyRun()
    {
        var (code, _, error) = Cli.Run("bench", "series", "--points", "0");
        Assert.Equal(1, code); // as every verb's failure
        Assert.Equal("studio bench series: --points: 0 is not at least 1", error.Trim());
    }
}
