using Microsoft.EntityFrameworkCore;
using Studio.Core.Generations;
using Studio.Core.Live;
using Studio.Core.Runs;

namespace Studio.Core.Tests;

/// <summary>A Generate request with settings no pipeline can take is refused by field, and nothing is stored or queued.</summary>
public class GenerationServiceTests
{
    [Theory]
    [InlineData(0.5)]
    [InlineData(0.0)]
    [InlineData(-3.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public async Task ATrueCfgScaleBelowOneOrNotFiniteIsRefusedAndNothingIsQueued(double scale)
    {
        var db = await TestDatabase.CreateAsync();
        var jobs = new RecordingJobs();
        var service = new GenerationService(db, jobs, new GenerationFeed());
        var refused = await Assert.ThrowsAsync<RunActionException>(() => service.RequestAsync(new GenerationRequest("a red circle", TrueCfgScale: scale)));
        Assert.StartsWith("trueCfgScale must be a number of at least 1", refused.Message);
        Assert.EndsWith($"got {scale})", refused.Message);
        Assert.Empty(jobs.Created);
        await using var context = db.CreateDbContext();
        Assert.Equal(0, await context.Generations.CountAsync());
    }

    [Fact]
    public async Task ANegativePromptOverThePromptLimitIsRefusedAndNothingIsQueued()
    {
        var db = await TestDatabase.CreateAsync();
        var jobs = new RecordingJobs();
        var service = new GenerationService(db, jobs, new GenerationFeed());
        var request = new GenerationRequest("a red circle", TrueCfgScale: 3, NegativePrompt: new string('n', 4001));
        var refused = await Assert.ThrowsAsync<RunActionException>(() => service.RequestAsync(request));
        Assert.Equal("negativePrompt: 4,001 characters is over the limit of 4,000", refused.Message);
        Assert.Empty(jobs.Created);
        await using var context = db.CreateDbContext();
        Assert.Equal(0, await context.Generations.CountAsync());
    }
}
