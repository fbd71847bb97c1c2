using Studio.Ml.Models.T5;
using Studio.Ml.Tensors;
using static TorchSharp.torch;

namespace Studio.Ml.Distillation;

/// <summary>Exports the student of a training checkpoint; the student's shape is read from the checkpoint's own run YAML.</summary>
public static class CheckpointExport
{
    public static StudentEncoder LoadStudent(string checkpoint)
    {
        var state = TrainingCheckpoint.Verify(checkpoint);
        var config = RunConfig.FromYaml(state.ConfigYaml, Path.Combine(checkpoint, TrainingCheckpoint.StateFile));
        using var weights = Checkpoint.Open(Path.Combine(checkpoint, TrainingCheckpoint.StudentFile));
        var projectionDim = (int)weights.Entry("final_projection.3.weight").Shape[0];
        var student = new StudentEncoder(Models.T5.T5Encoder.Create(StudentPresets.Resolve(config.Student)), projectionDim, config.Student.ProjectionDropout);
        StudentEncoder.LoadWeights(student, weights);
        student.eval();
        return student;
    }

    /// <summary>Writes the export to a temporary folder beside <paramref name="output"/>, then moves it into place.</summary>
    public static string Export(string checkpoint, string format, string output, ScalarType dtype)
    {
        if (format is not ("distillt5" or "t5")) throw new ArgumentException($"--format: '{format}' is not distillt5 or t5");
        var final = Path.GetFullPath(output);
        if (AtomicFile.FileInTheWay(final) is { } file) throw new IOException($"{final}: {file} is a file, not a folder");
        using var student = LoadStudent(checkpoint);
        if (Directory.Exists(final) && Directory.EnumerateFileSystemEntries(final).Any())
            throw new IOException($"{final}: the output folder exists and is not empty");
        var temp = final + $".tmp-{Guid.NewGuid():N}";
        try
        {
            if (format == "distillt5") student.ExportDistillT5(temp, dtype);
            else student.ExportT5(temp, dtype);
            if (Directory.Exists(final)) Directory.Delete(final);
            Directory.Move(temp, final);
        }
        catch
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            throw;
        }
        return final;
    }
}
