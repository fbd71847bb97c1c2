using System.Text.Json.Nodes;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Diffusion;

/// <summary>Writes the parts of a diffusers pipeline folder: JSON configs, module weights, fixture files, tokenizer folders.</summary>
public readonly record struct PipelineFolderWriter(string Folder)
{
    public void Json(string relative, JsonObject json)
    {
        var path = Create(relative);
        File.WriteAllText(path, json.ToJsonString());
    }

    public void Module(nn.Module module, string relative) =>
        SafeTensorsWriter.Save(Create(relative), module.state_dict().Select(p => new KeyValuePair<string, Tensor>(p.Key, p.Value)));

    public void Fixture(string fixture, string file, string relative) =>
        File.Copy(Path.Combine(TestPaths.Fixture(fixture), file), Create(relative));

    public void Directory(string from, string relative)
    {
        var to = Path.Combine(Folder, relative);
        System.IO.Directory.CreateDirectory(to);
        foreach (var file in System.IO.Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
    }

    string Create(string relative)
    {
        var path = Path.Combine(Folder, relative);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }
}
