using Studio.Ml.Toy;

namespace Studio.Ml.Tests.Toy;

public class ToyFontTests
{
    [Fact]
    public void HasTwentySixDistinctFiveBySevenGlyphs()
    {
        Assert.Equal(26, ToyFont.Glyphs.Length);
        Assert.All(ToyFont.Glyphs, g => Assert.Equal(35, g.Length));
        for (int a = 0; a < 26; a++)
            for (int b = a + 1; b < 26; b++)
            {
                int differing = Enumerable.Range(0, 35).Count(k => ToyFont.Glyphs[a][k] != ToyFont.Glyphs[b][k]);
                Assert.True(differing >= 2, $"{(char)('A' + a)} and {(char)('A' + b)} differ in only {differing} pixel(s)");
            }
    }

    [Fact]
    public void LettersLookRight()
    {
        // Spot checks against the drawing: T has a full top bar and a centre stem; L a full bottom bar; O empty corners.
        Assert.True(Enumerable.Range(0, 5).All(x => ToyFont.Glyph('T')[x]));
        Assert.True(Enumerable.Range(1, 6).All(y => ToyFont.Glyph('T')[y * 5 + 2] && !ToyFont.Glyph('T')[y * 5]));
        Assert.True(Enumerable.Range(30, 5).All(k => ToyFont.Glyph('L')[k]));
        Assert.False(ToyFont.Glyph('O')[0] || ToyFont.Glyph('O')[4] || ToyFont.Glyph('O')[30] || ToyFont.Glyph('O')[34]);
    }
}
