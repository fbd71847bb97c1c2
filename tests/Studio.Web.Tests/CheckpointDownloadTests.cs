using System.IO.Compression;
using System.Net;
using Microsoft.EntityFrameworkCore;
using Studio.Web.Tests.BadInput;

namespace Studio.Web.Tests;

/// <summary>GET /api/checkpoints/{id}/download of a checkpoint folder (what the trainer writes): a zip of its files.</summary>
public sealed class CheckpointDownloadTests(ApiHost host) : IClassFixture<ApiHost>
{
    [Fact]
    public async Task AFolderCheckpointComesBackAsAZipOfEveryFileByteForByte()
    {
        await using var db = await host.Db.CreateDbContextAsync();
        var checkpoint = await db.Checkpoints.SingleAsync(c => c.Id == host.Checkpoint);
        var files = new Dictionary<string, byte[]>
        {
            ["student.safetensors"] = new byte[3 << 20],
            ["manifest.json"] = "{\"files\": []}"u8.ToArray(),
            [Path.Combine("optimizer", "state.safetensors")] = new byte[70_001],
        };
        new Random(5).NextBytes(files["student.safetensors"]);
        new Random(6).NextBytes(files[Path.Combine("optimizer", "state.safetensors")]);
        foreach (var (name, bytes) in files)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(checkpoint.Path, name))!);
            File.WriteAllBytes(Path.Combine(checkpoint.Path, name), bytes);
        }

        using var response = await host.Http.GetAsync($"/api/checkpoints/{host.Checkpoint}/download");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/zip", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal($"run-{checkpoint.RunId}-step-{checkpoint.Step}.zip", response.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
        var body = await response.Content.ReadAsByteArrayAsync();
        using var zip = new ZipArchive(new MemoryStream(body), ZipArchiveMode.Read);
        Assert.Equal(files.Keys.Select(k => k.Replace('\\', '/')).Order(StringComparer.Ordinal), zip.Entries.Select(e => e.FullName).Order(StringComparer.Ordinal));
        foreach (var entry in zip.Entries)
        {
            using var read = new MemoryStream();
            await using (var from = entry.Open()) await from.CopyToAsync(read);
            Assert.Equal(files[entry.FullName.Replace('/', Path.DirectorySeparatorChar)], read.ToArray());
        }
    }
}
