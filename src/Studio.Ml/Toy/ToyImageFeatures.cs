using TorchSharp;

namespace Studio.Ml.Toy;

/// <summary>
/// The fixed feature extractor behind the toy world's image-quality score. Hand-made and deterministic (no training,
/// no random weights), cheap (well under a millisecond per image), and each group measures something a bad generator
/// gets wrong in this domain:
/// <list type="bullet">
/// <item>palette histogram (16): the fraction of pixels within 60 of each object and background colour, and the rest
/// (colour fidelity: washed-out or wrong colours move mass into "other");</item>
/// <item>gradient-magnitude histogram (4) of luminance: below 8, 8-32, 32-96, above 96 (blur empties the top bins,
/// noise fills the middle ones);</item>
/// <item>gradient-orientation histogram (8) of pixels with a gradient of at least 32 (edge directions: shapes and
/// letters);</item>
/// <item>layout: 4x4 block means of luminance (16) and 2x2 block means of each channel (12);</item>
/// <item>mean absolute Laplacian of luminance (1, high-frequency energy) and the standard deviation of each channel (3).</item>
/// </list>
/// All values are fractions or intensities in [0, 1]; there are 60 of them.
/// </summary>
public static class ToyImageFeatures
{
    public const int Dimension = 60;
    const float PaletteRadius = 60f;
    /// <summary>The palette, gradient-magnitude and gradient-orientation histograms come first.</summary>
    const int HistogramBins = 16 + 4 + 8;

    static readonly Rgb[] Palette = ToyPalette.ObjectColours.Select(ToyPalette.Of)
        .Concat(ToyPalette.BackgroundColours.Select(ToyPalette.Of)).ToArray();

    public static double[] Extract(ToyImage image)
    {
        const int n = ToyImage.Size, plane = ToyImage.Plane;
        var p = image.Pixels;
        var rgb = new float[3][];
        for (int c = 0; c < 3; c++)
        {
            rgb[c] = new float[plane];
            for (int i = 0; i < plane; i++) rgb[c][i] = Math.Clamp((p[c * plane + i] + 1f) * 127.5f, 0f, 255f);
        }
        var luminance = new float[plane];
        for (int i = 0; i < plane; i++) luminance[i] = 0.299f * rgb[0][i] + 0.587f * rgb[1][i] + 0.114f * rgb[2][i];

        var features = new double[Dimension];
        int f = 0;

        // Palette histogram.
        for (int i = 0; i < plane; i++)
        {
            int bin = Palette.Length;
            float best = PaletteRadius * PaletteRadius;
            for (int k = 0; k < Palette.Length; k++)
            {
                float d = Palette[k].SquaredDistanceTo(rgb[0][i], rgb[1][i], rgb[2][i]);
                if (d < best) { best = d; bin = k; }
            }
            features[f + bin] += 1.0 / plane;
        }
        f += Palette.Length + 1;

        // Gradient magnitude and orientation, central differences on interior pixels.
        const double interior = (n - 2) * (n - 2);
        double laplacian = 0;
        for (int y = 1; y < n - 1; y++)
            for (int x = 1; x < n - 1; x++)
            {
                int i = y * n + x;
                float gx = luminance[i + 1] - luminance[i - 1], gy = luminance[i + n] - luminance[i - n];
                float magnitude = MathF.Sqrt(gx * gx + gy * gy);
                features[f + (magnitude < 8 ? 0 : magnitude < 32 ? 1 : magnitude < 96 ? 2 : 3)] += 1 / interior;
                if (magnitude >= 32)
                {
                    double angle = Math.Atan2(gy, gx) + Math.PI;
                    features[f + 4 + Math.Min(7, (int)(angle / (2 * Math.PI) * 8))] += 1 / interior;
                }
                laplacian += Math.Abs(luminance[i + 1] + luminance[i - 1] + luminance[i + n] + luminance[i - n] - 4 * luminance[i]) / 255.0;
            }
        f += 12;

        // Layout.
        f = BlockMeans(luminance, 4, features, f);
        for (int c = 0; c < 3; c++) f = BlockMeans(rgb[c], 2, features, f);

        // Histograms as square roots (the Hellinger embedding): rare but telling bins, such as the few pixels of
        // an object's colour or of strong edges, then weigh as much as the big background bins.
        for (int k = 0; k < HistogramBins; k++) features[k] = Math.Sqrt(features[k]);

        features[f++] = laplacian / interior;
        for (int c = 0; c < 3; c++)
        {
            double mean = rgb[c].Average(v => (double)v), variance = rgb[c].Average(v => (v - mean) * (v - mean));
            features[f++] = Math.Sqrt(variance) / 255.0;
        }
        return f == Dimension ? features : throw new InvalidOperationException($"feature count {f} != {Dimension}");
    }

    static int BlockMeans(float[] channel, int blocks, double[] features, int f)
    {
        int side = ToyImage.Size / blocks;
        for (int i = 0; i < ToyImage.Plane; i++)
        {
            int bx = i % ToyImage.Size / side, by = i / ToyImage.Size / side;
            features[f + by * blocks + bx] += channel[i] / 255.0 / (side * side);
        }
        return f + blocks * blocks;
    }
}

/// <summary>
/// Fréchet distance between two Gaussians fitted to feature sets (as FID):
/// |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), with tr (S1 S2)^(1/2) taken as the sum of the square roots of the
/// eigenvalues of S1^(1/2) S2 S1^(1/2) (symmetric, so a real eigendecomposition suffices). Float64 throughout.
/// Bootstrap resamples (<see cref="ComputePaired"/>) take a cheaper route to the same trace, see there.
/// </summary>
public static class FrechetDistance
{
    /// <summary>Resamples per batch of <see cref="ComputePaired"/>: a batch holds resamples x images x features float64s.</summary>
    const int Batch = 200;

