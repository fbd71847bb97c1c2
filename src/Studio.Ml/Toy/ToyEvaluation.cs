using System.Diagnostics;
using System.Text.Json;
using Studio.Ml.Diffusion;
using Studio.Ml.Distillation;
using Studio.Ml.Tensors;
using Studio.Ml.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Toy;

/// <summary>What `studio eval` generates: which prompts, how many seeds, and the sampler settings.</summary>
public sealed record ToyEvaluationOptions
{
    /// <summary>heldout (the standard evaluation set: <see cref="ToyPrompts.HeldOut"/>) or train.</summary>
    public string Split { get; init; } = "heldout";
    /// <summary>Prompts per category (5 categories); the standard set of docs/TOY-WORLD.md is 50 per category.</summary>
    public int PromptsPerCategory { get; init; } = 10;
    /// <summary>Every prompt is generated once per seed.</summary>
    public int Seeds { get; init; } = 1;
    public int Steps { get; init; } = 20;
    public double Guidance { get; init; } = 3.5;
    /// <summary>True classifier-free guidance against the empty prompt when above 1 (diffusers' true_cfg_scale); 1: off.</summary>
    public double TrueCfgScale { get; init; } = 1.0;
    /// <summary>T5 tokens per prompt: the toy teacher was trained on 32.</summary>
    public int MaxSequenceLength { get; init; } = RunPresets.ToyTextLength;
    /// <summary>Prompts per pipeline call.</summary>
    public int BatchSize { get; init; } = 25;
    /// <summary>
    /// Score the images on the toy world's criteria (a toy-world pipeline, at the toy world's <see cref="ToyImage.Size"/>).
    /// False: teacher agreement, for any FLUX pipeline at any <see cref="Resolution"/>: the same prompts, drawn by the
    /// student and by the teacher from the same noise, and only the student's |Δ| to the teacher's images measured.
    /// </summary>
    public bool ScoreScenes { get; init; } = true;
    /// <summary>Image side in pixels (square): the toy world's 64 when scenes are scored.</summary>
    public int Resolution { get; init; } = ToyImage.Size;

    /// <summary>
    /// Prompts per call at <paramref name="resolution"/>: 25 up to 256 px, then fewer as the images grow (6 at 512 px, 1 at
    /// 1,024), so that a large pipeline's activations and VAE decode of one call stay about those of 25 images of 256 px.
    /// </summary>
    public static int BatchFor(int resolution) => Math.Clamp(25 * 256 * 256 / Math.Max(1, resolution * resolution), 1, 25);

    /// <summary>Why these options cannot be run, or null.</summary>
    public string? Problem()
    {
        if (Seeds < 1) return $"--seeds: {Seeds} must be at least 1";
        if (Steps < 1) return $"--steps: {Steps} must be at least 1";
        if (GuidanceScale.Problem(Guidance) is { } badGuidance) return $"--guidance: {badGuidance}";
        if (!double.IsFinite(TrueCfgScale) || TrueCfgScale < 1) return $"--true-cfg: {TrueCfgScale} is not a number of at least 1 (1: off)";
        if (MaxSequenceLength is < 1 or > 512) return $"--max-sequence-length: {MaxSequenceLength} is not between 1 and 512";
        if (PromptsPerCategory < 1) return $"--count: {PromptsPerCategory} must be at least 1";
        if (BatchSize < 1) return $"batch size: {BatchSize} must be at least 1";
        if (ScoreScenes && Resolution != ToyImage.Size)
            return $"--resolution: the toy world's scenes are scored at {ToyImage.Size} px (got {Resolution}); measure teacher agreement alone for another size";
        if (Resolution < 16 || Resolution % 16 != 0) return $"--resolution: {Resolution} is not a multiple of 16 of at least 16";
        return null;
    }

