using Studio.Ml.Diffusion;

namespace Studio.Ml.Tests.Diffusion;

/// <summary>The 8-bit comparisons of a student's image with the teacher's: mean |Δ| and SSIM.</summary>
public class RgbImageTests
{
    public RgbImageTests() => TorchRuntime.Initialise();

    /// <summary>A W x H image whose channel k of pixel (row r, column c) is value(c, r, k).</summary>
    static RgbImage Image(int width, int height, Func<int, int, int, int> value)
    {
        var rgb = new byte[width * height * 3];
        for (int r = 0; r < height; r++)
            for (int c = 0; c < width; c++)
                for (int k = 0; k < 3; k++) rgb[(r * width + c) * 3 + k] = (byte)(value(c, r, k) % 256);
        return new RgbImage(width, height, rgb);
    }

    static readonly RgbImage Ramp = Image(32, 24, (c, r, k) => c * 7 + r * 13 + k * 29);
    static readonly RgbImage Parabola = Image(32, 24, (c, r, k) => c * c + 3 * r + k * 5);

    [Fact]
    public void SsimIsScikitImagesOnTheSameImages()
    {
        // scikit-image 0.19.3 (Debian's python3-skimage), structural_similarity(x, y, channel_axis=2, data_range=255,
        // gaussian_weights=True, sigma=1.5, use_sample_covariance=False) on these two images, built the same way in Python:
        Assert.Equal(0.08121525014328351, Ramp.StructuralSimilarity(Parabola), 1e-12);
        // ... and on the ramp with a black 12x8 box (rows 8-15, columns 8-19):
        var boxed = Image(32, 24, (c, r, k) => r is >= 8 and < 16 && c is >= 8 and < 20 ? 0 : c * 7 + r * 13 + k * 29);
        Assert.Equal(0.5278422184355263, Ramp.StructuralSimilarity(boxed), 1e-12);
        Assert.Equal(Parabola.StructuralSimilarity(Ramp), Ramp.StructuralSimilarity(Parabola), 1e-12); // symmetric
    }

    [Fact]
    public void SsimOfEqualImagesIsOneAndOfTwoFlatImagesIsTheirLuminanceTerm()
    {
        Assert.Equal(1.0, Ramp.StructuralSimilarity(Ramp with { Rgb = [.. Ramp.Rgb] }), 1e-12);
        // Flat images have no variance, so only the luminance term is left: (2 a b + C1) / (a^2 + b^2 + C1), C1 = (0.01 * 255)^2.
        var (a, b, c1) = (100.0, 140.0, 0.01 * 255 * 0.01 * 255);
        Assert.Equal((2 * a * b + c1) / (a * a + b * b + c1), Image(16, 16, (_, _, _) => 100).StructuralSimilarity(Image(16, 16, (_, _, _) => 140)), 1e-12);
    }

    [Fact]
    public void SsimRefusesImagesOfOtherSizesOrSmallerThanItsWindow()
    {
        Assert.Contains("cannot be compared", Assert.Throws<ArgumentException>(() => Ramp.StructuralSimilarity(Image(24, 32, (_, _, _) => 0))).Message);
        Assert.Contains("smaller than SSIM's 11x11 window", Assert.Throws<ArgumentException>(() => Image(10, 40, (_, _, _) => 0).StructuralSimilarity(Image(10, 40, (_, _, _) => 0))).Message);
    }

    [Fact]
    public void MeanDifferenceIsTheMeanAbsoluteDifferenceOverPixelsAndChannels()
    {
        Assert.Equal(40.0, Image(4, 4, (_, _, _) => 100).MeanDifference(Image(4, 4, (_, _, _) => 140)));
        Assert.Equal(0.0, Ramp.MeanDifference(Ramp));
    }
}
