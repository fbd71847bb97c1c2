using System.Text.Json;
using Studio.Ml.Tests;

namespace Studio.Cli.Tests;

[Collection("console")]
public class BenchLoadTests
{
    [Fact]
    public void LoadOfARandomFilePrintsOneJsonLineAndRemovesTheFile()
    {
        var (code, output, error) = Cli.Run("bench", "load", "--size-mb", "3");

        Assert.True(code == 0, error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines);
        var json = JsonDocument.Parse(line).RootElement;
        Assert.Equal("load", json.GetProperty("bench").GetString());
        Assert.True(json.GetProperty("generated").GetBoolean());
        var bytes = json.GetProperty("file_bytes").GetInt64();
        Assert.InRange(bytes, 3L << 20, (3L << 20) + 4096);
        Assert.Equal(1, json.GetProperty("tensors").GetInt32());
        foreach (var field in new[] { "load_s", "plain_read_s", "first_touch_s", "load_over_plain_read" })
            Assert.True(json.GetProperty(field).GetDouble() > 0, field);
        var growth = json.GetProperty("peak_rss_growth_bytes").GetInt64();
        Assert.Equal(Math.Round((double)growth / bytes, 4), json.GetProperty("rss_growth_ratio").GetDouble(), 4);
        Assert.False(File.Exists(json.GetProperty("file").GetString()));
    }

    [Fact]
    public void LoadOfAMalformedFileNamesItAndTheFault()
    {
        var path = Path.Combine(TestPaths.NewTempDirectory("bench-load-bad"), "bad.safetensors");
        File.WriteAllBytes(path, [200, 0, 0, 0, 0, 0, 0, 0, (byte)'{']);

        var (code, _, error) = Cli.Run("bench", "load", path);

        Assert.NotEqual(0, code);
        Assert.Contains(path, error);
        Assert.Contains("header length 200 runs past the end of the file", error);
    }

    [Fact]
    public void LoadNeedsAFileOrASize()
    {
        var (code, _, error) = Cli.Run("bench", "load");
        Assert.NotEqual(0, code);
        Assert.Contains("FILE or --size-mb", error);
    }
}
