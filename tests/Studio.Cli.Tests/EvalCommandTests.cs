namespace Studio.Cli.Tests;

/// <summary>What `studio eval --sheet` writes under each image besides its prompt: what made the image.</summary>
public class EvalCommandTests
{
    [Theory]
    [InlineData("toy", null, "toy")]
    [InlineData("/models/toy-teacher-v2/", null, "toy-teacher-v2")]
    [InlineData("toy", "/runs/base/checkpoints/step-00008000", "teacher + step-00008000")]
    [InlineData("/models/toy-teacher-v2", "runs/base/checkpoints/step-00000200/", "teacher + step-00000200")]
    public void TheSheetLabelNamesThePipelineOrTheCheckpoint(string pipeline, string? textEncoder2, string label) =>
        Assert.Equal(label, EvalCommand.SheetLabel(pipeline, textEncoder2));
}
