using Studio.Ml.Tests;
using System.Text.RegularExpressions;

namespace Studio.Cli.Tests;

[Collection("console")]
public class CacheFillCommandTests
{
    [Fact]
    public void WithoutMaxLengthTheToyTeacherIsFilledAtItsTokenizersLengthAndAShardCountsItsOwnSlice()
    {
        var cache = Path.Combine(TestPaths.NewTempDirectory("cli-cache-fill"), "cache");

        // As a newcomer types it for the only teacher they have: 77 tokens would exceed the toy tokenizer's 32.
        var (code, output, error) = Cli.Run("cache", "fill", "--teacher", "toy", "--prompts", "toy:heldout:text:6", "--shard", "1/2", "--cache", cache);
        Assert.True(code == 0, error);
        Assert.Contains("--max-length 32 (the runs' text.max_length default, cut to the teacher tokenizer's model_max_length)", output);
        // The shard's count is of its own slice: what it says it will encode is what it encodes.
        var planned = Regex.Match(output, @"teacher-embedding cache: 0 of (\d+) prompts \(slice 1/2 of 6\) cached, (\d+) to encode");
        Assert.True(planned.Success, output);
        Assert.Equal(planned.Groups[1].Value, planned.Groups[2].Value);
        Assert.Contains($"teacher-embedding cache: {planned.Groups[2].Value} encoded, 0 already cached", output);
        Assert.InRange(int.Parse(planned.Groups[1].Value), 1, 5);

        // The same entries as an explicit --max-length 32 (what the toy presets' text.max_length reads): nothing to encode.
        (code, output, error) = Cli.Run("cache", "fill", "--teacher", "toy", "--prompts", "toy:heldout:text:6", "--shard", "1/2", "--max-length", "32", "--cache", cache);
        Assert.True(code == 0, error);
        Assert.Contains($"teacher-embedding cache: {planned.Groups[1].Value} of {planned.Groups[1].Value} prompts (slice 1/2 of 6) cached, 0 to encode", output);
        Assert.DoesNotContain("--max-length 32 (", output);
    }
}
