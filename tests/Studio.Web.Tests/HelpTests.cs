using System.Text.RegularExpressions;
using AngleSharp.Html.Parser;
using Bunit;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using HelpPage = Studio.Web.Components.Pages.Help;
using Studio.Web.Help;

namespace Studio.Web.Tests;

/// <summary>The manual in the browser (/help): the README and docs/ rendered, their links and pictures kept working.</summary>
public class HelpTests
{
    static string Root => Studio.Tests.RepoRoot.Folder;

    /// <summary>An address as its page and its fragment (without the #).</summary>
    static (string Page, string Fragment) Split(string href) =>
        href.IndexOf('#') is var i and >= 0 ? (href[..i], href[(i + 1)..]) : (href, "");

    [Theory]
    [InlineData("README.md", "docs/STUDIO.md#generate", "/help/studio#generate")]
    [InlineData("README.md", "docs/TOY-WORLD.md", "/help/toy-world")]
    [InlineData("README.md", "#gpu-workers", "/help#gpu-workers")] // not "#gpu-workers": against <base href="/"> that is the Home page
    [InlineData("docs/STUDIO.md", "#generate", "/help/studio#generate")]
    [InlineData("README.md", "docs/images/generate.png", "/help/images/generate.png")]
    [InlineData("docs/STUDIO.md", "TOY-WORLD.md#the-scaling-study-studio-toy-study", "/help/toy-world#the-scaling-study-studio-toy-study")]
    [InlineData("docs/STUDIO.md", "../README.md#gpu-workers", "/help#gpu-workers")]
    [InlineData("docs/STUDIO.md", "images/run-detail.png", "/help/images/run-detail.png")]
    [InlineData("docs/MODELS.md", "https://example.com/a.md#b", "https://example.com/a.md#b")]
    [InlineData("docs/MODELS.md", "../tests/fixtures/README.md", null)] // the studio does not serve the repository's other files
    [InlineData("README.md", "tests/gpu/README.md", null)]
    [InlineData("README.md", "../../etc/passwd", null)]
    [InlineData("docs/STUDIO.md", "images/sub/x.png", null)]
    public void LinksLeadToHelpPages(string file, string url, string? expected) => Assert.Equal(expected, HelpDocuments.Rewrite(file, url));

    [Fact]
    public void EveryDocumentOfTheManualIsServedAndEveryServedDocumentExists()
    {
        var docs = Directory.EnumerateFiles(Path.Combine(Root, "docs"), "*.md").Select(f => "docs/" + Path.GetFileName(f)).Order();
        Assert.Equal(docs, HelpDocuments.All.Where(d => d.File.StartsWith("docs/")).Select(d => d.File).Order());
        Assert.All(HelpDocuments.All, d => Assert.True(File.Exists(Path.Combine(Root, d.File)), d.File));
    }

