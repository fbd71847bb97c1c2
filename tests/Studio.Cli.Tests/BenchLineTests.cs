using Studio.Cli;

namespace Studio.Cli.Tests;

public class BenchLineTests
{
    [Theory]
    [InlineData(0.000123456, 0.000123)]
    [InlineData(0.0000004449, 0.000000445)]
    [InlineData(1.23456, 1.23)]
    [InlineData(99.96, 100)]
    [InlineData(12345.6, 12346)]
    [InlineData(0, 0)]
    [InlineData(-0.0123456, -0.0123)]
    public void AMeasuredNumberKeepsThreeSignificantFiguresAndItsWholeDigits(double value, double expected) =>
        Assert.Equal(expected, BenchLine.Measured(value));

    [Fact]
    public void APositiveDurationFarBelowAMillisecondIsNeverPrintedAsZero() =>
        Assert.True(BenchLine.Measured(3e-9) > 0);
}
