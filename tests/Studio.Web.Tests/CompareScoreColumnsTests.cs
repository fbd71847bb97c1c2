using Studio.Core.Data;
using Studio.Web.Components.Pages;

namespace Studio.Web.Tests;

/// <summary>Compare's evaluation table shows a group of score columns only when some row has a value in it.</summary>
public class CompareScoreColumnsTests
{
    static CheckpointEvaluation Row(double? semantics = null, double? difference = null, double? clip = null) =>
        new() { Pipeline = "toy", Encoder = "x", Semantics = semantics, TeacherDifference = difference, ClipScore = clip };

    [Fact]
    public void ToyScoresAgreementAndClipScoreEachShowWhereARowHasThem()
    {
        Assert.Equal((true, false, false), Compare.ScoreColumns([Row(semantics: 0.5), Row()]));
        Assert.Equal((false, true, false), Compare.ScoreColumns([Row(difference: 3.5), Row()]));
        Assert.Equal((false, true, true), Compare.ScoreColumns([Row(difference: 3.5), Row(clip: 30.5)]));
        Assert.Equal((true, true, true), Compare.ScoreColumns([Row(semantics: 0.5, difference: 3.5, clip: 30.5)]));
    }

    [Fact]
    public void WhileNoRowHasAScoreTheToyAndAgreementColumnsShow() =>
        Assert.Equal((true, true, false), Compare.ScoreColumns([Row(), Row()]));
}