    public IReadOnlyList<ToyPrompt> Prompts()
    {
        var split = Split switch
        {
            "heldout" => ToySplit.HeldOut,
            "train" => ToySplit.Train,
            _ => throw new ArgumentException($"--prompts: '{Split}' is not heldout or train"),
        };
        if (PromptsPerCategory < 1) throw new ArgumentException($"prompts per category: {PromptsPerCategory} must be at least 1");
        var count = PromptsPerCategory * ToyCriteria.Categories.Length;
        return ToyPrompts.Generate(ToyCriteria.All, count, ToyPrompts.HeldOutSeed, split);
    }
}

/// <summary>
/// One evaluation: the three criteria of the paper on toy prompts (image quality as a Fréchet distance over
/// <see cref="ToyImageFeatures"/> to renders of the same scenes, semantic accuracy with its sub-kinds, text character
/// accuracy), plus the size and latency of what fills the T5 slot. Intervals: the 95% interval over prompts of each
/// headline score (each category's is in its <see cref="ToyCategoryScore"/>); null in reports written before they were.
/// TeacherDifference: with a student in the T5 slot, the mean |Δ| (0-255 per pixel and channel) of its images to the
/// teacher's own of the same prompts and noise, how closely the distilled encoder reproduces the teacher in pixels
/// whatever the teacher draws; null for the teacher itself; TeacherSimilarity the same images' mean SSIM
/// (<see cref="RgbImage.StructuralSimilarity"/>: 1 = the teacher's image, structure weighed over colour). AgreementResolution: the image side of a teacher-agreement
/// evaluation (<see cref="ToyEvaluationOptions.ScoreScenes"/> false), null for the toy world's. ClipScore: with a CLIP
/// model, the mean CLIP score of the images against their prompts (<see cref="Evaluation.ClipScorer"/>; the teacher's
/// own too, so a student's reads against it), null without one. Lora, LoraScale: the LoRA merged into the transformer (and CLIP)
/// for the teacher's and the student's images (`studio eval --lora`), null without one.
/// </summary>
public sealed record ToyEvaluationResult(
    string Pipeline,
    string Encoder,
    long EncoderParameters,
    double EncoderLatencyMs,
    string Split,
    int Prompts,
    int Seeds,
    int Steps,
    double Guidance,
    double? ImageQualityFrechet,
    double? FrechetAll,
    double? Semantics,
    double? Text,
    IReadOnlyList<ToyCategoryScore> Categories,
    double Seconds,
    IReadOnlyList<ToyEvaluationItem> Items,
    ToyIntervals? Intervals = null,
    double? TeacherDifference = null,
    int? AgreementResolution = null,
    double? TeacherSimilarity = null,
    IReadOnlyList<ToyEvaluationSample>? Samples = null,
    double? ClipScore = null,
    string? Lora = null,
    double? LoraScale = null)
{
    /// <summary>Writes the report as indented JSON, atomically.</summary>
    public void Save(string path)
    {
        var json = JsonSerializer.Serialize(this, new JsonSerializerOptions(ToyJson.Options) { WriteIndented = true });
        AtomicFile.WriteAllText(Path.GetFullPath(path), json);
    }

    /// <summary>The per-criterion table `studio eval` prints.</summary>
    public string Table()
    {
        var lines = new List<string>
        {
            $"pipeline {Pipeline}{(Lora is { } lora ? $" with LoRA {lora} x {LoraScale}" : "")}, T5 slot: {Encoder} ({EncoderParameters:N0} parameters, {EncoderLatencyMs:0.00} ms per prompt)",
            $"{Prompts} {Split} prompts x {Seeds} seed(s), {Steps} steps, guidance {Guidance}; {Seconds:0} s" +
                (AgreementResolution is { } side ? $"; teacher agreement at {side} px (no toy scores)" : ""),
            $"{"criterion",-26}{"images",8}{"score",10}{"95% interval",16}",
        };
        lines.AddRange(Categories.Select(c => $"{c.Category,-26}{c.Count,8}{(c.Score is { } score ? score.ToString("0.000") : "-"),10}{Interval(c.Interval)}" +
                                              (c.TeacherDifference is { } d ? $"{$"|Δ| {d:0.00}",14}{Interval(c.TeacherDifferenceInterval)}" : "") +
                                              (c.TeacherSimilarity is { } ssim ? $"{$"SSIM {ssim:0.000}",14}{Interval(c.TeacherSimilarityInterval)}" : "")));
        if (ImageQualityFrechet is { } fd) lines.Add($"{"image quality (FD, lower)",-26}{"",8}{fd,10:0.000}{Interval(Intervals?.ImageQualityFrechet)}");
        if (FrechetAll is { } all) lines.Add($"{"all images (FD, lower)",-26}{"",8}{all,10:0.000}{Interval(Intervals?.FrechetAll)}");
        if (Semantics is { } s) lines.Add($"{"semantics (mean)",-26}{"",8}{s,10:0.000}{Interval(Intervals?.Semantics)}");
        if (Text is { } t) lines.Add($"{"text (char. accuracy)",-26}{"",8}{t,10:0.000}{Interval(Intervals?.Text)}");
        if (TeacherDifference is { } d) lines.Add($"{"mean |Δ| to teacher (/255)",-26}{Items.Count,8}{d,10:0.000}{Interval(Intervals?.TeacherDifference)}");
        if (TeacherSimilarity is { } ssim) lines.Add($"{"SSIM to teacher (higher)",-26}{Items.Count,8}{ssim,10:0.000}{Interval(Intervals?.TeacherSimilarity)}");
        if (ClipScore is { } clip) lines.Add($"{"CLIP score (higher)",-26}{Items.Count,8}{clip,10:0.00}{Interval(Intervals?.ClipScore)}");
        lines.Add($"95% intervals: percentile bootstrap over prompts ({Bootstrap.Resamples:N0} resamples, a prompt's seeds together; FD recomputed on each, its interval moved by the resamples' bias)");
        return string.Join(Environment.NewLine, lines);
    }

    static string Interval(ScoreInterval? interval) => $"{interval?.ToString() ?? "-",16}";
}

