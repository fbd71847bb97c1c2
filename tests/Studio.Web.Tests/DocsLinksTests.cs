using System.Text.RegularExpressions;
using AngleSharp.Html.Parser;
using Studio.Web.Help;

namespace Studio.Web.Tests;

/// <summary>
/// Every relative link of the README and the manual in docs/ (and of the other READMEs of the repository) leads to a
/// file that exists and, with a #fragment into a Markdown file, to one of its headings, as GitHub names them: the
/// manual is split by topic, so a section that moves or is renamed must take its links along.
/// </summary>
public class DocsLinksTests
{
    static readonly Regex Link = new(@"\]\(([^)\s]+)\)");

    /// <summary>The anchors of a Markdown file's headings, as the Help page's renderer (GitHub's rules) makes them.</summary>
    static HashSet<string> Anchors(string file) =>
        new HtmlParser().ParseDocument(HelpDocuments.Render(Path.GetFileName(file), File.ReadAllText(file)))
            .QuerySelectorAll("h1[id], h2[id], h3[id], h4[id], h5[id], h6[id]").Select(h => h.Id!).ToHashSet();

    /// <summary>"FILE:LINE: LINK (why)" for each relative link of <paramref name="files"/> that leads nowhere.</summary>
    public static IEnumerable<string> BrokenLinks(string root, IEnumerable<string> files)
    {
        var anchors = new Dictionary<string, HashSet<string>>(); // each target rendered once, however many links name it
        foreach (var file in files)
        {
            var lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
                foreach (Match m in Link.Matches(lines[i]))
                {
                    var link = m.Groups[1].Value;
                    if (Regex.IsMatch(link, "^[a-z]+:")) continue; // http:, https:, mailto:
                    var hash = link.IndexOf('#');
                    var (path, fragment) = hash < 0 ? (link, "") : (link[..hash], link[(hash + 1)..]);
                    var target = path.Length == 0 ? file : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, Uri.UnescapeDataString(path)));
                    var where = $"{Path.GetRelativePath(root, file)}:{i + 1}: {link}";
                    if (!File.Exists(target) && !Directory.Exists(target)) yield return $"{where} (no such file)";
                    else if (fragment.Length > 0 && target.EndsWith(".md") && !(anchors.TryGetValue(target, out var known) ? known : anchors[target] = Anchors(target)).Contains(fragment))
                        yield return $"{where} (no heading with that anchor in {Path.GetFileName(target)})";
                }
        }
    }

    /// <summary>The README and the Markdown files under docs/, src/, tests/ and bench/ (not build outputs or data).</summary>
    static IEnumerable<string> Documents(string root) =>
        new[] { Path.Combine(root, "README.md") }.Where(File.Exists).Concat(
            new[] { "docs", "src", "tests", "bench" }.Select(d => Path.Combine(root, d)).Where(Directory.Exists)
                .SelectMany(d => Directory.EnumerateFiles(d, "*.md", SearchOption.AllDirectories))
                .Where(f => !Regex.IsMatch(Path.GetRelativePath(root, f), @"[\\/](bin|obj|data|node_modules)[\\/]")));

    [Fact]
    public void EveryRelativeLinkOfTheDocumentsLeadsToAFileAndAHeading()
    {
        var root = Studio.Tests.RepoRoot.Folder;
        var documents = Documents(root).ToList();
        Assert.Contains(documents, d => d.EndsWith(Path.Combine("docs", "STUDIO.md")));
        var broken = BrokenLinks(root, documents).ToList();
        Assert.True(broken.Count == 0, "links that lead nowhere:\n" + string.Join("\n", broken));
    }

    [Fact]
    public void ABrokenLinkIsFoundAndNamed()
    {
        var folder = Directory.CreateTempSubdirectory("docs-links-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(folder, "docs"));
            File.WriteAllText(Path.Combine(folder, "docs", "A.md"), "# A\n\n## Run YAML\n\n```\n# not a heading\n```\n");
            File.WriteAllText(Path.Combine(folder, "README.md"), string.Join("\n",
                "# Readme", "",
                "[ok](docs/A.md#run-yaml) [ok too](#readme) [web](https://example.com/x#y) [folder](docs)",
                "[gone](docs/B.md)",
                "[wrong anchor](docs/A.md#not-a-heading)",
                "[fenced](docs/A.md#not-a-heading-2)"));
            var broken = BrokenLinks(folder, Documents(folder)).ToList();
            Assert.Equal([
                "README.md:4: docs/B.md (no such file)",
                "README.md:5: docs/A.md#not-a-heading (no heading with that anchor in A.md)",
                "README.md:6: docs/A.md#not-a-heading-2 (no heading with that anchor in A.md)"], broken);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Theory]
    [InlineData("Distillation: `studio distill`, `studio cache fill`, `studio export`", "distillation-studio-distill-studio-cache-fill-studio-export")]
    [InlineData("TorchSharp temporaries and the garbage collector (known hazard)", "torchsharp-temporaries-and-the-garbage-collector-known-hazard")]
    [InlineData("Keyboard, themes, screen sizes and failures", "keyboard-themes-screen-sizes-and-failures")]
    public void AnchorsAreGitHubs(string heading, string anchor) =>
        Assert.Contains($"<h2 id=\"{anchor}\">", HelpDocuments.Render("docs/X.md", "## " + heading));
}
