using System.Diagnostics;
using System.Text.Json;
using Studio.Ml.Diffusion;
using Studio.Ml.Distillation;
using Studio.Ml.Models.Vae;
using Studio.Ml.Tensors;
using Studio.Ml.Training;
using static TorchSharp.torch;

namespace Studio.Ml.Toy;

/// <summary>What `studio toy ceiling` measures: which held-out prompts, and the flow loss's sigmas.</summary>
public sealed record ToyCeilingOptions
{
    /// <summary>Held-out prompts per category; seed 0 gives the standard evaluation set (<see cref="ToyPrompts.HeldOut"/>).</summary>
    public int PromptsPerCategory { get; init; } = 20;
    public int Seed { get; init; } = ToyPrompts.HeldOutSeed;
    /// <summary>Prompts per forward pass.</summary>
    public int BatchSize { get; init; } = 25;
    /// <summary>Guidance fed to the transformer's guidance embedder (as `studio eval`).</summary>
    public double Guidance { get; init; } = 3.5;
    /// <summary>T5 tokens per prompt: the toy teacher was trained on 32.</summary>
    public int MaxSequenceLength { get; init; } = RunPresets.ToyTextLength;
    /// <summary>The flow loss is measured at each of these sigmas (the centres of five equal buckets of [0, 1]).</summary>
    public double[] Sigmas { get; init; } = [0.1, 0.3, 0.5, 0.7, 0.9];

    /// <summary>The bar of issue #12: every category's round-trip score at least this, and FD(all) at most <see cref="FrechetBar"/>.</summary>
    public const double ScoreBar = 0.95, FrechetBar = 0.05;
}

/// <summary>
/// One held-out prompt: its render's score, the score of the render after a VAE round trip (encode to the posterior
/// mean, decode, as a generated image is scored), the round trip's mean absolute error in [-1, 1] pixel units, and the
/// flow loss at each sigma with the prompt and with the empty prompt (both empty when an autoencoder is measured alone).
/// </summary>
public sealed record ToyCeilingItem(string Category, string Prompt, double RenderScore, double RoundTripScore, string RoundTripDetail,
    double RoundTripL1, IReadOnlyList<double> FlowMse, IReadOnlyList<double> FlowMseEmptyPrompt);

/// <summary>
/// Which words of a prompt the transformer follows: its mean held-out flow loss (over the sigmas) on the image-quality
/// prompts, one object each, with the prompt as written, with the object's shape word or its colour word swapped for
/// another (the scene the loss is measured on unchanged), and with the empty prompt. A word the transformer follows
/// raises the loss when it is swapped; a word it ignores leaves the loss where it was. <see cref="ShapeLatentChange"/> and
/// <see cref="ColourLatentChange"/> say what following a word is worth: the mean squared difference between the scaled
/// latents (posterior means) of the scene and of the scene the swapped text describes, which is what a swapped word adds
/// to the flow loss at sigma 1 (pure noise, where the prompt alone decides) for a transformer that draws what it is told.
/// </summary>
public sealed record ToyWordSwaps(int Prompts, double AsWritten, double ShapeSwapped, double ColourSwapped, double Empty,
    double ShapeLatentChange, double ColourLatentChange)
{
    /// <summary>"shape word swapped 0.159 (+0%)": a value and its change from the prompt as written.</summary>
    public string Describe(string what, double value) =>
        $"{what} {value:0.000} ({(value / AsWritten - 1).ToString("+0%;-0%;+0%", System.Globalization.CultureInfo.InvariantCulture)})";
}

/// <summary>
/// Which text encoder carries the prompt to the transformer: the mean held-out flow loss over all the ceiling's prompts
/// (every sigma) conditioned as written, with T5 given the prompt and CLIP (the pooled vector, FLUX's global
/// conditioning) the empty prompt, the other way round, and with both given the empty prompt. <see cref="T5Share"/> is
/// how much of what the prompt removes from the loss T5 removes alone: a distilled T5 student can only matter as much as
/// its teacher's T5 path does.
/// </summary>
public sealed record ToyEncoderPaths(int Prompts, double AsWritten, double T5Only, double ClipOnly, double Empty)
{
    /// <summary>(empty - T5 only) / (empty - as written): 1 when T5 alone tells the transformer all the prompt does, 0 when nothing.</summary>
    public double T5Share => (Empty - T5Only) / (Empty - AsWritten);
    /// <summary>The same for CLIP's pooled vector alone.</summary>
    public double ClipShare => (Empty - ClipOnly) / (Empty - AsWritten);
}

