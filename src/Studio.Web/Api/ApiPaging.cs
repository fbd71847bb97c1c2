using Studio.Core.Runs;

namespace Studio.Web.Api;

/// <summary>
/// How the API's lists come a page at a time, newest first (runs, evaluations, generations): `limit` rows (1 to
/// <see cref="MaxLimit"/>) with an id below `before`; `X-Total-Count` says how many rows match, and
/// `Link: &lt;...&amp;before=ID&gt;; rel="next"` gives the next page's address until the last page.
/// </summary>
public static class ApiPaging
{
    public const int MaxLimit = 1000;

    /// <summary>
    /// <paramref name="limit"/>, or <paramref name="otherwise"/> when none is given; a limit out of range is refused
    /// naming the query it came from (<paramref name="query"/>).
    /// </summary>
    public static int? Limit(int? limit, int? otherwise = null, string query = "limit", int max = MaxLimit) => limit switch
    {
        null => otherwise,
        var n when n < 1 || n > max => throw new RunActionException($"query '{query}': {limit} is not between 1 and {max:N0}"),
        _ => limit,
    };

    /// <summary>The page of <paramref name="newestFirst"/> (every matching row, newest first) that the query asks for, with its headers set.</summary>
    public static List<T> Page<T>(HttpContext http, IReadOnlyList<T> newestFirst, Func<T, int> id, int? limit, int? before)
    {
        var rest = before is { } b ? newestFirst.Where(row => id(row) < b).ToList() : [.. newestFirst];
        var page = limit is { } n ? rest.Take(n).ToList() : rest;
        SetHeaders(http, newestFirst.Count, page.Count < rest.Count ? id(page[^1]) : null);
        return page;
    }

    /// <summary>Sets `X-Total-Count` to <paramref name="total"/> and, when there is a next page, `Link` to its address (this request's, listing before <paramref name="nextBefore"/>).</summary>
    public static void SetHeaders(HttpContext http, int total, int? nextBefore)
    {
        http.Response.Headers["X-Total-Count"] = total.ToString();
        if (nextBefore is not { } next) return;
        var query = http.Request.Query.Where(q => q.Key != "before").Select(q => KeyValuePair.Create(q.Key, (string?)q.Value.ToString()))
            .Append(KeyValuePair.Create("before", (string?)next.ToString()));
        http.Response.Headers.Link = $"<{http.Request.PathBase}{http.Request.Path}{QueryString.Create(query)}>; rel=\"next\"";
    }
}