    /// <summary>
    /// Rendered, every link between the documents leads to a heading of its page, every picture is one the studio
    /// serves, and no link points at a Markdown file any more.
    /// </summary>
    [Fact]
    public void EveryRenderedLinkLeadsToAHeadingAndEveryPictureIsServed()
    {
        var help = new HelpDocuments(Root);
        var parser = new HtmlParser();
        var ids = HelpDocuments.All.ToDictionary(d => d.Href, d => parser.ParseDocument(help.Html(d)!).QuerySelectorAll("[id]").Select(e => e.Id!).ToHashSet());
        var problems = new List<string>();
        var links = 0;
        foreach (var document in HelpDocuments.All)
        {
            var html = parser.ParseDocument(help.Html(document)!);
            foreach (var a in html.QuerySelectorAll("a[href]"))
            {
                var href = a.GetAttribute("href")!;
                if (href.StartsWith("http")) continue;
                links++;
                var (page, fragment) = Split(href);
                if (page.Length == 0) { problems.Add($"{document.File}: {href} leads to the studio's base address (Home), not to this page"); continue; }
                if (!ids.TryGetValue(page, out var targets)) problems.Add($"{document.File}: {href} is no help page");
                else if (fragment.Length > 0 && !targets.Contains(fragment)) problems.Add($"{document.File}: {href} names no heading");
            }
            foreach (var img in html.QuerySelectorAll("img"))
            {
                var src = img.GetAttribute("src")!;
                if (!src.StartsWith(HelpDocuments.ImagesPath + "/") || help.ImageFile(src[(HelpDocuments.ImagesPath.Length + 1)..]) is null)
                    problems.Add($"{document.File}: picture {src} is not served");
            }
        }
        Assert.True(links > 50, $"only {links} links between the documents");
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    /// <summary>The pages' own links into the manual (New run's "every field explained", the menu's Help) lead to a heading.</summary>
    [Fact]
    public void ThePagesLinksIntoTheManualLeadToAHeading()
    {
        var help = new HelpDocuments(Root);
        var parser = new HtmlParser();
        var components = Path.Combine(Root, "src", "Studio.Web", "Components");
        var links = Directory.EnumerateFiles(components, "*.razor", SearchOption.AllDirectories)
            .SelectMany(f => Regex.Matches(File.ReadAllText(f), "Href=\"(/help[^\"]*)\"").Select(m => (File: Path.GetFileName(f), Href: m.Groups[1].Value)))
            .Where(l => !l.Href.Contains('@')).ToList();
        Assert.Contains(links, l => l.File == "NewRun.razor");
        foreach (var (file, href) in links)
        {
            var (page, fragment) = Split(href);
            var document = HelpDocuments.All.SingleOrDefault(d => d.Href == page);
            Assert.True(document is not null, $"{file}: {href} is no help page");
            if (fragment.Length > 0)
                Assert.True(parser.ParseDocument(help.Html(document)!).GetElementById(fragment) is not null, $"{file}: {href} names no heading");
        }
    }

    [Fact]
    public void MarkdownBecomesHtmlWithGitHubsAnchorsTablesAndNoRawHtml()
    {
        var html = HelpDocuments.Render("docs/X.md", "# Distillation: `studio distill`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>alert(1)</script>\n\n" +
                                                    "[t](../tests/x.md) and [s](STUDIO.md#home), [tests/y.sh](../tests/y.sh#top), [out](../../z.md)\n");
        Assert.Contains("<h1 id=\"distillation-studio-distill\">", html);
        Assert.Contains("<td>1</td>", html);
        Assert.DoesNotContain("<script>", html);
        // A file of the repository the studio does not serve: its text and its path; a path that leaves the repository: the text alone.
        Assert.Contains("<p>t (<code>tests/x.md</code>) and <a href=\"/help/studio#home\">s</a>, <code>tests/y.sh</code>, out</p>", html);
    }

    [Theory]
    [InlineData("generate.png", true)]
    [InlineData("no-such.png", false)]
    [InlineData("../../README.md", false)]
    [InlineData("..", false)]
    [InlineData("run-screenshots.sh", false)] // a script beside the pictures is no picture
    public void OnlyThePicturesOfTheManualAreServed(string name, bool served) =>
        Assert.Equal(served, new HelpDocuments(Root).ImageFile(name) is not null);

    static IRenderedComponent<HelpPage> Render(string? doc, string root)
    {
        var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        ctx.Services.AddSingleton(new HelpDocuments(root));
        return ctx.Render<HelpPage>(p => p.Add(h => h.Doc, doc));
    }

    [Fact]
    public void TheHelpPageShowsTheReadmeFirstAndEveryDocumentByName()
    {
        var page = Render(null, Root);
        Assert.Equal("Distill Studio", page.Find("[data-testid=help-document] h1").TextContent);
        Assert.Equal(HelpDocuments.All.Select(d => d.Href), page.FindAll("[data-testid=help-documents] a").Select(a => a.GetAttribute("href")));
        Assert.Contains("/help/studio", page.FindAll("[data-testid=help-document] a").Select(a => a.GetAttribute("href")));

        var studio = Render("studio", Root);
        Assert.Equal("The studio in the browser", studio.Find("[data-testid=help-document] h1").TextContent);
        Assert.Contains("Sections:", studio.Find("[data-testid=help-document]").TextContent);
    }

    [Fact]
    public void AnUnknownDocumentOrAMissingFileIsSaidNotThrown()
    {
        Assert.Contains("There is no document \"nope\"", Render("nope", Root).Find("[data-testid=help-unknown]").TextContent);
        var empty = Directory.CreateTempSubdirectory("help-empty-").FullName;
        Assert.Contains("docs/STUDIO.md is not beside this studio", Render("studio", empty).Find("[data-testid=help-missing]").TextContent);
    }

    [Fact]
    public void TheHostsBuildCarriesTheManual()
    {
        // The test assembly's folder holds what the web host's build copied (its None items travel with the reference).
        var built = HelpDocuments.BuiltFolder;
        Assert.All(HelpDocuments.All, d => Assert.True(File.Exists(Path.Combine(built, d.File)), $"{d.File} is not under {built}"));
        Assert.True(File.Exists(Path.Combine(built, "docs", "images", "generate.png")));
        Assert.Equal(File.ReadAllText(Path.Combine(Root, "README.md")), File.ReadAllText(Path.Combine(built, "README.md")));
        Assert.Matches(new Regex("^# Distill Studio"), File.ReadAllText(Path.Combine(built, "README.md")));
    }
}
