using Studio.Ml.Diffusion;
using Studio.Ml.Models.Clip;
using Studio.Ml.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Evaluation;

/// <summary>
/// CLIP score (Hessel et al. 2021), as torchmetrics' CLIPScore computes it and as the paper reports it (FLUX.1-dev
/// with T5-XXL 31.30, with the distilled T5-Base 29.79): 100 x the cosine of the image's and the prompt's CLIP
/// embeddings, averaged over images (torchmetrics also floors that mean at 0, which only images unrelated to their
/// prompts reach; real pairs score about 20 to 35), from a transformers CLIP folder (openai/clip-vit-large-patch14 is the usual one: config.json with
/// model_type "clip", its safetensors, vocab.json and merges.txt, preprocessor_config.json). Prompts are truncated to
/// the text tower's 77 positions. How well an image shows its prompt, where the teacher agreement says only how close
/// a student's image is to the teacher's.
/// </summary>
public sealed class ClipScorer : IDisposable
{
    /// <summary>Images per vision-tower call.</summary>
    const int Batch = 16;

    readonly ClipModel _model;
    readonly TextTokenizer _tokenizer;
    readonly Device _device;

    public string Folder { get; }
    public ClipImageProcessing Processing { get; }

    /// <summary>Bytes of the model's parameters (both towers).</summary>
    public long ParameterBytes => PipelineFolderLoad.ParameterBytes(_model);

    ClipScorer(string folder, ClipModel model, TextTokenizer tokenizer, ClipImageProcessing processing, Device device) =>
        (Folder, _model, _tokenizer, Processing, _device) = (folder, model, tokenizer, processing, device);

    public static ClipScorer Load(string folder, Device? device = null)
    {
        TorchRuntime.Initialise();
        device ??= CPU;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: no such CLIP model folder");
        var tokenizer = TextTokenizer.Load(folder);
        if (tokenizer.Kind != "clip") throw new InvalidDataException($"{folder}: its tokenizer is {tokenizer.Kind}, not CLIP's (vocab.json and merges.txt)");
        var model = ClipModel.Load(folder);
        try
        {
            if (tokenizer.IdCount > model.Config.Text.VocabSize)
                throw new InvalidDataException($"{folder}: the tokenizer has {tokenizer.IdCount} ids, the text tower's vocab_size is {model.Config.Text.VocabSize}");
            var processing = ClipImageProcessing.For(folder, model.Config.Vision);
            model.to(device);
            return new ClipScorer(folder, model, tokenizer, processing, device);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The CLIP score of each image against its prompt (same order): 100 x cosine, in [-100, 100].</summary>
    public IReadOnlyList<double> Score(IReadOnlyList<string> prompts, IReadOnlyList<RgbImage> images)
    {
        if (prompts.Count != images.Count) throw new ArgumentException($"{prompts.Count} prompts for {images.Count} images");
        var scores = new List<double>(images.Count);
        using var _ = torch.no_grad();
        for (int start = 0; start < images.Count; start += Batch)
        {
            var count = Math.Min(Batch, images.Count - start);
            using var scope = NewDisposeScope();
            var maxLength = _model.Config.Text.MaxPositionEmbeddings;
            var (ids, _) = _tokenizer.EncodeBatch(prompts.Skip(start).Take(count), maxLength);
            var text = _model.TextFeatures(ids.to(_device));
            var image = _model.ImageFeatures(Processing.PixelValues(images.Skip(start).Take(count).ToList(), _device));
            scores.AddRange(FromFeatures(text, image));
        }
        return scores;
    }

    /// <summary>100 x the cosine of each row of <paramref name="text"/> with the same row of <paramref name="image"/>.</summary>
    public static double[] FromFeatures(Tensor text, Tensor image)
    {
        using var scope = NewDisposeScope();
        var cosine = torch.nn.functional.cosine_similarity(text.to_type(ScalarType.Float64), image.to_type(ScalarType.Float64), dim: 1, eps: 1e-8);
        return (cosine * 100).cpu().data<double>().ToArray();
    }

    public void Dispose() => _model.Dispose();
}
