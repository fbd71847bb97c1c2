using System.Text;
using System.Text.Json;

namespace Studio.Core.Tests;

/// <summary>LoRA files written by hand as safetensors of zero-filled float32 tensors (the Core and Web tests do not load LibTorch).</summary>
public static class LoraFiles
{
    public static string Write(string folder, params (string Name, long[] Shape)[] tensors)
    {
        var header = new Dictionary<string, object>();
        long offset = 0;
        foreach (var (name, shape) in tensors)
        {
            var bytes = 4 * shape.Aggregate(1L, (a, b) => a * b);
            header[name] = new { dtype = "F32", shape, data_offsets = new[] { offset, offset + bytes } };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        var path = Path.Combine(folder, $"lora-{Guid.NewGuid():N}.safetensors");
        using var file = File.Create(path);
        file.Write(BitConverter.GetBytes((ulong)json.Length));
        file.Write(json);
        file.Write(new byte[offset]);
        return path;
    }

    /// <summary>A rank-4 LoRA of the first double block's query projection of a transformer <paramref name="width"/> wide (the toy teacher's 128).</summary>
    public static string Query(string folder, int width = 128) => Write(folder,
        ("transformer.transformer_blocks.0.attn.to_q.lora_A.weight", [4, width]), ("transformer.transformer_blocks.0.attn.to_q.lora_B.weight", [width, 4]));
}
