using System.Text.Json.Nodes;
using Studio.Ml.Models.Clip;
using Studio.Ml.Models.Common;
using Studio.Ml.Tests.Diffusion;
using Studio.Ml.Text;

namespace Studio.Ml.Tests.Evaluation;

/// <summary>
/// A transformers CLIP model folder with real CLIP-L tokenizer files and a tiny random model of the reference case's
/// shape (text vocabulary widened to the tokenizer's 49,408 ids): what `--clip` and `Studio:ClipModel` read.
/// </summary>
public static class TinyClipFolder
{
    public static string Create()
    {
        var folder = TestPaths.NewTempDirectory("tiny-clip");
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixture("clip"), "config.json")))!.AsObject();
        json["text_config"]!["vocab_size"] = 49408;
        json["text_config"]!["bos_token_id"] = 49406;
        json["text_config"]!["eos_token_id"] = 49407;
        var writer = new PipelineFolderWriter(folder);
        writer.Json("config.json", json);
        writer.Directory(TextTokenizer.BuiltInFolder("clip"), ".");
        using (TorchSharp.torch.NewDisposeScope())
        {
            TorchSharp.torch.manual_seed(0);
            using var model = new ClipModel(ClipModelConfig.From(new ModelConfig(json, "tiny-clip")));
            writer.Module(model, "model.safetensors");
        }
        return folder;
    }
}