    public static double Compute(IReadOnlyList<double[]> first, IReadOnlyList<double[]> second)
    {
        if (first.Count < 2 || second.Count < 2)
            throw new ArgumentException($"a Fréchet distance needs at least 2 samples per set, got {first.Count} and {second.Count}");
        using var scope = torch.NewDisposeScope();
        var (mean1, cov1) = Moments(Matrix(first), torch.ones(1, first.Count, dtype: torch.float64, device: torch.CPU));
        var (mean2, cov2) = Moments(Matrix(second), torch.ones(1, second.Count, dtype: torch.float64, device: torch.CPU));
        var root1 = SymmetricSqrt(cov1);
        var middle = root1.matmul(cov2).matmul(root1);
        return Distance(mean1, cov1, mean2, cov2, middle)[0].item<double>();
    }

    /// <summary>
    /// The distance of each selection of paired samples (sample i of the first set belongs with sample i of the second:
    /// a generated image and the render of its scene), many selections at once; a selection may hold an index more
    /// than once (a bootstrap resample, <see cref="Bootstrap.Draws"/>). An eigendecomposition with eigenvectors costs
    /// tens of milliseconds per 60x60 matrix in LibTorch on a busy CPU, too slow for thousands of resamples, so here
    /// S1 + eps I = L L^T (Cholesky; eps = 1e-10 of S1's mean variance makes the singular covariances of these
    /// features definite) and the eigenvalues of S1 S2 are those of the symmetric L^T S2 L. The jitter moves a
    /// distance by less than 1e-4 (each zero eigenvalue becomes at most eps |S2|).
    /// </summary>
    public static double[] ComputePaired(IReadOnlyList<double[]> first, IReadOnlyList<double[]> second, IReadOnlyList<int[]> selections)
    {
        if (first.Count != second.Count) throw new ArgumentException($"paired sets have as many samples: got {first.Count} and {second.Count}");
        if (selections.Any(s => s.Length < 2)) throw new ArgumentException("a Fréchet distance needs at least 2 samples per selection");
        using var scope = torch.NewDisposeScope();
        var (x1, x2) = (Matrix(first), Matrix(second));
        var distances = new List<double>(selections.Count);
        for (int start = 0; start < selections.Count; start += Batch)
        {
            using var batchScope = torch.NewDisposeScope();
            var batch = selections.Skip(start).Take(Batch).ToArray();
            var counts = new double[batch.Length * first.Count];
            for (int r = 0; r < batch.Length; r++)
                foreach (var i in batch[r]) counts[r * first.Count + i] += 1;
            var weights = torch.tensor(counts, [batch.Length, first.Count], torch.float64, device: torch.CPU);
            var (mean1, cov1) = Moments(x1, weights);
            var (mean2, cov2) = Moments(x2, weights);
            var d = cov1.shape[^1];
            var eps = (cov1.diagonal(0, -2, -1).mean([-1]) * 1e-10).clamp_min(1e-20).view(-1, 1, 1);
            var lower = torch.linalg.cholesky(cov1 + eps * torch.eye(d, dtype: torch.float64, device: cov1.device));
            distances.AddRange(Distance(mean1, cov1, mean2, cov2, lower.mT.matmul(cov2).matmul(lower)).data<double>());
        }
        return [.. distances];
    }

    static torch.Tensor Matrix(IReadOnlyList<double[]> samples)
    {
        int d = samples[0].Length;
        var flat = new double[samples.Count * d];
        for (int i = 0; i < samples.Count; i++)
        {
            if (samples[i].Length != d) throw new ArgumentException($"sample {i} has {samples[i].Length} features, expected {d}");
            samples[i].CopyTo(flat, i * d);
        }
        return torch.tensor(flat, [samples.Count, d], torch.float64);
    }

    /// <summary>
    /// Mean [R, D] and unbiased covariance [R, D, D] of each of R selections of the samples x [N, D], given how often
    /// each sample is taken in each selection (counts [R, N]; all ones: the samples themselves).
    /// </summary>
    static (torch.Tensor Mean, torch.Tensor Covariance) Moments(torch.Tensor x, torch.Tensor counts)
    {
        var n = counts.sum([1]);
        var mean = counts.matmul(x) / n.unsqueeze(-1);
        var centred = x.unsqueeze(0) - mean.unsqueeze(1);
        var covariance = (centred * counts.unsqueeze(-1)).mT.matmul(centred) / (n - 1).view(-1, 1, 1);
        return (mean, covariance);
    }

    /// <summary>The distances [R], given a symmetric matrix per selection whose eigenvalues are those of S1 S2.</summary>
    static torch.Tensor Distance(torch.Tensor mean1, torch.Tensor cov1, torch.Tensor mean2, torch.Tensor cov2, torch.Tensor middle)
    {
        var traceRoot = torch.linalg.eigvalsh((middle + middle.mT) / 2).clamp_min(0).sqrt().sum([-1]);
        var distance = (mean1 - mean2).square().sum([-1]) + Trace(cov1) + Trace(cov2) - 2 * traceRoot;
        return distance.clamp_min(0);
    }

    static torch.Tensor Trace(torch.Tensor matrices) => matrices.diagonal(0, -2, -1).sum([-1]);

    static torch.Tensor SymmetricSqrt(torch.Tensor matrix)
    {
        var (values, vectors) = torch.linalg.eigh(matrix);
        return (vectors * values.clamp_min(0).sqrt().unsqueeze(-2)).matmul(vectors.mT);
    }
}
