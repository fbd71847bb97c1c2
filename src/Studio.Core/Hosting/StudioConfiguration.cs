using Microsoft.Extensions.Configuration;

namespace Studio.Core.Hosting;

public static class StudioConfiguration
{
    /// <summary>
    /// Finds the one appsettings.json: STUDIO_SETTINGS if set, else the copy next to the executable (linked from the
    /// repository root at build time).
    /// </summary>
    public static string SettingsPath() =>
        Environment.GetEnvironmentVariable("STUDIO_SETTINGS") is { Length: > 0 } p
            ? Path.GetFullPath(p)
            : Path.Combine(AppContext.BaseDirectory, "appsettings.json");

    /// <summary>Adds appsettings.json, then environment variables (Studio__DataDirectory=...), then the command line.</summary>
    public static IConfigurationBuilder AddStudioSettings(this IConfigurationBuilder builder, string[]? args = null)
    {
        builder.AddJsonFile(SettingsPath(), optional: false, reloadOnChange: false);
        builder.AddEnvironmentVariables();
        if (args is not null) builder.AddCommandLine(args);
        return builder;
    }
}
