using Studio.Ml.Diffusion;
using Studio.Ml.Models.T5;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Distillation;

/// <summary>One batch a sample renderer asks its pipeline for: every prompt, one seed's noise, square images.</summary>
public sealed record SampleBatch(IReadOnlyList<string> Prompts, int Seed, int Steps, double Guidance, int Resolution);

/// <summary>
/// A run's periodic samples through its family's pipeline (<see cref="IFrozenDenoiser.SampleRenderer"/> says which and
/// how it is called): the teacher folder's VAE, CLIP(s) and tokenizers around the run's own frozen transformer (no
/// second copy), built at the first render with the in-training student in the T5 slot; for the teacher's reference
/// row the teacher's own T5-slot encoder (<paramref name="slotEncoder"/>) is loaded for that render only (the teacher
/// encoder is never kept in memory during training). Each seed renders every prompt in one batch, each prompt from the
/// noise a one-prompt call with that seed draws (<see cref="SeededNoise"/>), so a prompt and seed get the same noise in
/// the teacher's row, at every step of the student's and in Generate.
/// </summary>
/// <param name="around">The pipeline around the frozen transformer with the given encoder in its T5 slot.</param>
/// <param name="draw">One batch through the pipeline, with the given encoder lent to its T5 slot (null: its own).</param>
public sealed class PipelineSampleRenderer<TPipeline>(string teacherFolder, string slotEncoder, nn.Module transformer, StudentEncoder student,
    Func<T5SlotEncoder, TPipeline> around, Func<TPipeline, SampleBatch, T5SlotEncoder?, GeneratedImages> draw) : ISampleRenderer
    where TPipeline : class, IDisposable
{
    TPipeline? _pipeline;

    /// <summary>Renders with <paramref name="renderWith"/> in the T5 slot, or with the teacher's encoder when it is null; PNG paths prompt-major.</summary>
    public IReadOnlyList<string> Render(StudentEncoder? renderWith, IReadOnlyList<string> prompts, IReadOnlyList<int> seeds,
        int steps, double guidance, int resolution, string outputDirectory)
    {
        using var _ = no_grad();
        _pipeline ??= around(T5SlotEncoder.From(student));
        var teacher = renderWith is null
            ? T5SlotEncoder.Load(Path.Combine(teacherFolder, slotEncoder), transformer.parameters().First().dtype, ComputeDevice.Of(transformer))
            : null;
        try
        {
            // The pipeline's own slot holds the run's student; another student (or the teacher) is lent for this call.
            var slot = teacher ?? (ReferenceEquals(renderWith, student) ? null : T5SlotEncoder.From(renderWith!));
            var images = new string[prompts.Count * seeds.Count];
            foreach (var (seed, s) in seeds.Select((seed, s) => (seed, s)))
            {
                using var generated = draw(_pipeline, new SampleBatch(prompts, seed, steps, guidance, resolution), slot);
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

    /// <summary>Releases the pipeline's own parts (VAE, CLIPs); the transformer and the student stay their owner's.</summary>
    public void Dispose() => _pipeline?.Dispose();
}
