using System.Text;
using Studio.Core.Data;
using Studio.Core.ModelRegistry;

namespace Studio.Core.Tests;

public class ModelInspectorTests
{
    /// <summary>A safetensors file written byte by byte: header length, JSON header, zeroed data.</summary>
    static void WriteSafetensors(string path, params (string Name, string DType, long[] Shape, int ElementSize)[] tensors)
    {
        var entries = new List<string>();
        long offset = 0;
        foreach (var (name, dtype, shape, size) in tensors)
        {
            var bytes = shape.Aggregate(1L, (a, b) => a * b) * size;
            entries.Add($"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{offset},{offset + bytes}]}}");
            offset += bytes;
        }
        var header = Encoding.UTF8.GetBytes("{" + string.Join(",", entries) + "}");
        using var file = File.Create(path);
        file.Write(BitConverter.GetBytes((ulong)header.Length));
        file.Write(header);
        file.Write(new byte[offset]);
    }

    [Fact]
    public void AStudentFolderReportsArchitectureParametersDtypesAndSize()
    {
        var dir = Directory.CreateTempSubdirectory("studio-model-").FullName;
        File.WriteAllText(Path.Combine(dir, "config.json"), """{"architectures": ["T5EncoderModel"], "model_type": "t5", "d_model": 8}""");
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), "{}");
        WriteSafetensors(Path.Combine(dir, "model.safetensors"), ("shared.weight", "F32", [10, 8], 4), ("norm.weight", "BF16", [8], 2));
        var inspection = ModelInspector.Inspect(dir, ModelKind.StudentInit);
        Assert.Equal("T5EncoderModel", inspection.Architecture);
        Assert.Equal(88, inspection.ParameterCount);
        Assert.Equal("BF16, F32", inspection.DType);
        Assert.Equal(new DirectoryInfo(dir).EnumerateFiles().Sum(f => f.Length), inspection.SizeBytes);
        Assert.Empty(inspection.Errors);
    }

    [Fact]
    public void MissingAndBrokenPartsAreNamed()
    {
        var dir = Directory.CreateTempSubdirectory("studio-model-").FullName;
        File.WriteAllText(Path.Combine(dir, "model_index.json"), """{"_class_name": "FluxPipeline", "transformer": ["diffusers", "FluxTransformer2DModel"], "vae": ["diffusers", "AutoencoderKL"]}""");
        Directory.CreateDirectory(Path.Combine(dir, "transformer"));
        File.WriteAllBytes(Path.Combine(dir, "transformer", "diffusion_pytorch_model.safetensors"), [1, 2, 3]);
        var inspection = ModelInspector.Inspect(dir, ModelKind.TeacherPipeline);
        Assert.Equal("FluxPipeline", inspection.Architecture);
        Assert.Contains("model_index.json lists 'vae' but the folder has no vae/", inspection.Errors);
        Assert.Contains("missing the text_encoder/ component", inspection.Errors);
        Assert.Contains(inspection.Errors, e => e.Contains("diffusion_pytorch_model.safetensors") && e.Contains("truncated"));

        var student = ModelInspector.Inspect(dir, ModelKind.ExportedStudent);
        Assert.Contains("a teacher pipeline is a diffusers folder with model_index.json", ModelInspector.Inspect(Directory.CreateTempSubdirectory().FullName, ModelKind.TeacherPipeline).Errors);
        Assert.NotEmpty(student.Errors);
    }
}
