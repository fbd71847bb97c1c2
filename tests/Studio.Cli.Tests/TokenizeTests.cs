using System.Text.Json;
using Studio.Ml.Tests;

namespace Studio.Cli.Tests;

[Collection("console")]
public class TokenizeTests
{
    static string Golden(string kind) => TestPaths.TokenizerGoldens(kind);

    [Theory]
    [InlineData("t5")]
    [InlineData("clip")]
    public void TokenizeReproducesTheGoldensLineByLine(string kind)
    {
        var dir = TestPaths.NewTempDirectory("tokenize");
        var prompts = Path.Combine(dir, "prompts.jsonl");
        var goldens = File.ReadLines(Golden(kind)).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        File.WriteAllLines(prompts, goldens.Select(g => JsonSerializer.Serialize(new { text = g.GetProperty("text").GetString() })));
        var output = Path.Combine(dir, "ids.jsonl");

        var (code, _, error) = Cli.Run("tokenize", "--tokenizer", Path.Combine(TestPaths.Tokenizers, kind), "--in", prompts, "--out", output);

        Assert.True(code == 0, error);
        var lines = File.ReadAllLines(output);
        Assert.Equal(goldens.Count, lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            var line = JsonDocument.Parse(lines[i]).RootElement;
            Assert.Equal(["text", "ids"], line.EnumerateObject().Select(p => p.Name));
            Assert.Equal(goldens[i].GetProperty("text").GetString(), line.GetProperty("text").GetString());
            Assert.Equal(goldens[i].GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()),
                         line.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        }
    }

    [Theory]
    [InlineData("{\"text\": \"fine\"}\n{\"text\": 3}\n", 2, "not a string")]
    [InlineData("{\"text\": \"fine\"}\n\n{\"prompt\": \"x\"}\n", 3, "no \"text\"")]
    [InlineData("[\"text\"]\n", 1, "JSON object")]
    [InlineData("{\"text\": \"fine\"}\n{\"text\": \"unclosed}\n", 2, "not valid JSON")]
    public void ABadLineIsAnErrorNamingFileAndLineAndWritesNothing(string content, int line, string fault)
    {
        var dir = TestPaths.NewTempDirectory("tokenize-bad");
        var prompts = Path.Combine(dir, "prompts.jsonl");
        File.WriteAllText(prompts, content);
        var output = Path.Combine(dir, "ids.jsonl");

        var (code, _, error) = Cli.Run("tokenize", "--tokenizer", Path.Combine(TestPaths.Tokenizers, "t5"), "--in", prompts, "--out", output);

        Assert.NotEqual(0, code);
        Assert.Contains($"{prompts}:{line}:", error);
        Assert.Contains(fault, error);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void AFolderThatIsNoTokenizerIsAnErrorNamingIt()
    {
        var dir = TestPaths.NewTempDirectory("tokenize-nodir");
        var prompts = Path.Combine(dir, "prompts.jsonl");
        File.WriteAllText(prompts, "{\"text\": \"a\"}\n");

        var (code, _, error) = Cli.Run("tokenize", "--tokenizer", dir, "--in", prompts, "--out", Path.Combine(dir, "out.jsonl"));

        Assert.NotEqual(0, code);
        Assert.Contains(dir, error);
        Assert.Contains("not a T5 or CLIP tokenizer folder", error);
    }

    [Fact]
    public void HelpListsTokenize()
    {
        var (code, output, _) = Cli.Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("tokenize", output);
    }
}
