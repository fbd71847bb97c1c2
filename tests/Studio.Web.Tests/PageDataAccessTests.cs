using System.Text.RegularExpressions;

namespace Studio.Web.Tests;

/// <summary>
/// Pages read and act through services (Studio.Core's, or their page service such as NewRunService), never through the
/// database: a page under Components/Pages that injects or uses IDbContextFactory or StudioDbContext fails here.
/// </summary>
public class PageDataAccessTests
{
    static readonly Regex DataAccess = new(@"\bIDbContextFactory\b|\bStudioDbContext\b|\bCreateDbContext(Async)?\b");

    /// <summary>Every line of a page source (.razor, .razor.cs, .cs) under <paramref name="folder"/> that reaches the database, as "file line N: text".</summary>
    static List<string> Violations(string folder) =>
        Sources(folder).SelectMany(file => File.ReadAllLines(file)
            .Select((text, i) => (Line: i + 1, Text: text.Trim()))
            .Where(l => DataAccess.IsMatch(l.Text))
            .Select(l => $"{Path.GetFileName(file)} line {l.Line}: {l.Text}")).ToList();

    static IEnumerable<string> Sources(string folder) =>
        Directory.EnumerateFiles(folder, "*.*", SearchOption.AllDirectories).Where(f => f.EndsWith(".razor") || f.EndsWith(".cs"));

    static string Pages => Path.Combine(Studio.Tests.RepoRoot.Folder, "src", "Studio.Web", "Components", "Pages");

    [Fact]
    public void NoPageReachesTheDatabase()
    {
        Assert.True(Sources(Pages).Count() > 10, $"the scan found too few pages in {Pages}");
        var hits = Violations(Pages);
        Assert.True(hits.Count == 0, $"pages reach the database instead of a service: {string.Join("; ", hits)}");
    }

    [Fact]
    public void TheScanFindsAPlantedPage()
    {
        var folder = Directory.CreateTempSubdirectory("studio-web-pages-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(folder, "Nested"));
            File.WriteAllText(Path.Combine(folder, "Planted.razor"), """
                @page "/planted"
                @inject IDbContextFactory<StudioDbContext> DbFactory
                <p>planted</p>
                """);
            File.WriteAllText(Path.Combine(folder, "Nested", "Planted.razor.cs"), """
                partial class Planted
                {
                    async Task LoadAsync() { await using var db = await factory.CreateDbContextAsync(); }
                }
                """);
            File.WriteAllText(Path.Combine(folder, "Clean.razor"), """
                @inject RunData Data
                @code { async Task LoadAsync() => _runs = await Data.RunsAsync(); }
                """);
            Assert.Equal(
                ["Planted.razor line 2: @inject IDbContextFactory<StudioDbContext> DbFactory",
                 "Planted.razor.cs line 3: async Task LoadAsync() { await using var db = await factory.CreateDbContextAsync(); }"],
                Violations(folder).Order(StringComparer.Ordinal));
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
