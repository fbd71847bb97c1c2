using System.Text.RegularExpressions;
using Studio.Ml.Text;
using Studio.Ml.Toy;

namespace Studio.Ml.Tests.Toy;

public class ToyPromptTests
{
    [Fact]
    public void CategoriesAreNamedAfterThePapersCriteria()
    {
        Assert.Equal(["image-quality", "semantics/colour", "semantics/spatial", "semantics/numeracy", "text"], ToyCriteria.Categories);
        Assert.Equal(["semantics/colour", "semantics/spatial", "semantics/numeracy"], ToyCriteria.Expand("semantics"));
        Assert.Equal(["text"], ToyCriteria.Expand("text"));
        Assert.Contains("unknown criterion 'colour'", Assert.Throws<ArgumentException>(() => ToyCriteria.Expand("colour")).Message);
    }

    [Fact]
    public void APromptSetNameMayGiveItsCountWithoutACriterion()
    {
        // toy:train:64 is toy:train::64 and toy:train:all:64 (no criterion is a number).
        var counted = ToyWorld.PromptSet("toy:train:64");
        Assert.Equal(64, counted.Count);
        Assert.Equal(ToyWorld.PromptSet("toy:train:all:64"), counted);
        Assert.Equal(ToyWorld.PromptSet("toy:train::64"), counted);
        Assert.Equal(7, ToyWorld.PromptSet("toy:heldout:7").Count);
        Assert.Null(ToyWorld.Problem("toy:heldout:text:3"));
        Assert.Equal(["text"], ToyWorld.PromptSet("toy:heldout:text:3").Select(p => p.Category).Distinct());
        Assert.Contains("unknown criterion '6x'", ToyWorld.Problem("toy:train:6x"));
        Assert.Contains("COUNT must be a positive integer", ToyWorld.Problem("toy:train:all:0"));
        Assert.Contains("is not toy:train", ToyWorld.Problem("toy:train:1:2:3"));
    }

    [Fact]
    public void GenerationIsDeterministicPerSeed()
    {
        var a = ToyPrompts.Generate(ToyCriteria.All, 50, seed: 7, ToySplit.Train);
        var b = ToyPrompts.Generate(ToyCriteria.All, 50, seed: 7, ToySplit.Train);
        var c = ToyPrompts.Generate(ToyCriteria.All, 50, seed: 8, ToySplit.Train);
        Assert.Equal(a, b);
        Assert.NotEqual(a.Select(p => p.Text), c.Select(p => p.Text));
        Assert.Equal(ToyPrompts.HeldOut(ToyCriteria.All, 30), ToyPrompts.Generate(ToyCriteria.All, 30, ToyPrompts.HeldOutSeed, ToySplit.HeldOut));
    }

    [Fact]
    public void CategoriesTakeTurnsAndTextsAreDistinct()
    {
        var prompts = ToyPrompts.HeldOut(ToyCriteria.All, 250);
        Assert.Equal(Enumerable.Range(0, 250).Select(i => ToyCriteria.Categories[i % 5]), prompts.Select(p => p.Category));
        Assert.Equal(250, prompts.Select(p => p.Text).Distinct().Count());
    }

    [Fact]
    public void HeldOutTextsNeverAppearInTraining()
    {
        var heldOut = ToyPrompts.HeldOut(ToyCriteria.All, 500).Select(p => p.Text).ToHashSet();
        var train = Enumerable.Range(1, 4).SelectMany(seed => ToyPrompts.Generate(ToyCriteria.All, 1000, seed, ToySplit.Train)).Select(p => p.Text).ToHashSet();
        Assert.Empty(heldOut.Intersect(train));
        Assert.All(heldOut, t => Assert.Equal(ToySplit.HeldOut, ToyPrompts.SplitOf(t)));
        Assert.All(train, t => Assert.Equal(ToySplit.Train, ToyPrompts.SplitOf(t)));
    }

    [Fact]
    public void AboutOneInTenTextsIsHeldOut()
    {
        var random = new Random(11);
        var texts = Enumerable.Range(0, 5000).Select(i => ToyPrompts.Sample(ToyCriteria.Categories[i % 5], random).Text).Distinct().ToArray();
        double fraction = texts.Count(t => ToyPrompts.SplitOf(t) == ToySplit.HeldOut) / (double)texts.Length;
        Assert.InRange(fraction, 0.07, 0.13);
    }

    [Fact]
    public void WordsAreTwoToFiveCapitalsAndUseTheWholeAlphabet()
    {
        Assert.All(ToyPrompts.Words, w => Assert.Matches("^[A-Z]{2,5}$", w));
        Assert.Equal(26, ToyPrompts.Words.SelectMany(w => w).Distinct().Count());
    }