/// <summary>
/// One generated image: its prompt, the scene the prompt describes, the seed it was generated with, its score, with
/// a student in the T5 slot its mean |Δ| and SSIM to the teacher's image of the same prompt and seed, and with a CLIP
/// model its CLIP score.
/// </summary>
public sealed record ToyEvaluationItem(string Prompt, ToyScene Scene, int Seed, string Category, double? Score, string Detail, double? TeacherDifference = null,
    double? TeacherSimilarity = null, double? ClipScore = null);

/// <summary>
/// One image an evaluation kept to be looked at (<see cref="ToyEvaluation.SamplesPerCategory"/> prompts of each category,
/// the first seed; listed category by category): the PNG file of what filled the T5 slot drew (<see cref="Image"/>, in the samples folder) and, with a
/// student in the slot, the teacher's of the same prompt and noise with the two measures between them.
/// </summary>
public sealed record ToyEvaluationSample(string Prompt, string Category, string Image, string? TeacherImage = null,
    double? TeacherDifference = null, double? TeacherSimilarity = null);

/// <summary>Where `studio eval --sheet` writes the first seed's images, and what made them (each caption's last line).</summary>
public sealed record ToyEvaluationSheet(string Path, string Label);

/// <summary>Generates the toy prompts with a pipeline (optionally with another encoder in its T5 slot) and scores the images.</summary>
public static class ToyEvaluation
{
    /// <summary>Prompts of each category whose first-seed images an evaluation keeps to be looked at (<c>samplesFolder</c>).</summary>
    public const int SamplesPerCategory = 2;

    /// <summary>
    /// What `--text-encoder-2` names: a training checkpoint folder (with manifest.json; its run YAML gives the student's
    /// shape), or any folder <see cref="T5SlotEncoder.Load"/> reads (an exported student, DistillT5, a T5EncoderModel).
    /// </summary>
    public static T5SlotEncoder LoadTextEncoder2(string path, ScalarType dtype = ScalarType.Float32)
    {
        var full = Path.GetFullPath(path);
        if (!Directory.Exists(full)) throw new DirectoryNotFoundException($"--text-encoder-2 {full}: no such folder");
        if (File.Exists(Path.Combine(full, TrainingCheckpoint.ManifestFile)))
        {
            var student = CheckpointExport.LoadStudent(full);
            student.to(dtype);
            return T5SlotEncoder.From(student, $"student checkpoint {Path.GetFileName(full)}");
        }
        return T5SlotEncoder.Load(full, dtype);
    }

