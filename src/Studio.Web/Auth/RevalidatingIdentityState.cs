using System.Security.Claims;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace Studio.Web.Auth;

/// <summary>
/// An open page (a Blazor circuit) checks its user against the user's security stamp every <see cref="Interval"/>, as
/// every HTTP request does: the page of a user deleted, or whose role changed, on the Users page (which renews the
/// stamp) goes to the login page within seconds (<c>SignedOutRedirect</c>) instead of keeping the old role until reloaded.
/// A check that cannot reach the users' database (a restart of PostgreSQL, a locked SQLite file) keeps the page as it is
/// and asks again at the next interval: only an answer that the user is gone or changed signs the page out.
/// </summary>
public sealed class RevalidatingIdentityState(ILoggerFactory loggers, IServiceScopeFactory scopes, IOptions<IdentityOptions> identity)
    : RevalidatingServerAuthenticationStateProvider(loggers)
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    readonly ILogger log = loggers.CreateLogger<RevalidatingIdentityState>();

    protected override TimeSpan RevalidationInterval => Interval;

    protected override Task<bool> ValidateAuthenticationStateAsync(AuthenticationState state, CancellationToken ct) => IsValidAsync(state.User, ct);

    /// <summary>False when the user is gone or their stamp changed; true when it holds, or when the database could not say.</summary>
    public async Task<bool> IsValidAsync(ClaimsPrincipal principal, CancellationToken ct)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var users = scope.ServiceProvider.GetRequiredService<UserManager<StudioUser>>();
            // The user still exists, with the stamp its login carries.
            var user = await users.GetUserAsync(principal);
            return user is not null
                   && principal.FindFirstValue(identity.Value.ClaimsIdentity.SecurityStampClaimType) == await users.GetSecurityStampAsync(user);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning("Could not check {User}'s login against the users' database ({Error}); the page stays signed in and checks again in {Seconds} s",
                principal.Identity?.Name, e.Message, Interval.TotalSeconds);
            return true;
        }
    }
}
