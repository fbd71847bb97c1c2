using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Studio.Core.Tests;

/// <summary>
/// The rules of docs/ARCHITECTURE.md, read from the project files, their restored packages and the sources: Studio.Ml
/// knows no database, web or queue; Studio.Core and Studio.Worker know no web (no ASP.NET Core at all); Studio.Ml's
/// folders have no dependency cycles.
/// </summary>
public class ArchitectureTests
{
    static string Root => Studio.Tests.RepoRoot.Folder;

    static IEnumerable<string> References(string project, string kind) =>
        XDocument.Load(Path.Combine(Root, "src", project, project + ".csproj")).Descendants(kind)
            .Select(e => (string?)e.Attribute("Include") ?? "");

    static IEnumerable<(string File, int Line, string Text)> Usings(string project) =>
        Directory.EnumerateFiles(Path.Combine(Root, "src", project), "*.*", SearchOption.AllDirectories)
            .Where(f => (f.EndsWith(".cs") || f.EndsWith(".razor")) && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")
                        && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .SelectMany(f => File.ReadLines(f).Select((l, i) => (File: Path.GetRelativePath(Root, f), Line: i + 1, Text: l.Trim())))
            .Where(l => l.Text.StartsWith("using ") || l.Text.StartsWith("@using ") || l.Text.StartsWith("@inject "));

    /// <summary>
    /// The shared frameworks a project gets, its own and those its packages bring (Hangfire.AspNetCore, for one, brings
    /// ASP.NET Core), as `dotnet restore` wrote them in obj/project.assets.json, each named with what brings it.
    /// </summary>
    static IEnumerable<string> Frameworks(string project)
    {
        var assets = Path.Combine(Root, "src", project, "obj", "project.assets.json");
        if (!File.Exists(assets)) throw new FileNotFoundException($"{assets} is missing: restore the solution first (dotnet build Studio.sln)");
        using var json = JsonDocument.Parse(File.ReadAllText(assets));
        foreach (var framework in json.RootElement.GetProperty("project").GetProperty("frameworks").EnumerateObject())
            if (framework.Value.TryGetProperty("frameworkReferences", out var own))
                foreach (var reference in own.EnumerateObject()) yield return $"{reference.Name} (by {project})";
        foreach (var target in json.RootElement.GetProperty("targets").EnumerateObject())
            foreach (var package in target.Value.EnumerateObject())
                if (package.Value.TryGetProperty("frameworkReferences", out var brought))
                    foreach (var reference in brought.EnumerateArray()) yield return $"{reference.GetString()} (by {package.Name})";
    }

    static void AssertNone(IEnumerable<string> offenders, string rule)
    {
        var list = offenders.ToList();
        Assert.True(list.Count == 0, $"{rule}:\n{string.Join("\n", list)}");
    }

    [Fact]
    public void MlKnowsNoDatabaseWebOrQueue()
    {
        AssertNone(References("Studio.Ml", "ProjectReference"), "Studio.Ml references no other project");
        AssertNone(References("Studio.Ml", "FrameworkReference"), "Studio.Ml needs no ASP.NET Core framework");
        AssertNone(References("Studio.Ml", "PackageReference").Where(p => Regex.IsMatch(p, "EntityFramework|AspNetCore|Hangfire|SignalR|MudBlazor|Npgsql|Redis")),
            "Studio.Ml takes no database, web or queue package");
        AssertNone(Usings("Studio.Ml").Where(u => Regex.IsMatch(u.Text, @"\b(Microsoft\.EntityFrameworkCore|Microsoft\.AspNetCore|Hangfire|MudBlazor|Studio\.Core|Studio\.Web)\b"))
            .Select(u => $"{u.File}:{u.Line}: {u.Text}"), "Studio.Ml uses no database, web, queue or studio type");
    }

    [Fact]
    public void CoreKnowsNoWeb()
    {
        AssertNone(References("Studio.Core", "ProjectReference").Where(p => !p.EndsWith("Studio.Ml.csproj")), "Studio.Core references only Studio.Ml");
        AssertNone(References("Studio.Core", "PackageReference").Where(p => Regex.IsMatch(p, "AspNetCore|MudBlazor|SignalR")), "Studio.Core takes no web, UI or hub package");
        AssertNone(Frameworks("Studio.Core").Where(f => f.StartsWith("Microsoft.AspNetCore")), "Studio.Core gets no ASP.NET Core framework, not even through a package");
        AssertNone(Usings("Studio.Core").Where(u => Regex.IsMatch(u.Text, @"\b(Microsoft\.AspNetCore|MudBlazor|Studio\.Web|Studio\.Cli)\b"))
            .Select(u => $"{u.File}:{u.Line}: {u.Text}"), "Studio.Core uses no web type");
    }

    [Fact]
    public void WorkerKnowsNoWeb()
    {
        AssertNone(References("Studio.Worker", "ProjectReference").Where(p => p.Contains("Studio.Web") || p.Contains("Studio.Cli")), "Studio.Worker references no web or CLI project");
        AssertNone(References("Studio.Worker", "PackageReference").Where(p => Regex.IsMatch(p, "AspNetCore|MudBlazor|SignalR")), "Studio.Worker takes no web, UI or hub package");
        AssertNone(Frameworks("Studio.Worker").Where(f => f.StartsWith("Microsoft.AspNetCore")), "Studio.Worker gets no ASP.NET Core framework, not even through a package");
        AssertNone(Usings("Studio.Worker").Where(u => Regex.IsMatch(u.Text, @"\b(MudBlazor|Studio\.Web|Microsoft\.AspNetCore)\b"))
            .Select(u => $"{u.File}:{u.Line}: {u.Text}"), "Studio.Worker uses no web type");
    }

    /// <summary>Studio.Ml's folders (Studio.Ml.X namespaces) and which others each uses, from `using` lines and qualified names.</summary>
    static Dictionary<string, HashSet<string>> MlFolderGraph()
    {
        var ml = Path.Combine(Root, "src", "Studio.Ml");
        var graph = new Dictionary<string, HashSet<string>>();
        foreach (var file in Directory.EnumerateFiles(ml, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(ml, file).Split(Path.DirectorySeparatorChar);
            if (relative.Length < 2 || relative[0] is "bin" or "obj") continue;
            var folder = relative[0];
            var uses = graph.TryGetValue(folder, out var set) ? set : graph[folder] = [];
            foreach (Match m in Regex.Matches(File.ReadAllText(file), @"\bStudio\.Ml\.([A-Z][A-Za-z0-9]*)"))
                if (m.Groups[1].Value != folder) uses.Add(m.Groups[1].Value);
        }
        return graph;
    }

    /// <summary>Every cycle of folders, each as "A -> B -> A".</summary>
    static List<string> Cycles(Dictionary<string, HashSet<string>> graph)
    {
        var cycles = new List<string>();
        foreach (var start in graph.Keys.Order())
        {
            var stack = new Stack<(string Node, List<string> Path)>();
            stack.Push((start, [start]));
            while (stack.Count > 0)
            {
                var (node, path) = stack.Pop();
                foreach (var next in graph.GetValueOrDefault(node, []).Order())
                {
                    if (next == start) cycles.Add(string.Join(" -> ", path.Append(start)));
                    else if (!path.Contains(next) && string.CompareOrdinal(next, start) > 0) stack.Push((next, [.. path, next]));
                }
            }
        }
        return cycles;
    }

    [Fact]
    public void TheFrameworkCheckSeesWhatAPackageBrings()
    {
        // Studio.Web takes ASP.NET Core itself (the web SDK) and through Hangfire.AspNetCore.
        var web = Frameworks("Studio.Web").ToList();
        Assert.Contains("Microsoft.AspNetCore.App (by Studio.Web)", web);
        Assert.Contains(web, f => f.StartsWith("Microsoft.AspNetCore.App (by Hangfire.AspNetCore/"));
    }

    [Fact]
    public void MlFoldersHaveNoCycles()
    {
        var graph = MlFolderGraph();
        Assert.Contains("Distillation", graph.Keys);
        Assert.Contains("Models", graph["Distillation"]);
        AssertNone(Cycles(graph), "Studio.Ml folders depend on each other in a cycle");
    }

    [Fact]
    public void TheCycleCheckFindsACycle()
    {
        var graph = new Dictionary<string, HashSet<string>> { ["A"] = ["B"], ["B"] = ["C"], ["C"] = ["A"], ["D"] = ["A"] };
        Assert.Equal(["A -> B -> C -> A"], Cycles(graph));
        Assert.Empty(Cycles(new Dictionary<string, HashSet<string>> { ["A"] = ["B"], ["B"] = ["C"], ["D"] = ["A", "C"] }));
    }
}
