using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Studio.Web.Api;
using Studio.Web.Tests.BadInput;

namespace Studio.Web.Tests;

/// <summary>
/// The API's OpenAPI document (/api/openapi.json), read as a client generator reads it: every endpoint the studio
/// serves under /api is in it with a summary and its answers, bodies and answers name their fields, enums are strings.
/// </summary>
public sealed class OpenApiDocumentTests(ApiHost host) : IClassFixture<ApiHost>
{
    async Task<JsonDocument> DocumentAsync()
    {
        using var response = await host.Http.GetAsync(StudioApi.OpenApiPath);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task TheDocumentIsValidOpenApi()
    {
        // Read back by Microsoft.OpenApi's own reader (what client generators build on) and checked by its rule set.
        var text = await host.Http.GetStringAsync(StudioApi.OpenApiPath);
        var read = Microsoft.OpenApi.OpenApiDocument.Parse(text, "json");
        Assert.Empty(read.Diagnostic!.Errors.Select(e => e.ToString()));
        var parsed = read.Document!;
        Assert.Empty(Microsoft.OpenApi.OpenApiElementExtensions.Validate(parsed, Microsoft.OpenApi.ValidationRuleSet.GetDefaultRuleSet())?.Select(e => e.ToString()) ?? []);
        Assert.True(parsed.Paths.Count >= 30, $"{parsed.Paths.Count} paths");
    }

    [Fact]
    public async Task EveryApiEndpointIsDescribedWithASummaryAndItsAnswers()
    {
        using var document = await DocumentAsync();
        var root = document.RootElement;
        Assert.StartsWith("3.1", root.GetProperty("openapi").GetString());
        Assert.Equal("Distill Studio API", root.GetProperty("info").GetProperty("title").GetString());
        var paths = root.GetProperty("paths");

        // What the studio serves, from its routing table: "GET /api/runs/{id}" (route constraints as OpenAPI writes them: none).
        var served = host.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText!.StartsWith("/api/", StringComparison.Ordinal) && e.RoutePattern.RawText != StudioApi.OpenApiPath)
            .SelectMany(e => e.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods.Where(m => m != "HEAD")
                .Select(m => $"{m} {Regex.Replace(e.RoutePattern.RawText!, @"\{(\w+):[^}]+\}", "{$1}")}"))
            .Order().ToList();
        Assert.True(served.Count >= 38, string.Join("\n", served));
        var described = paths.EnumerateObject()
            .SelectMany(p => p.Value.EnumerateObject().Where(o => o.Name is not ("parameters" or "summary" or "description")).Select(o => $"{o.Name.ToUpperInvariant()} {p.Name}"))
            .Order().ToList();
        Assert.Equal(served, described); // no HEAD twins, nothing outside /api (the login form, the pages)

        foreach (var path in paths.EnumerateObject())
            foreach (var operation in path.Value.EnumerateObject().Where(o => o.Value.ValueKind == JsonValueKind.Object && o.Value.TryGetProperty("responses", out _)))
            {
                var name = $"{operation.Name.ToUpperInvariant()} {path.Name}";
                Assert.False(string.IsNullOrWhiteSpace(operation.Value.TryGetProperty("summary", out var summary) ? summary.GetString() : null), $"{name}: no summary");
                var responses = operation.Value.GetProperty("responses").EnumerateObject().Select(r => r.Name).ToList();
                Assert.Contains(responses, r => r.StartsWith('2'));
                Assert.Contains("400", responses);
                if (path.Name.Contains('{')) Assert.Contains("404", responses);
                Assert.Single(operation.Value.GetProperty("tags").EnumerateArray()); // filed under runs, sweeps, checkpoints, ...
            }
    }

    [Fact]
    public async Task ARunsBodyAnswerAndErrorNameTheirFields()
    {
        using var document = await DocumentAsync();
        var root = document.RootElement;
        var create = root.GetProperty("paths").GetProperty("/api/runs").GetProperty("post");
        Assert.Equal("runs", create.GetProperty("tags")[0].GetString());

        var body = Resolve(root, create.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema"));
        Assert.Superset(new HashSet<string> { "name", "configYaml", "queue", "evaluateWhenDone", "evaluateEachCheckpoint", "evaluation" },
            body.GetProperty("properties").EnumerateObject().Select(p => p.Name).ToHashSet());

        // Required: what a request cannot leave out; every field that may be left out (null) is optional.
        Assert.Equal(["name", "configYaml"], body.GetProperty("required").EnumerateArray().Select(e => e.GetString()));
        foreach (var schema in root.GetProperty("components").GetProperty("schemas").EnumerateObject().Where(s => s.Name.EndsWith("Request", StringComparison.Ordinal)))
            foreach (var field in schema.Value.TryGetProperty("required", out var required) ? required.EnumerateArray().Select(e => e.GetString()!) : [])
                Assert.DoesNotContain("null", schema.Value.GetProperty("properties").GetProperty(field).GetRawText());
        // Numbers are numbers: a number sent as a string is refused (JsonBody), so no "string" beside "integer".
        var seeds = root.GetProperty("components").GetProperty("schemas").GetProperty("EvaluationSettingsRequest").GetProperty("properties").GetProperty("seeds");
        Assert.Equal(["integer", "null"], seeds.GetProperty("type").EnumerateArray().Select(t => t.GetString()).Order());

        var run = Resolve(root, create.GetProperty("responses").GetProperty("201").GetProperty("content").GetProperty("application/json").GetProperty("schema"));
        var state = Resolve(root, run.GetProperty("properties").GetProperty("state"));
        Assert.Equal(["Queued", "Running", "Stopping", "Completed", "Failed", "Cancelled"], state.GetProperty("enum").EnumerateArray().Select(e => e.GetString()));

        var error = Resolve(root, create.GetProperty("responses").GetProperty("400").GetProperty("content").GetProperty("application/json").GetProperty("schema"));
        Assert.Equal(["error", "problems"], error.GetProperty("properties").EnumerateObject().Select(p => p.Name));

        // The list's filters and pages are query parameters.
        var list = root.GetProperty("paths").GetProperty("/api/runs").GetProperty("get");
        Assert.Equal(["group", "state", "search", "limit", "before"],
            list.GetProperty("parameters").EnumerateArray().Where(p => p.GetProperty("in").GetString() == "query").Select(p => p.GetProperty("name").GetString()));
        // Images are PNG, not JSON.
        var image = root.GetProperty("paths").GetProperty("/api/generations/{id}/images/{imageId}").GetProperty("get");
        Assert.Equal(["image/png"], image.GetProperty("responses").GetProperty("200").GetProperty("content").EnumerateObject().Select(c => c.Name));
    }

    [Fact]
    public async Task ARefusalIsTheDocumentedApiError()
    {
        // What the document promises is what a refusal answers: {"error": ...}, with "problems" where a configuration has them.
        using var response = await host.Http.GetAsync("/api/runs/999999");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(["error"], error.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal("no run 999999", error.RootElement.GetProperty("error").GetString());
    }

    /// <summary>A schema, following "$ref" to components.schemas.</summary>
    static JsonElement Resolve(JsonElement root, JsonElement schema)
    {
        while (schema.TryGetProperty("$ref", out var reference))
            schema = root.GetProperty("components").GetProperty("schemas").GetProperty(reference.GetString()!.Split('/')[^1]);
        return schema;
    }
}
