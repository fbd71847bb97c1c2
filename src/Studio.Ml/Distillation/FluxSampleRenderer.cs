using Studio.Ml.Diffusion;
using Studio.Ml.Models.Flux;
using Studio.Ml.Models.T5;
using Studio.Ml.Tensors;
using static TorchSharp.torch;

namespace Studio.Ml.Distillation;

/// <summary>
/// A run's periodic samples through <see cref="FluxPipeline"/>: the teacher pipeline's VAE, CLIP and tokenizers around
/// the run's own frozen transformer (no second copy), the in-training student in the T5 slot, or, for the teacher's
/// reference row, the teacher's `text_encoder_2` loaded for that render only (the teacher encoder is never kept in
/// memory during training). Each seed renders every prompt in one batch, so a prompt and seed get the same noise in
/// the teacher's row and at every step of the student's.
/// </summary>
public sealed class FluxSampleRenderer(string teacherFolder, FluxTransformer transformer, StudentEncoder student) : ISampleRenderer, IDisposable
{
    FluxPipeline? _pipeline;

    /// <summary>Renders with <paramref name="renderWith"/> in the T5 slot, or with the teacher's encoder when it is null.</summary>
    public IReadOnlyList<string> Render(StudentEncoder? renderWith, IReadOnlyList<string> prompts, IReadOnlyList<int> seeds,
        int steps, double guidance, int resolution, string outputDirectory)
    {
        using var _ = no_grad();
        _pipeline ??= FluxPipeline.Around(teacherFolder, transformer, T5SlotEncoder.From(student));
        var teacher = renderWith is null
            ? T5SlotEncoder.Load(Path.Combine(teacherFolder, "text_encoder_2"), transformer.parameters().First().dtype, ComputeDevice.Of(transformer))
            : null;
        try
        {
            // The pipeline's own slot holds the run's student; another student (or the teacher) is lent for this call.
            var slot = teacher ?? (ReferenceEquals(renderWith, student) ? null : T5SlotEncoder.From(renderWith!));
            var images = new string[prompts.Count * seeds.Count];
            foreach (var (seed, s) in seeds.Select((seed, s) => (seed, s)))
            {
                var request = new FluxRequest(prompts, seed, steps, guidance, resolution, resolution, _pipeline.MaxSequenceLength);
                using var generated = _pipeline.Generate(request, textEncoder2: slot);
                for (int p = 0; p < prompts.Count; p++)
                {
                    var path = Path.Combine(outputDirectory, $"prompt-{p:D3}-seed-{seed}.png");
                    var png = generated.Png(p);
                    AtomicFile.Write(path, stream => stream.Write(png));
                    images[p * seeds.Count + s] = path;
                }
            }
            return images;
        }
        finally
        {
            teacher?.Dispose();
        }
    }

    /// <summary>Releases the VAE and CLIP; the transformer and the student stay their owner's.</summary>
    public void Dispose() => _pipeline?.Dispose();
}
