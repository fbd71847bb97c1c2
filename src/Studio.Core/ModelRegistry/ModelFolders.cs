using Studio.Ml.Toy;

namespace Studio.Core.ModelRegistry;

/// <summary>
/// Model folders as stored: an absolute path, or "toy" for the built-in toy teacher, which lives beside each program
/// (the web host's and a worker's copies differ in path), exactly as a run YAML's `teacher.pipeline: toy`.
/// </summary>
public static class ModelFolders
{
    public const string ToyTeacher = "toy";
    public const string ToyTeacherName = "toy teacher (built-in)";

    public static string Resolve(string folder) => folder == ToyTeacher ? Studio.Ml.Toy.ToyTeacher.Folder : folder;
}