    /// <param name="textEncoder2">
    /// Fills the pipeline's T5 slot instead of its own text_encoder_2 (null: the teacher's). Each batch is then also
    /// drawn with the teacher's own encoder from the same noise, for <see cref="ToyEvaluationResult.TeacherDifference"/>
    /// (twice the denoising of a teacher's evaluation, unless <paramref name="teacherImages"/> holds the teacher's).
    /// </param>
    /// <param name="sheet">A PNG sheet of the first seed's images, each captioned with its prompt and the sheet's label (null: none).</param>
    /// <param name="teacherImages">
    /// Where the teacher's images of these settings are kept (null: nowhere): a student's evaluation compares with the
    /// stored ones instead of drawing them, and an evaluation that drew them (the teacher's own, or a student's) stores them.
    /// </param>
    /// <param name="samplesFolder">
    /// Where the first seed's images of <see cref="SamplesPerCategory"/> prompts of each category are written as PNGs
    /// (<see cref="ToyEvaluationResult.Samples"/>), the teacher's beside a student's (null: none are kept).
    /// </param>
    /// <param name="clip">Scores every image against its prompt (<see cref="ToyEvaluationResult.ClipScore"/>; null: no CLIP score).</param>
    public static ToyEvaluationResult Run(ISlotPipeline pipeline, T5SlotEncoder? textEncoder2, ToyEvaluationOptions options,
        Action<string>? progress = null, ToyEvaluationSheet? sheet = null, CancellationToken cancel = default,
        TeacherImageStore? teacherImages = null, string? samplesFolder = null, Evaluation.ClipScorer? clip = null)
    {
        if (options.Problem() is { } problem) throw new ArgumentException(problem);
        var clock = Stopwatch.StartNew();
        var prompts = options.Prompts();
        if (pipeline.T5 is null || pipeline.T5Tokenizer is null)
            throw new ArgumentException($"{pipeline.Source} has no T5 encoder (text_encoder_3): there is no T5 slot to evaluate");
        var encoder = textEncoder2 ?? pipeline.T5;
        var latency = EncoderLatencyMs(pipeline, encoder, prompts, options.MaxSequenceLength);

        var allPrompts = new List<ToyPrompt>();
        var seeds = new List<int>();
        var drawnCount = 0;
        var scored = new List<ToyImage>();
        var differences = new List<double>();
        var similarities = new List<double>();
        var clipScores = new List<double>();
        var storeKey = teacherImages is null ? null : TeacherImageStore.Key(pipeline, options);
        var stored = textEncoder2 is null || storeKey is null ? null : teacherImages!.Find(storeKey, prompts.Count * options.Seeds, options.Resolution);
        // The teacher's images drawn here, kept only for the store (a student's are compared batch by batch, then dropped).
        var teacherDrawn = new List<RgbImage>();
        var keep = storeKey is not null;
        // The prompts whose first-seed images are kept to be looked at: the first few of each category.
        var sampled = samplesFolder is null ? [] : Enumerable.Range(0, prompts.Count).GroupBy(i => prompts[i].Category)
            .SelectMany(g => g.Take(SamplesPerCategory)).ToHashSet();
        var samples = new List<(int Prompt, string Image, string? Teacher)>();
        for (int seed = 0; seed < options.Seeds; seed++)
            for (int start = 0; start < prompts.Count; start += options.BatchSize)
            {
                cancel.ThrowIfCancellationRequested();
                var batch = prompts.Skip(start).Take(options.BatchSize).ToList();
                var request = new SlotRequest(batch.Select(p => p.Text).ToList(), DeterministicRandom.Seed(seed, "toy-eval", start),
                    options.Steps, options.Guidance, options.Resolution, options.Resolution, options.MaxSequenceLength, options.TrueCfgScale);
                var (drawn, toy) = Draw(pipeline.Draw(request, textEncoder2), options.ScoreScenes);
                if (clip is not null) clipScores.AddRange(clip.Score(request.Prompts, drawn));
                IReadOnlyList<RgbImage>? teacher = null;
                if (textEncoder2 is null) { if (keep) teacherDrawn.AddRange(drawn); }
                else
                {
                    teacher = stored?.Skip(drawnCount).Take(drawn.Count).ToList() ?? Draw(pipeline.Draw(request), options.ScoreScenes).Rgb;
                    if (stored is null && keep) teacherDrawn.AddRange(teacher);
                    differences.AddRange(drawn.Zip(teacher, (student, own) => student.MeanDifference(own)));
                    similarities.AddRange(drawn.Zip(teacher, (student, own) => student.StructuralSimilarity(own)));
                }
                for (int j = 0; seed == 0 && j < drawn.Count; j++)
                    if (sampled.Contains(start + j))
                    {
                        var name = $"sample-{start + j:000}";
                        drawn[j].SavePng(Path.Combine(samplesFolder!, name + ".png"));
                        teacher?[j].SavePng(Path.Combine(samplesFolder!, name + "-teacher.png"));
                        samples.Add((start + j, name + ".png", teacher is null ? null : name + "-teacher.png"));
                    }
                drawnCount += drawn.Count;
                scored.AddRange(toy ?? []);
                allPrompts.AddRange(batch);
                seeds.AddRange(batch.Select(_ => seed));
                progress?.Invoke($"generated {drawnCount}/{prompts.Count * options.Seeds} images{(stored is null ? "" : " (the teacher's from its store)")}");
            }
        if (storeKey is not null && stored is null)
        {
            // The evaluation stands without its store: the next one draws the teacher's images again.
            try { teacherImages!.Keep(storeKey, teacherDrawn); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                progress?.Invoke($"the teacher's images could not be kept in {teacherImages!.Folder}: {e.Message}");
            }
        }
        if (sheet is not null)
            ToyImage.SaveSheet(scored.Take(prompts.Count).ToList(), sheet.Path, columns: 10,
                captions: prompts.Select(p => $"{p.Text}\n{sheet.Label}").ToList());

        // Images are generated seed by seed over the same prompts: image i is of prompt i % prompts.Count.
        var promptOf = Enumerable.Range(0, drawnCount).Select(i => i % prompts.Count).ToArray();
        var report = options.ScoreScenes ? ToyEvaluator.Evaluate(allPrompts, scored, promptOf) : Unscored(allPrompts);
        double? teacherDifference = differences.Count > 0 ? differences.Average() : null;
        double? teacherSimilarity = similarities.Count > 0 ? similarities.Average() : null;
        double? clipScore = clipScores.Count > 0 ? clipScores.Average() : null;
        // A category's mean of a per-image measure and its interval over the category's prompts (nulls without the measure).
        (double?, ScoreInterval?) Of(List<double> values, IReadOnlyList<int> mine) => values.Count == 0 || mine.Count == 0 ? (null, null)
            : (mine.Average(i => values[i]), Bootstrap.MeanInterval(mine.Select(i => values[i]).ToList(), mine.Select(i => promptOf[i]).ToList()));
        var categories = report.Categories.Select(c =>
        {
            var mine = Enumerable.Range(0, drawnCount).Where(i => report.Items[i].Category == c.Category).ToList();
            var (difference, differenceInterval) = Of(differences, mine);
            var (similarity, similarityInterval) = Of(similarities, mine);
            var (clipMean, clipInterval) = Of(clipScores, mine);
            return c with
            {
                TeacherDifference = difference, TeacherDifferenceInterval = differenceInterval,
                TeacherSimilarity = similarity, TeacherSimilarityInterval = similarityInterval,
                ClipScore = clipMean, ClipScoreInterval = clipInterval,
            };
        }).ToList();
        var intervals = report.Intervals with
        {
            TeacherDifference = differences.Count > 0 ? Bootstrap.MeanInterval(differences, promptOf) : null,
            TeacherSimilarity = similarities.Count > 0 ? Bootstrap.MeanInterval(similarities, promptOf) : null,
            ClipScore = clipScores.Count > 0 ? Bootstrap.MeanInterval(clipScores, promptOf) : null,
        };
        return new ToyEvaluationResult(
            pipeline.Source, encoder.Description, encoder.Module.parameters().Sum(p => p.numel()), latency,
            options.Split, prompts.Count, options.Seeds, options.Steps, options.Guidance,
            report.ImageQualityFrechet, report.FrechetAll, report.Semantics, report.Text, categories,
            clock.Elapsed.TotalSeconds,
            report.Items.Select((item, i) => new ToyEvaluationItem(allPrompts[i].Text, allPrompts[i].Scene, seeds[i], item.Category,
                options.ScoreScenes ? item.Score : null, item.Detail,
                differences.Count > 0 ? differences[i] : null, similarities.Count > 0 ? similarities[i] : null,
                clipScores.Count > 0 ? clipScores[i] : null)).ToList(),
            intervals, teacherDifference, options.ScoreScenes ? null : options.Resolution, teacherSimilarity,
            samplesFolder is null ? null : samples.OrderBy(k => Array.IndexOf(ToyCriteria.Categories, prompts[k.Prompt].Category)).ThenBy(k => k.Prompt)
                .Select(k => new ToyEvaluationSample(prompts[k.Prompt].Text, prompts[k.Prompt].Category, k.Image, k.Teacher,
                differences.Count > 0 ? differences[k.Prompt] : null, similarities.Count > 0 ? similarities[k.Prompt] : null)).ToList(),
            clipScore);
    }

    /// <summary>The 8-bit colours of the images, and with <paramref name="toyWorld"/> the images the toy evaluator scores.</summary>
    static (IReadOnlyList<RgbImage> Rgb, IReadOnlyList<ToyImage>? Toy) Draw(GeneratedImages generated, bool toyWorld)
    {
        using var _ = generated;
        if (!toyWorld) return (RgbImage.FromBatch(generated.Images), null);
        using var signed = generated.Images * 2 - 1;
        var toy = ToyImage.Unstack(signed);
        return (toy.Select(i => i.ToRgbImage()).ToList(), toy);
    }

    /// <summary>Teacher agreement scores nothing: each image's category, and each category's count.</summary>
    static ToyReport Unscored(IReadOnlyList<ToyPrompt> prompts) => new(null, null, null, null,
        ToyCriteria.Categories.Select(c => new ToyCategoryScore(c, prompts.Count(p => p.Category == c), null)).Where(c => c.Count > 0).ToList(),
        prompts.Select(p => new ToyItemScore(p.Category, double.NaN, "not scored: teacher agreement")).ToList(), new ToyIntervals());

    /// <summary>Median time of the T5-slot encoder on one prompt (after warm-up), tokenised to the evaluation's length.</summary>
    static double EncoderLatencyMs(ISlotPipeline pipeline, T5SlotEncoder encoder, IReadOnlyList<ToyPrompt> prompts, int maxLength)
    {
        using var _ = no_grad();
        var times = new List<double>();
        for (int i = 0; i < Math.Min(23, prompts.Count + 3); i++)
        {
            var (ids, mask) = pipeline.T5Tokenizer!.EncodeBatch([prompts[i % prompts.Count].Text], maxLength);
            using (ids) using (mask)
            {
                var clock = Stopwatch.StartNew();
                using var states = encoder.Encode(ids);
                if (i >= 3) times.Add(clock.Elapsed.TotalMilliseconds);
            }
        }
        times.Sort();
        return times.Count == 0 ? 0 : times[times.Count / 2];
    }
}
