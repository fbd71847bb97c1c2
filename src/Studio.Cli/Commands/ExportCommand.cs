using System.CommandLine;
using Studio.Ml;
using Studio.Ml.Distillation;
using Studio.Ml.Tensors;
using static TorchSharp.torch;

namespace Studio.Cli;

/// <summary>`studio export CHECKPOINT --format distillt5|t5 --out DIR [--dtype float32|bf16]`.</summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var checkpoint = new Argument<string>("CHECKPOINT") { Description = "A training checkpoint folder (step-NNNNNNNN)" };
        var format = new Option<string>("--format") { Description = "distillt5 (T5EncoderWithProjection, for diffusers/ComfyUI) or t5 (T5EncoderModel folder + projection.safetensors)", DefaultValueFactory = _ => "distillt5" };
        var output = new Option<string>("--out") { Description = "The folder to write", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "float32 or bf16", DefaultValueFactory = _ => "float32" };
        // Export reads the student's weights, converts their dtype and writes them: nothing is computed, so it has no --device.
        var command = new Command("export", "Export a checkpoint's student as a DistillT5 folder or a T5 folder plus projection (copies and converts weights on the CPU; no --device).") { checkpoint, format, output, dtype };
        command.SetAction(parse =>
        {
            ScalarType type;
            try { type = DType.ParseFriendly(parse.GetValue(dtype)!); }
            catch (FormatException e) { throw new ArgumentException($"--dtype: {e.Message}"); }
            TorchRuntime.Initialise();
            var written = CheckpointExport.Export(parse.GetValue(checkpoint)!, parse.GetValue(format)!, parse.GetValue(output)!, type);
            Console.WriteLine($"exported {parse.GetValue(format)} to {written}");
            return 0;
        });
        return command;
    }
}
