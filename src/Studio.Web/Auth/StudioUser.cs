using Microsoft.AspNetCore.Identity;

namespace Studio.Web.Auth;

/// <summary>A person who logs in to the studio (when logins are required); what they may do comes from their role.</summary>
public class StudioUser : IdentityUser;

/// <summary>
/// The studio's roles: admins manage users, workers and the queue dashboard; researchers create runs and generate;
/// viewers read everything and change nothing. Each role includes the ones after it.
/// </summary>
public static class StudioRoles
{
    public const string Admin = "admin";
    public const string Researcher = "researcher";
    public const string Viewer = "viewer";

    public static readonly string[] All = [Admin, Researcher, Viewer];

    /// <summary>Authorization policies by what they allow.</summary>
    public const string CanChange = "can-change";
    public const string CanAdminister = "can-administer";
}
