using System.Text;
using Studio.Ml.Prompts;

namespace Studio.Ml.Tests;

public class PromptSetReaderTests
{
    static PromptSetReadResult Read(string content, PromptFileFormat format, PromptReadOptions? options = null) =>
        PromptSetReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(content)), "upload", format, options);

    [Fact]
    public void TextTakesOnePromptPerLineAndCountsEmptyAndOverLongLinesByNumber()
    {
        var r = Read("a red cube\n\n  a blue sphere  \n" + new string('x', 50) + "\n   \nthe end", PromptFileFormat.Text,
            new PromptReadOptions { MaxPromptChars = 40, DefaultCategory = "semantics/colour" });
        Assert.Equal([(1, "a red cube"), (3, "a blue sphere"), (6, "the end")], r.Prompts.Select(p => (p.LineNumber, p.Text)));
        Assert.All(r.Prompts, p => Assert.Equal("semantics/colour", p.Category));
        Assert.Equal([2, 5], r.EmptyLines);
        Assert.Equal([4], r.TooLongLines);
        Assert.Empty(r.BadLines);
        Assert.Equal("upload: 3 prompts; 2 empty, 1 too long, 0 bad lines skipped", r.Summary);
    }

    /// <summary>The paper's prompt sets hold thousands: the summary writes them as every count in the studio is written.</summary>
    [Fact]
    public void TheSummaryWritesThousandsWithSeparators()
    {
        var r = Read(string.Join('\n', Enumerable.Range(1, 12_345).Select(i => $"prompt {i}")) + "\n" + string.Join('\n', Enumerable.Repeat(" ", 1_001)), PromptFileFormat.Text);
        Assert.Equal("upload: 12,345 prompts; 1,001 empty, 0 too long, 0 bad lines skipped", r.Summary);
    }

    [Fact]
    public void JsonListTakesStringsAndObjectsAndReportsBadElementsByTheirLine()
    {
        var json = """
            [
              "a cat",
              {"text": "a dog", "category": "semantics/numeracy"},
              {"prompt": "a sign that says 'hi'"},
              42,
              {"txt": "typo"},
              {"text": ""},
              {"text": 7}
            ]
            """;
        var r = Read(json, PromptFileFormat.Json);
        Assert.Equal([(2, "a cat", (string?)null), (3, "a dog", "semantics/numeracy"), (4, "a sign that says 'hi'", null)],
            r.Prompts.Select(p => (p.LineNumber, p.Text, p.Category)));
        Assert.Equal([5, 6, 8], r.BadLines.Select(b => b.LineNumber));
        Assert.Contains("no \"text\" field", r.BadLines[1].Message);
        Assert.Equal([7], r.EmptyLines);
        // Each issue names its entry of the list too: a list written on one line has one line number for all.
        Assert.Equal(["line 5: entry 4: a number where a prompt string or object was expected", "line 6: entry 5: no \"text\" field (expected one of text, prompt, caption)",
            "line 8: entry 7: \"text\" is a number, not a string"], r.BadLines.Select(b => b.ToString()));
        var oneLine = Read("""[{"text": 5}, {"txt": "a"}, "plain"]""", PromptFileFormat.Json);
        Assert.Equal(["line 1: entry 1: \"text\" is a number, not a string", "line 1: entry 2: no \"text\" field (expected one of text, prompt, caption)"],
            oneLine.BadLines.Select(b => b.ToString()));
    }

    [Fact]
    public void AJsonFileThatIsNotAListOrNotJsonIsRefusedNamingTheLine()
    {
        var e = Assert.Throws<PromptFileException>(() => Read("{\"text\": \"a\"}", PromptFileFormat.Json));
        Assert.Contains("must be a list", e.Message);
        e = Assert.Throws<PromptFileException>(() => Read("[\n\"a\",\n\"b\" \"c\"\n]", PromptFileFormat.Json));
        Assert.StartsWith("upload: line 3:", e.Message);
    }

    [Fact]
    public void JsonLinesReportsMalformedLinesAndKeepsTheRest()
    {
        var r = Read("{\"text\": \"one\", \"category\": \"text\"}\n{broken\n\n\"two\"\n{\"text\": \"three\"}\n[1]\n", PromptFileFormat.JsonLines);
        Assert.Equal([(1, "one", (string?)"text"), (4, "two", null), (5, "three", null)], r.Prompts.Select(p => (p.LineNumber, p.Text, p.Category)));
        Assert.Equal([2, 6], r.BadLines.Select(b => b.LineNumber));
        Assert.StartsWith("not valid JSON", r.BadLines[0].Message);
        Assert.Equal([3], r.EmptyLines);
    }

    [Fact]
    public void CsvFindsTheTextAndCategoryColumnsAndHandlesQuotesAcrossLines()
    {
        var csv = "id,Category,text\r\n1,text,\"a sign reading \"\"OPEN\"\", lit\"\r\n2,,\"two\nlines\"\n3,semantics/colour\n4,text,plain\n5,x,\"never closed\n6,text,lost";
        var r = Read(csv, PromptFileFormat.Csv);
        Assert.Equal([(2, "a sign reading \"OPEN\", lit", (string?)"text"), (3, "two\nlines", null), (6, "plain", "text")],
            r.Prompts.Select(p => (p.LineNumber, p.Text, p.Category)));
        Assert.Equal([5, 7], r.BadLines.Select(b => b.LineNumber));
        Assert.Contains("2 fields where the header has 3", r.BadLines[0].Message);
        Assert.Contains("never closed", r.BadLines[1].Message);
    }

    [Fact]
    public void CsvWithoutATextColumnIsRefusedNamingTheColumnsFound()
    {
        var e = Assert.Throws<PromptFileException>(() => Read("id,words\n1,hello", PromptFileFormat.Csv));
        Assert.Contains("found: id, words", e.Message);
    }

    [Fact]
    public void SizeLimitAndUnknownTypesAreRefusedByName()
    {
        var e = Assert.Throws<PromptFileException>(() => Read(new string('a', 2000), PromptFileFormat.Text, new PromptReadOptions { MaxFileBytes = 1000 }));
        Assert.Contains("limit of 1,000 bytes", e.Message);
        Assert.Contains("'.parquet'", Assert.Throws<PromptFileException>(() => PromptSetReader.FormatOf("x.parquet")).Message);
        Assert.Equal(PromptFileFormat.JsonLines, PromptSetReader.FormatOf("prompts.JSONL"));
    }

    [Fact]
    public void PromptFilesInThePapersFormatsReadWhole()
    {
        // tests/fixtures/prompts: a JSON list as CommonText ships it and a one-prompt-per-line file as T2I-CompBench.
        var prompts = Path.Combine(TestPaths.Fixtures, "prompts");
        var textRendering = PromptSetReader.Read(Path.Combine(prompts, "text-rendering.json"));
        Assert.Equal(4, textRendering.Prompts.Count);
        Assert.Equal(0, textRendering.SkippedCount);
        Assert.Equal("A fox holding a sign that reads 'autumn'.", textRendering.Prompts[0].Text);
        Assert.Equal(2, textRendering.Prompts[0].LineNumber);
        Assert.Equal(5, textRendering.Prompts[3].LineNumber);

        var colour = PromptSetReader.Read(Path.Combine(prompts, "colour.txt"));
        Assert.Equal(["a red kettle and a green clock", "a yellow chair and a blue lamp", "a purple book and an orange cup"],
            colour.Prompts.Select(p => p.Text));
        Assert.Single(colour.EmptyLines);
        Assert.Equal(4, colour.Prompts[2].LineNumber);
    }
}
