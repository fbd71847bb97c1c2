using System.Collections.Concurrent;
using Markdig;
using Markdig.Extensions.AutoIdentifiers;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Studio.Web.Help;

/// <summary>One document of the manual: its address under /help, its file in the repository and its menu title.</summary>
public sealed record HelpDocument(string Slug, string File, string Title)
{
    /// <summary>Its page: /help for the README, /help/SLUG for the others.</summary>
    public string Href => Slug.Length == 0 ? HelpDocuments.Path : $"{HelpDocuments.Path}/{Slug}";
}

/// <summary>
/// The manual in the browser: the README and docs/*.md, copied beside the web host at build time (help/ keeps their
/// repository layout), rendered to HTML once each with Markdig (GitHub's tables and heading anchors, raw HTML
/// off). Links between the documents become links between their /help pages, images under docs/images/ are served
/// from /help/images/, and a link to any other file of the repository, which the studio does not serve, becomes its
/// text followed by the file's repository path as code ("its README (`tests/fixtures/README.md`)"), so a reader knows
/// which file of the repository to open.
/// </summary>
public sealed class HelpDocuments(string root)
{
    public const string Path = "/help";
    public const string ImagesPath = "/help/images";
    const string ImagesFolder = "docs/images/";

    public static readonly IReadOnlyList<HelpDocument> All =
    [
        new("", "README.md", "Overview and quick start"),
        new("studio", "docs/STUDIO.md", "The studio in the browser"),
        new("distillation", "docs/DISTILLATION.md", "Distillation and the run YAML"),
        new("toy-world", "docs/TOY-WORLD.md", "The toy world"),
        new("models", "docs/MODELS.md", "Models, tokenizers and pipelines"),
        new("http-api", "docs/HTTP-API.md", "HTTP API"),
        new("many-machines", "docs/MANY-MACHINES.md", "Many machines"),
        new("architecture", "docs/ARCHITECTURE.md", "Architecture"),
        new("method", "docs/METHOD.md", "The method"),
    ];

    static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder()
        .UsePipeTables()
        .UseAutoIdentifiers(AutoIdentifierOptions.GitHub)
        .DisableHtml()
        .Build();

    /// <summary>The folder the host's build copies the documents into.</summary>
    public static string BuiltFolder => System.IO.Path.Combine(AppContext.BaseDirectory, "help");

    readonly ConcurrentDictionary<string, string> _html = new();

    public static HelpDocument? Find(string? slug) => All.FirstOrDefault(d => d.Slug == (slug ?? "").Trim('/').ToLowerInvariant());

    /// <summary>The document's HTML, or null when its file is missing from this host.</summary>
    public string? Html(HelpDocument document)
    {
        var file = System.IO.Path.Combine(root, document.File);
        if (!System.IO.File.Exists(file)) return null;
        return _html.GetOrAdd(document.Slug, _ => Render(document.File, System.IO.File.ReadAllText(file)));
    }

    /// <summary>An image of the manual (docs/images/NAME), or null: only plain names of files that are there.</summary>
    public string? ImageFile(string name)
    {
        if (!System.Text.RegularExpressions.Regex.IsMatch(name, @"^[A-Za-z0-9][A-Za-z0-9._-]*\.(png|svg|jpg)$")) return null;
        var file = System.IO.Path.Combine(root, ImagesFolder, name);
        return System.IO.File.Exists(file) ? file : null;
    }

    /// <summary>The Markdown of <paramref name="file"/> (a repository path) as HTML, its links rewritten for /help.</summary>
    public static string Render(string file, string markdown)
    {
        var document = Markdown.Parse(markdown, Pipeline);
        foreach (var link in document.Descendants<LinkInline>().ToList())
        {
            var target = Rewrite(file, link.Url ?? "");
            if (target is not null) link.Url = target;
            else Unwrap(link, RepositoryFile(file, link.Url ?? ""));
        }
        return document.ToHtml(Pipeline);
    }

    /// <summary>
    /// Where a link of <paramref name="file"/> leads in the studio: the same address for a web address, the document's
    /// own page and the anchor for an anchor of the page (a bare "#x" would resolve against the studio's base address,
    /// the Home page), /help/SLUG#anchor for another document, /help/images/NAME for an image, null for a file the
    /// studio does not serve.
    /// </summary>
    public static string? Rewrite(string file, string url)
    {
        if (url.Length == 0 || System.Text.RegularExpressions.Regex.IsMatch(url, "^[a-z]+:")) return url;
        if (url.StartsWith('#')) return All.FirstOrDefault(d => d.File == file) is { } self ? self.Href + url : url;
        var hash = url.IndexOf('#');
        var (path, fragment) = hash < 0 ? (url, "") : (url[..hash], url[hash..]);
        var resolved = Resolve(file, path);
        if (resolved is null) return null;
        if (resolved.StartsWith(ImagesFolder) && !resolved[ImagesFolder.Length..].Contains('/')) return $"{ImagesPath}/{resolved[ImagesFolder.Length..]}";
        return All.FirstOrDefault(d => d.File == resolved) is { } document ? document.Href + fragment : null;
    }

    /// <summary>A relative path from <paramref name="file"/>'s folder as a repository path ("docs/X.md"), or null when it leaves the repository.</summary>
    static string? Resolve(string file, string relative)
    {
        var parts = new List<string>(file.Split('/')[..^1]);
        foreach (var part in Uri.UnescapeDataString(relative).Split('/'))
        {
            if (part is "" or ".") continue;
            if (part == "..") { if (parts.Count == 0) return null; parts.RemoveAt(parts.Count - 1); }
            else parts.Add(part);
        }
        return string.Join('/', parts);
    }

    /// <summary>The repository path a relative link of <paramref name="file"/> names (its fragment dropped), or null when it leaves the repository.</summary>
    static string? RepositoryFile(string file, string url) => Resolve(file, url.Split('#')[0]);

    /// <summary>
    /// Puts a link's text where the link was, followed by <paramref name="path"/> as code; only the code when the text
    /// is the path itself.
    /// </summary>
    static void Unwrap(LinkInline link, string? path)
    {
        var children = link.ToList();
        var text = string.Concat(children.OfType<LiteralInline>().Select(l => l.Content.ToString()));
        if (path is not null && text == path)
        {
            link.InsertBefore(new CodeInline(path));
            link.Remove();
            return;
        }
        foreach (var child in children)
        {
            child.Remove();
            link.InsertBefore(child);
        }
        if (path is not null)
        {
            link.InsertBefore(new LiteralInline(" ("));
            link.InsertBefore(new CodeInline(path));
            link.InsertBefore(new LiteralInline(")"));
        }
        link.Remove();
    }
}

/// <summary>The Help page's wiring: the documents beside the host, and the pictures they show.</summary>
public static class HelpEndpoints
{
    public static IServiceCollection AddStudioHelp(this IServiceCollection services) =>
        services.AddSingleton(new HelpDocuments(HelpDocuments.BuiltFolder));

    /// <summary>The manual's pictures (the Help page draws them; signed in as every page is).</summary>
    public static void MapStudioHelp(this IEndpointRouteBuilder app) =>
        app.MapGet(HelpDocuments.ImagesPath + "/{name}", (string name, HelpDocuments help) =>
            help.ImageFile(name) is { } file
                ? Results.File(file, file.EndsWith(".svg") ? "image/svg+xml" : file.EndsWith(".jpg") ? "image/jpeg" : "image/png")
                : Results.NotFound()).ExcludeFromDescription();
}