    /// <summary>Reads each prompt back with an independent parser and checks it says what its scene shows.</summary>
    [Fact]
    public void EachPromptDescribesItsScene()
    {
        string[] numbers = ["zero", "one", "two", "three", "four"];
        foreach (var prompt in ToyPrompts.Generate(ToyCriteria.All, 500, seed: 3, ToySplit.Train))
        {
            var scene = prompt.Scene;
            var text = prompt.Text;
            string Name(ToyObject o) => $"{o.Colour.ToString().ToLowerInvariant()} {o.Shape.ToString().ToLowerInvariant()}";
            switch (prompt.Category)
            {
                case ToyCriteria.ImageQuality:
                    Assert.Single(scene.Objects);
                    Assert.Contains(Name(scene.Objects[0]), text);
                    Assert.Equal((1, 1), (scene.Objects[0].Col, scene.Objects[0].Row));
                    break;
                case ToyCriteria.SemanticsColour:
                    Assert.Equal(2, scene.Objects.Count);
                    Assert.Matches($"^an? {Name(scene.Objects[0])} (and|with) an? {Name(scene.Objects[1])}", text);
                    Assert.NotEqual(scene.Objects[0].Colour, scene.Objects[1].Colour);
                    Assert.NotEqual(scene.Objects[0].Shape, scene.Objects[1].Shape);
                    break;
                case ToyCriteria.SemanticsSpatial:
                    var (a, b) = (scene.Objects[0], scene.Objects[1]);
                    var match = Regex.Match(text, $"^an? {Name(a)} (.+) an? {Name(b)}");
                    Assert.True(match.Success, text);
                    var relation = match.Groups[1].Value;
                    if (relation.Contains("left")) Assert.True(a.Row == b.Row && a.Col < b.Col, text);
                    else if (relation.Contains("right")) Assert.True(a.Row == b.Row && a.Col > b.Col, text);
                    else if (relation is "above" or "over") Assert.True(a.Col == b.Col && a.Row < b.Row, text);
                    else if (relation is "below" or "under") Assert.True(a.Col == b.Col && a.Row > b.Row, text);
                    else Assert.Fail($"unknown relation '{relation}' in '{text}'");
                    break;
                case ToyCriteria.SemanticsNumeracy:
                    Assert.StartsWith(numbers[scene.Objects.Count] + " ", text);
                    Assert.All(scene.Objects, o => Assert.Equal(Name(scene.Objects[0]), Name(o)));
                    Assert.Contains(scene.Objects[0].Colour.ToString().ToLowerInvariant(), text);
                    break;
                case ToyCriteria.Text:
                    Assert.Empty(scene.Objects);
                    Assert.Equal(scene.Word!.Text, Regex.Match(text, "'([A-Z]+)'").Groups[1].Value);
                    if (text.Contains("sign") || text.Contains("poster")) Assert.NotNull(scene.Word.Plate);
                    if (text.Contains(" at the top ")) Assert.Equal(0, scene.Word.Row);
                    if (text.Contains(" at the bottom ")) Assert.Equal(2, scene.Word.Row);
                    break;
                default:
                    Assert.Fail($"unknown category {prompt.Category}");
                    break;
            }
            var background = scene.Background;
            if (background.Kind != BackgroundKind.Plain && prompt.Category is ToyCriteria.ImageQuality)
                Assert.Contains(background.Kind switch { BackgroundKind.Gradient => "gradient", BackgroundKind.Stripes => "stripes", _ => "checks" }, text);
        }
    }

    /// <summary>Both text encoders the teacher uses must take every prompt whole: T5 and CLIP within 77 tokens
    /// (CLIP's hard limit, FLUX's training length) and T5 without unknown pieces.</summary>
    [Fact]
    public void PromptsTokeniseWithinSeventySevenTokens()
    {
        var t5 = (T5Tokenizer)TextTokenizer.BuiltIn("t5");
        var clip = TextTokenizer.BuiltIn("clip");
        int longest = 0;
        foreach (var prompt in ToyPrompts.Generate(ToyCriteria.All, 1000, seed: 9, ToySplit.Train))
        {
            Assert.Matches("^[a-zA-Z' ]+$", prompt.Text);
            var ids = t5.Encode(prompt.Text);
            Assert.DoesNotContain(t5.UnkId, ids);
            longest = Math.Max(longest, Math.Max(ids.Length, clip.Encode(prompt.Text).Length));
        }
        Assert.InRange(longest, 5, 40);
    }
}
