using Studio.Web.Components.Runs;

namespace Studio.Web.Tests;

/// <summary>The Runs table's times: to the minute, the year only when it is not this one's.</summary>
public class RunFormatTests
{
    [Fact]
    public void AShortTimeDropsTheSecondsAndTheCurrentYear()
    {
        var started = new DateTime(2026, 6, 14, 12, 9, 26, DateTimeKind.Utc); // mid-month, mid-year: no time zone moves its date to another year
        Assert.Matches(@"^06-1[345] \d\d:\d9$", RunFormat.ShortTime(started, new DateTime(2026, 12, 6, 0, 0, 0, DateTimeKind.Utc)));
        Assert.Matches(@"^2026-06-1[345] \d\d:\d9$", RunFormat.ShortTime(started, new DateTime(2027, 6, 1, 0, 0, 0, DateTimeKind.Utc)));
        Assert.Equal("–", RunFormat.ShortTime(null, DateTime.UtcNow));
        Assert.EndsWith(":26", RunFormat.Time(started)); // the tooltip keeps the seconds
    }
}
