using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Studio.TestSupport;

/// <summary>Locates the repository and the built apps, and starts Studio.Web / Studio.Worker as real processes.</summary>
public sealed class StudioProcess : IAsyncDisposable
{
    readonly Process _process;
    readonly StringBuilder _output = new();

    public string Output { get { lock (_output) return _output.ToString(); } }
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
    public int Id => _process.Id;

    StudioProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }


    /// <summary>The configuration this test assembly was built in (Debug or Release); the apps were built the same way.</summary>
    public static string Configuration =>
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";

    public static string AppDll(string project, string assembly) =>
        Path.Combine(Studio.Tests.RepoRoot.Folder, "src", project, "bin", Configuration, "net10.0", assembly + ".dll") is var p && File.Exists(p)
            ? p
            : throw new FileNotFoundException($"Build {project} in {Configuration} first (dotnet build Studio.sln -c {Configuration})", p);

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static StudioProcess Start(string project, string assembly, IDictionary<string, string> environment, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(AppDll(project, assembly));
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var (k, v) in environment) info.Environment[k] = v;
        return new StudioProcess(Process.Start(info) ?? throw new InvalidOperationException("could not start " + project));
    }

    /// <summary>Starts the web host on a free loopback port with its own data directory and waits for /healthz.</summary>
    public static async Task<(StudioProcess Process, string Url)> StartWebAsync(string dataDirectory, IDictionary<string, string>? extra = null)
    {
        var url = $"http://127.0.0.1:{FreePort()}";
        var env = new Dictionary<string, string>
        {
            ["Urls"] = url,
            ["Studio__DataDirectory"] = dataDirectory,
        };
        if (extra is not null) foreach (var (k, v) in extra) env[k] = v;
        var process = Start("Studio.Web", "Studio.Web", env);
        await WaitForHealthyAsync(process, url);
        return (process, url);
    }

    public static async Task WaitForHealthyAsync(StudioProcess process, string url, TimeSpan? timeout = null)
    {
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(90));
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited) throw new InvalidOperationException($"process exited with {process.ExitCode}:\n{process.Output}");
            try
            {
                if ((await http.GetAsync(url + "/healthz")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(250);
        }
        throw new TimeoutException($"{url} did not become healthy:\n{process.Output}");
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public void Kill() { if (!_process.HasExited) _process.Kill(entireProcessTree: true); }

    public async ValueTask DisposeAsync()
    {
        Kill();
        try { await WaitForExitAsync(TimeSpan.FromSeconds(10)); } catch (OperationCanceledException) { }
        _process.Dispose();
    }

    public static string NewTempDirectory(string prefix)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }
}
