using System.Net;
using System.Text.Json;
using Studio.Core.Data;
using Studio.Web.Tests.BadInput;

namespace Studio.Web.Tests;

/// <summary>
/// The API's lists as a script reads a large studio, a page at a time by the next link (ApiPaging): runs (filtered by
/// group, state and search), evaluations, generations.
/// </summary>
public sealed class ApiListTests(ApiHost host) : IClassFixture<ApiHost>
{
    // Seven runs of group "listing", oldest first: name, state, notes.
    static readonly (string Name, RunState State, string? Notes)[] Seeded =
    [
        ("lr 1e-4", RunState.Completed, null), ("lr 3e-4", RunState.Failed, "diverged at step 40"), ("lr 1e-3", RunState.Cancelled, null),
        ("t5-small", RunState.Completed, "the baseline"), ("t5-base", RunState.Running, null), ("t5-large", RunState.Queued, null),
        ("t5-base again", RunState.Stopping, null),
    ];

    async Task<List<int>> SeedAsync()
    {
        await using var db = await host.Db.CreateDbContextAsync();
        if (db.Runs.Any(r => r.Group == "listing")) return db.Runs.Where(r => r.Group == "listing").OrderBy(r => r.Id).Select(r => r.Id).ToList();
        var runs = Seeded.Select(s => new Run { Name = s.Name, State = s.State, Notes = s.Notes, Group = "listing", ConfigYaml = ApiHost.ToyYaml() }).ToList();
        foreach (var run in runs) { db.Runs.Add(run); await db.SaveChangesAsync(); }
        return runs.Select(r => r.Id).ToList();
    }

    async Task<(List<int> Ids, string? Total, string? Link)> GetAsync(string address)
    {
        var response = await host.Http.GetAsync(address);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var ids = json.RootElement.EnumerateArray().Select(r => r.GetProperty("id").GetInt32()).ToList();
        return (ids, response.Headers.TryGetValues("X-Total-Count", out var total) ? total.Single() : null,
            response.Headers.TryGetValues("Link", out var link) ? link.Single() : null);
    }

    [Fact]
    public async Task AGroupIsReadThreeRunsAPageByFollowingTheNextLinkNewestFirst()
    {
        var ids = await SeedAsync();
        var (first, total, link) = await GetAsync("/api/runs?group=listing&limit=3");
        Assert.Equal([ids[6], ids[5], ids[4]], first);
        Assert.Equal("7", total);
        Assert.Equal($"</api/runs?group=listing&limit=3&before={ids[4]}>; rel=\"next\"", link);

        var read = new List<int>(first);
        while (link is not null)
        {
            var next = link[1..link.IndexOf('>')];
            (var page, total, link) = await GetAsync(next);
            Assert.Equal("7", total);
            read.AddRange(page);
        }
        Assert.Equal(Enumerable.Reverse(ids), read);

        // Without a limit, every run of the group in one answer, as before paging existed.
        var (all, allTotal, none) = await GetAsync("/api/runs?group=listing");
        Assert.Equal(Enumerable.Reverse(ids), all);
        Assert.Equal(("7", null), (allTotal, none));
    }

    [Theory]
    [InlineData("state=active", new[] { 6, 5, 4 })]
    [InlineData("state=Running", new[] { 6, 4 })]
    [InlineData("state=queued", new[] { 5 })]
    [InlineData("state=completed", new[] { 3, 0 })]
    [InlineData("state=failed", new[] { 1 })]
    [InlineData("state=all&search=T5-BASE", new[] { 6, 4 })]
    [InlineData("state=&search=t5-base", new[] { 6, 4 })]
    [InlineData("search=baseline", new[] { 3 })]
    [InlineData("search=diverged&state=completed", new int[0])]
    public async Task StateAndSearchNarrowTheListAsTheRunsPageDoes(string query, int[] seededIndices)
    {
        var ids = await SeedAsync();
        var (listed, total, _) = await GetAsync($"/api/runs?group=listing&{query}");
        Assert.Equal(seededIndices.Select(i => ids[i]), listed);
        Assert.Equal(seededIndices.Length.ToString(), total);
    }

    [Fact]
    public async Task ARunIsFoundByItsIdWithOrWithoutTheHash()
    {
        var ids = await SeedAsync();
        Assert.Equal([ids[2]], (await GetAsync($"/api/runs?search=%23{ids[2]}")).Ids);
        // Without the '#', the digits may also be part of a name ("t5-base").
        Assert.Contains(ids[2], (await GetAsync($"/api/runs?search={ids[2]}")).Ids);
    }

    /// <summary>Reads every page of <paramref name="address"/> by its next links: the ids in order, and each page's count and total.</summary>
    async Task<(List<int> Ids, List<string> Pages)> ReadAllAsync(string address)
    {
        var (ids, pages) = (new List<int>(), new List<string>());
        for (string? next = address; next is not null;)
        {
            var (page, total, link) = await GetAsync(next);
            ids.AddRange(page);
            pages.Add($"{page.Count} of {total}");
            next = link?[1..link.IndexOf('>')];
        }
        return (ids, pages);
    }

    [Fact]
    public async Task GenerationsComeFiftyAPageByDefaultAndEveryOneCanBeReached()
    {
        await using (var db = await host.Db.CreateDbContextAsync())
        {
            db.Generations.AddRange(Enumerable.Range(1, 120).Select(i => new Generation { Prompt = $"prompt {i}" }));
            await db.SaveChangesAsync();
        }
        var (ids, pages) = await ReadAllAsync("/api/generations");
        Assert.Equal(["50 of 120", "50 of 120", "20 of 120"], pages);
        Assert.Equal(Enumerable.Range(1, 120).Reverse(), ids);
        // The older spelling of the page size still works.
        Assert.Equal(["70 of 120", "50 of 120"], (await ReadAllAsync("/api/generations?take=70")).Pages);
    }

    [Fact]
    public async Task EvaluationsOfARunComeAPageAtATime()
    {
        var ids = await SeedAsync();
        List<int> evaluationIds;
        await using (var db = await host.Db.CreateDbContextAsync())
        {
            var evaluations = Enumerable.Range(0, 5).Select(i => new CheckpointEvaluation { RunId = ids[0], Pipeline = "toy", Encoder = $"step {i}" }).ToList();
            db.Evaluations.AddRange(evaluations);
            db.Evaluations.Add(new CheckpointEvaluation { RunId = ids[1], Pipeline = "toy", Encoder = "another run's" });
            await db.SaveChangesAsync();
            evaluationIds = evaluations.Select(v => v.Id).Reverse().ToList();
        }
        var (read, pages) = await ReadAllAsync($"/api/evaluations?runs={ids[0]}&limit=2");
        Assert.Equal(evaluationIds, read);
        Assert.Equal(["2 of 5", "2 of 5", "1 of 5"], pages);
    }
}