/// <summary>Means over one category's prompts (or over all of them: Category "all"); the flow columns are null without a transformer.</summary>
public sealed record ToyCeilingRow(string Category, int Count, double RenderScore, double RoundTripScore, double RoundTripL1,
    double? FlowMse, IReadOnlyList<double>? FlowMseBySigma, double? FlowMseEmptyPrompt);

/// <summary>
/// The ceilings of a toy pipeline, before any training: what the evaluator gives the renders themselves (its own
/// ceiling), what it gives renders after a round trip through the pipeline's VAE (no transformer can draw better than
/// its decoder gives back), and the transformer's held-out flow loss per category and sigma (TransformerWidth and the
/// flow columns null when an autoencoder is measured alone, <see cref="ToyCeiling.MeasureVae"/>).
/// </summary>
public sealed record ToyCeilingResult(
    string Pipeline,
    int Seed,
    int PromptsPerCategory,
    int LatentChannels,
    int LatentHeight,
    int LatentWidth,
    int ImageTokens,
    int? TransformerWidth,
    IReadOnlyList<double> Sigmas,
    double? RenderFrechetAll,
    double? RoundTripFrechetAll,
    double? RoundTripFrechetImageQuality,
    IReadOnlyList<ToyCeilingRow> Categories,
    ToyCeilingRow All,
    bool VaeMeetsBar,
    double Seconds,
    IReadOnlyList<ToyCeilingItem> Items,
    ToyWordSwaps? WordSwaps = null,
    ToyEncoderPaths? EncoderPaths = null)
{
    public void Save(string path)
    {
        var json = JsonSerializer.Serialize(this, new JsonSerializerOptions(ToyJson.Options) { WriteIndented = true });
        AtomicFile.WriteAllText(Path.GetFullPath(path), json);
    }

    /// <summary>The table `studio toy ceiling` prints.</summary>
    public string Table()
    {
        var sigmaHeads = string.Concat(Sigmas.Select(s => $"{"s=" + s.ToString("0.0#", System.Globalization.CultureInfo.InvariantCulture),8}"));
        var lines = new List<string>
        {
            $"pipeline {Pipeline}: latent {LatentChannels}x{LatentHeight}x{LatentWidth} -> {ImageTokens} image tokens, "
                + (TransformerWidth is { } width ? $"transformer width {width}" : "autoencoder alone (no flow loss)"),
            $"{PromptsPerCategory} held-out prompts per category (seed {Seed}); {Seconds:0} s",
            $"{"category",-20}{"n",4}{"renders",9}{"VAE rt",8}{"rt L1",8}{"flow",8}{sigmaHeads}{"empty",8}",
        };
        foreach (var r in Categories.Append(All))
            lines.Add($"{r.Category,-20}{r.Count,4}{r.RenderScore,9:0.000}{r.RoundTripScore,8:0.000}{r.RoundTripL1,8:0.000}{Cell(r.FlowMse)}"
                + string.Concat(r.FlowMseBySigma?.Select(m => Cell(m)) ?? Sigmas.Select(_ => Cell(null))) + Cell(r.FlowMseEmptyPrompt));
        if (WordSwaps is { } w)
        {
            lines.Add($"words followed ({w.Prompts} image-quality prompts, mean flow loss): as written {w.AsWritten:0.000}, "
                + $"{w.Describe("shape word swapped", w.ShapeSwapped)}, {w.Describe("colour word swapped", w.ColourSwapped)}, {w.Describe("empty prompt", w.Empty)}");
            lines.Add($"what following a word is worth (the same swaps in the scene, mean squared difference of the scaled latents: what a swap adds to "
                + $"the flow loss at sigma 1 for a transformer that draws what it is told): shape {w.ShapeLatentChange:0.000}, colour {w.ColourLatentChange:0.000}");
        }
        if (EncoderPaths is { } p)
            lines.Add($"prompt through each encoder ({p.Prompts} prompts, mean flow loss): as written {p.AsWritten:0.000}, T5 alone {p.T5Only:0.000}, "
                + $"CLIP alone {p.ClipOnly:0.000}, neither (empty) {p.Empty:0.000}: T5 alone gives {Percent(p.T5Share)}, CLIP alone {Percent(p.ClipShare)} of what the prompt gives");
        lines.Add($"FD to renders (lower is better): renders {Format(RenderFrechetAll)}, VAE round trips {Format(RoundTripFrechetAll)} (all), {Format(RoundTripFrechetImageQuality)} (image-quality)");
        var worst = Categories.MinBy(c => c.RoundTripScore);
        lines.Add(VaeMeetsBar
            ? $"VAE: meets the bar (every round-trip score >= {ToyCeilingOptions.ScoreBar}, FD(all) <= {ToyCeilingOptions.FrechetBar})"
            : $"VAE: below the bar (every round-trip score >= {ToyCeilingOptions.ScoreBar}, FD(all) <= {ToyCeilingOptions.FrechetBar}); lowest {worst?.Category} {worst?.RoundTripScore:0.000}: the autoencoder caps what any transformer can draw");
        return string.Join(Environment.NewLine, lines);
    }

    static string Percent(double share) => share.ToString("0%", System.Globalization.CultureInfo.InvariantCulture);

    static string Cell(double? value) => value is { } v ? $"{v,8:0.000}" : $"{"-",8}";

    static string Format(double? value) => value is { } v ? v.ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture) : "-";
}

/// <summary>Measures <see cref="ToyCeilingResult"/>: the same evaluator `studio eval` uses, on renders and on VAE round trips.</summary>
public static class ToyCeiling
{
    public static ToyCeilingResult Measure(FluxPipeline pipeline, ToyCeilingOptions options, Action<string>? progress = null, string? sheet = null,
        CancellationToken cancel = default) => Measure(pipeline.Vae, pipeline, pipeline.Source, options, progress, sheet, cancel);

    /// <summary>
    /// The autoencoder alone (`studio toy ceiling --vae`, e.g. after `studio toy pretrain --vae-only`): the render and
    /// round-trip columns as <see cref="Measure(FluxPipeline, ToyCeilingOptions, Action{string}?, string?, CancellationToken)"/>
    /// gives them, no flow loss.
    /// </summary>
    public static ToyCeilingResult MeasureVae(AutoencoderKL vae, string source, ToyCeilingOptions options, Action<string>? progress = null,
        string? sheet = null, CancellationToken cancel = default) => Measure(vae, null, source, options, progress, sheet, cancel);

    static ToyCeilingResult Measure(AutoencoderKL vae, FluxPipeline? pipeline, string source, ToyCeilingOptions options, Action<string>? progress,
        string? sheet, CancellationToken cancel)
    {
        if (options.PromptsPerCategory < 1) throw new ArgumentException($"--count: {options.PromptsPerCategory} must be at least 1");
        if (options.BatchSize < 1) throw new ArgumentException($"batch size: {options.BatchSize} must be at least 1");
        if (options.Sigmas.Length == 0 || options.Sigmas.Any(s => s is <= 0 or >= 1)) throw new ArgumentException("sigmas must lie in (0, 1)");
        var clock = Stopwatch.StartNew();
        var prompts = ToyPrompts.Generate(ToyCriteria.All, options.PromptsPerCategory * ToyCriteria.Categories.Length, options.Seed, ToySplit.HeldOut);
        var renders = prompts.Select(p => ToyRenderer.Render(p.Scene)).ToList();

        var roundTrips = new List<ToyImage>();
        var l1 = new List<double>();
        var flow = new List<double[]>();
        var flowEmpty = new List<double[]>();
        var (t5Only, clipOnly) = (new List<double>(), new List<double>());
        var factor = vae.Config.DownscaleFactor;
        var (latentHeight, latentWidth) = (ToyImage.Size / factor, ToyImage.Size / factor);
        for (int start = 0; start < prompts.Count; start += options.BatchSize)
        {
            cancel.ThrowIfCancellationRequested();
            var batch = prompts.Skip(start).Take(options.BatchSize).ToList();
            var (images, errors) = RoundTrip(vae, renders.Skip(start).Take(batch.Count).ToList());
            roundTrips.AddRange(images);
            l1.AddRange(errors);
            if (pipeline is not null)
            {
                var seed = DeterministicRandom.Seed(options.Seed, "toy-ceiling", start);
                var batchRenders = renders.Skip(start).Take(batch.Count).ToList();
                using var written = pipeline.EncodePrompts(batch.Select(p => p.Text).ToList(), options.MaxSequenceLength);
                using var empty = pipeline.EncodePrompts(batch.Select(_ => "").ToList(), options.MaxSequenceLength);
                flow.AddRange(FlowErrors(pipeline, written, batchRenders, options, seed));
                flowEmpty.AddRange(FlowErrors(pipeline, empty, batchRenders, options, seed));
                // The encoders apart: one given the prompt, the other the empty prompt (the same noise).
                t5Only.AddRange(FlowErrors(pipeline, new FluxConditioning(written.PromptEmbeds, empty.PooledPromptEmbeds), batchRenders, options, seed).Select(e => e.Average()));
                clipOnly.AddRange(FlowErrors(pipeline, new FluxConditioning(empty.PromptEmbeds, written.PooledPromptEmbeds), batchRenders, options, seed).Select(e => e.Average()));
            }
            else
            {
                flow.AddRange(batch.Select(_ => Array.Empty<double>()));
                flowEmpty.AddRange(batch.Select(_ => Array.Empty<double>()));
            }
            progress?.Invoke($"measured {Math.Min(start + options.BatchSize, prompts.Count)}/{prompts.Count} prompts");
        }
        if (sheet is not null)
            ToyImage.SaveSheet(renders.Zip(roundTrips).SelectMany(p => new[] { p.First, p.Second }).ToList(), sheet, columns: 10,
                captions: prompts.SelectMany(p => new[] { $"{p.Text}\nrender", "VAE round trip of the render on its left" }).ToList());

        // The same scoring `studio eval` and `studio toy score` do, once on the renders and once on the round trips.
        var rendered = ToyEvaluator.Evaluate(prompts, renders);
        var returned = ToyEvaluator.Evaluate(prompts, roundTrips);
        var items = prompts.Select((p, i) => new ToyCeilingItem(p.Category, p.Text, rendered.Items[i].Score, returned.Items[i].Score,
            returned.Items[i].Detail, l1[i], flow[i], flowEmpty[i])).ToList();
        var sigmas = pipeline is null ? 0 : options.Sigmas.Length;
        var rows = ToyCriteria.Categories.Select(c => Row(c, items.Where(i => i.Category == c).ToList(), sigmas)).ToList();
        var all = Row("all", items, sigmas);
        bool meets = rows.All(r => r.RoundTripScore >= ToyCeilingOptions.ScoreBar) && returned.FrechetAll is <= ToyCeilingOptions.FrechetBar;
        return new ToyCeilingResult(source, options.Seed, options.PromptsPerCategory, vae.Config.LatentChannels, latentHeight, latentWidth,
            latentHeight / 2 * (latentWidth / 2), pipeline?.Transformer.Config.InnerDim, options.Sigmas, rendered.FrechetAll, returned.FrechetAll,
            returned.ImageQualityFrechet, rows, all, meets, clock.Elapsed.TotalSeconds, items,
            pipeline is null ? null : WordSwaps(pipeline, prompts.Zip(renders).Where(p => p.First.Category == ToyCriteria.ImageQuality).ToList(), options),
            pipeline is null ? null : new ToyEncoderPaths(prompts.Count, flow.Average(e => e.Average()), t5Only.Average(), clipOnly.Average(), flowEmpty.Average(e => e.Average())));
    }

    /// <summary><see cref="ToyWordSwaps"/> on the image-quality prompts whose text names their object's colour and shape together.</summary>
    static ToyWordSwaps? WordSwaps(FluxPipeline pipeline, IReadOnlyList<(ToyPrompt Prompt, ToyImage Render)> imageQuality, ToyCeilingOptions options)
    {
        var swappable = imageQuality.Where(p => Swap(p.Prompt, shape: true) is not null).ToList();
        if (swappable.Count == 0) return null;
        var renders = swappable.Select(p => p.Render).ToList();
        var seed = DeterministicRandom.Seed(options.Seed, "toy-ceiling-words");
        double Loss(Func<ToyPrompt, string> text) =>
            FlowErrors(pipeline, swappable.Select(p => text(p.Prompt)).ToList(), renders, options, seed).Average(e => e.Average());
        double LatentChange(bool shape) =>
            LatentDifferences(pipeline.Vae, renders, swappable.Select(p => ToyRenderer.Render(Swap(p.Prompt, shape)!.Scene)).ToList()).Average();
        return new ToyWordSwaps(swappable.Count, Loss(p => p.Text), Loss(p => Swap(p, shape: true)!.Text), Loss(p => Swap(p, shape: false)!.Text), Loss(_ => ""),
            LatentChange(shape: true), LatentChange(shape: false));
    }

    /// <summary>Each pair's mean squared difference between the scaled latents (posterior means, float32) of its two images.</summary>
    static double[] LatentDifferences(AutoencoderKL vae, IReadOnlyList<ToyImage> first, IReadOnlyList<ToyImage> second)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        Tensor Latents(IReadOnlyList<ToyImage> images)
        {
            using var posterior = vae.Encode(ToyImage.Stack(images));
            return vae.ScaleLatents(posterior.Mean).to_type(ScalarType.Float32).cpu();
        }
        return (Latents(first) - Latents(second)).square().mean([1, 2, 3]).data<float>().Select(v => (double)v).ToArray();
    }

    /// <summary>
    /// A one-object prompt with its object's shape word (or colour word) replaced by another shape (colour), and its scene
    /// changed alike: "a large red cross on navy" -> "a large red square on navy" / "a large cyan cross on navy"; null
    /// when the text does not name the object as "COLOUR SHAPE".
    /// </summary>
    public static ToyPrompt? Swap(ToyPrompt prompt, bool shape)
    {
        if (prompt.Scene.Objects.Count != 1) return null;
        var o = prompt.Scene.Objects[0];
        var (colourWord, shapeWord) = (ToyPalette.Word(o.Colour), ToyPrompts.ShapeWord(o.Shape));
        var named = System.Text.RegularExpressions.Regex.Match(prompt.Text, $@"\b{colourWord} {shapeWord}\b");
        if (!named.Success) return null;
        var shapes = Enum.GetValues<ToyShape>();
        var swapped = shape
            ? o with { Shape = shapes[((int)o.Shape + 2) % shapes.Length] }
            : o with { Colour = ToyPalette.ObjectColours[((int)o.Colour + 4) % ToyPalette.ObjectColours.Length] };
        var replacement = $"{ToyPalette.Word(swapped.Colour)} {ToyPrompts.ShapeWord(swapped.Shape)}";
        return prompt with
        {
            Text = string.Concat(prompt.Text.AsSpan(0, named.Index), replacement, prompt.Text.AsSpan(named.Index + named.Length)),
            Scene = prompt.Scene with { Objects = [swapped] },
        };
    }

    /// <summary>The means of <paramref name="items"/>; the flow columns null when there are no <paramref name="sigmas"/> (no transformer).</summary>
    static ToyCeilingRow Row(string category, IReadOnlyList<ToyCeilingItem> items, int sigmas) => new(
        category, items.Count, items.Average(i => i.RenderScore), items.Average(i => i.RoundTripScore), items.Average(i => i.RoundTripL1),
        sigmas == 0 ? null : items.Average(i => i.FlowMse.Average()),
        sigmas == 0 ? null : Enumerable.Range(0, sigmas).Select(k => items.Average(i => i.FlowMse[k])).ToArray(),
        sigmas == 0 ? null : items.Average(i => i.FlowMseEmptyPrompt.Average()));

    /// <summary>
    /// Renders through the autoencoder: encode, decode the posterior mean, then the conversion a generated image
    /// gets before scoring (<see cref="ImagePng.Denormalize"/>, back to [-1, 1]); and each image's mean absolute error.
    /// </summary>
    public static (IReadOnlyList<ToyImage> Images, double[] L1) RoundTrip(AutoencoderKL vae, IReadOnlyList<ToyImage> renders)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var images = ToyImage.Stack(renders);
        using var posterior = vae.Encode(images);
        var decoded = vae.Decode(posterior.Mean);
        var signed = ImagePng.Denormalize(decoded).cpu() * 2 - 1;
        var l1 = (signed - images).abs().mean([1, 2, 3]).data<float>().Select(v => (double)v).ToArray();
        return (ToyImage.Unstack(signed), l1);
    }

    /// <summary>
    /// The flow loss of each prompt's render (packed scaled posterior mean, as stage B trains on) at every sigma of the
    /// options, conditioned as the pipeline conditions a generation (<see cref="FluxPipeline.EncodePrompts"/>); the noise
    /// is drawn from <paramref name="seed"/> on the CPU, the same for every prompt text given the same seed. A sigma of 1
    /// is pure noise, where a generation's first step starts.
    /// </summary>
    public static double[][] FlowErrors(FluxPipeline pipeline, IReadOnlyList<string> texts, IReadOnlyList<ToyImage> renders,
        ToyCeilingOptions options, long seed)
    {
        using var conditioning = pipeline.EncodePrompts(texts, options.MaxSequenceLength);
        return FlowErrors(pipeline, conditioning, renders, options, seed);
    }

    /// <summary>The same with the conditioning given (T5's states and CLIP's pooled vector, one row per render); not disposed here.</summary>
    public static double[][] FlowErrors(FluxPipeline pipeline, FluxConditioning conditioning, IReadOnlyList<ToyImage> renders,
        ToyCeilingOptions options, long seed)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var device = pipeline.Device;
        var dtype = pipeline.Transformer.parameters().First().dtype;
        using var posterior = pipeline.Vae.Encode(ToyImage.Stack(renders));
        var x0 = LatentPacking.Pack(pipeline.Vae.ScaleLatents(posterior.Mean)).to(dtype, device);
        var (height, width) = (posterior.Mean.shape[2], posterior.Mean.shape[3]);
        var imgIds = LatentPacking.ImageIds(height / 2, width / 2, dtype, device);
        var txtIds = LatentPacking.TextIds(conditioning.PromptEmbeds.shape[1], dtype, device);
        var n = renders.Count;
        var guidance = pipeline.Transformer.Config.GuidanceEmbeds ? full(n, options.Guidance, dtype: ScalarType.Float32, device: device) : null;
        using var generator = new Generator((ulong)seed, CPU);
        var errors = new double[n][];
        for (int i = 0; i < n; i++) errors[i] = new double[options.Sigmas.Length];
        for (int k = 0; k < options.Sigmas.Length; k++)
        {
            var noise = randn(x0.shape, generator: generator, device: CPU).to(dtype, device);
            var sigma = full(n, options.Sigmas[k], dtype: dtype, device: device);
            var mse = ToyPretraining.FlowErrors(pipeline.Transformer, x0, noise, sigma, conditioning.PromptEmbeds.to_type(dtype),
                conditioning.PooledPromptEmbeds.to_type(dtype), guidance, imgIds, txtIds).to_type(ScalarType.Float32).cpu().data<float>().ToArray();
            for (int i = 0; i < n; i++) errors[i][k] = mse[i];
        }
        return errors;
    }
}
