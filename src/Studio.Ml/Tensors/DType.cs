using static TorchSharp.torch;

namespace Studio.Ml.Tensors;

/// <summary>The safetensors dtype names and their TorchSharp element types.</summary>
public static class DType
{
    public static ScalarType Parse(string name) => name switch
    {
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "F64" => ScalarType.Float64,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => throw new FormatException($"unknown dtype '{name}'"),
    };

    public static bool TryParse(string name, out ScalarType type)
    {
        try { type = Parse(name); return true; }
        catch (FormatException) { type = default; return false; }
    }

    public static string Name(ScalarType type) => type switch
    {
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Float64 => "F64",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new NotSupportedException($"dtype {type} has no safetensors name"),
    };

    public static int Size(ScalarType type) => type switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        _ => 1,
    };

    /// <summary>
    /// The dtype a studio worker's generations and evaluations compute in: "float32" (also "fp32") or "bfloat16" ("bf16");
    /// anything else is refused naming <paramref name="source"/> (a setting such as Studio:DType).
    /// </summary>
    public static ScalarType ParseJob(string name, string source) => name.Trim().ToLowerInvariant() switch
    {
        "float32" or "fp32" => ScalarType.Float32,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        _ => throw new ArgumentException($"{source}: '{name}' is not float32 or bfloat16"),
    };

    /// <summary>Parses "float32", "bf16", "fp16" ... as used in configs and on the command line.</summary>
    public static ScalarType ParseFriendly(string name) => name.ToLowerInvariant() switch
    {
        "float32" or "fp32" or "f32" => ScalarType.Float32,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        "float16" or "fp16" or "f16" or "half" => ScalarType.Float16,
        _ => throw new FormatException($"unknown dtype '{name}' (use float32, bf16 or fp16)"),
    };
}
