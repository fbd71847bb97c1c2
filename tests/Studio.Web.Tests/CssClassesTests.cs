using System.Text.Json;
using System.Text.RegularExpressions;

namespace Studio.Web.Tests;

/// <summary>
/// Every utility or studio class a component writes by name exists in a style sheet the page loads: MudBlazor's or
/// wwwroot/css/studio.css. A name that exists in neither does nothing, silently (the app bar title's "text-nowrap",
/// a Bootstrap name MudBlazor lacks, kept nothing on one line). MudBlazor's own "mud-" names are left out: its
/// components write some of them as markers without a rule.
/// </summary>
public class CssClassesTests
{
    [Fact]
    public void EveryClassNamedInAComponentIsDefinedInAStyleSheet()
    {
        var css = File.ReadAllText(MudBlazorCss()) + File.ReadAllText(Path.Combine(Studio.Tests.RepoRoot.Folder, "wwwroot", "css", "studio.css"));
        var components = Path.Combine(Studio.Tests.RepoRoot.Folder, "src", "Studio.Web", "Components");
        var undefined = new SortedSet<string>();
        foreach (var file in Directory.EnumerateFiles(components, "*.razor", SearchOption.AllDirectories))
            foreach (Match attribute in Regex.Matches(File.ReadAllText(file), "\\b(?:class|Class)=\"([^\"]*)\""))
                foreach (var name in attribute.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    if (attribute.Groups[1].Value.Contains('@')) break; // computed: its names are not in the text
                    if (name.StartsWith("mud-", StringComparison.Ordinal)) continue; // MudBlazor's own
                    if (!Regex.IsMatch(css, "\\." + Regex.Escape(name) + "(?![\\w-])"))
                        undefined.Add($"{name} ({Path.GetFileName(file)})");
                }
        Assert.True(undefined.Count == 0, "classes no style sheet defines: " + string.Join(", ", undefined));
    }

    /// <summary>MudBlazor's style sheet in the package the build used, found through the static web assets manifest.</summary>
    static string MudBlazorCss()
    {
        var manifest = Directory.EnumerateFiles(AppContext.BaseDirectory, "Studio.Web.staticwebassets.runtime.json").Single();
        using var json = JsonDocument.Parse(File.ReadAllText(manifest));
        return json.RootElement.GetProperty("ContentRoots").EnumerateArray()
            .Select(root => Path.Combine(root.GetString()!, "MudBlazor.min.css"))
            .First(File.Exists);
    }
}
