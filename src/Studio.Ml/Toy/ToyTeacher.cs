namespace Studio.Ml.Toy;

/// <summary>The built-in toy teacher pipeline (a diffusers-layout folder shipped with the studio): teacher pipeline "toy".</summary>
public static class ToyTeacher
{
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "Assets", "toy-teacher");

    /// <summary>What a drawing with the toy teacher takes when it names none (Generate, `studio sample`): its 64x64 scenes in 20 steps.</summary>
    public static (int Width, int Height, int Steps) Defaults => (ToyImage.Size, ToyImage.Size, 20);

    /// <summary>The first line of the README.md that `studio toy pretrain` writes into a teacher folder.</summary>
    public const string ReadmeTitle = "# Toy teacher";

    /// <summary>
    /// Whether <paramref name="folder"/> is a toy-world teacher: the built-in one, or a folder `studio toy pretrain`
    /// wrote (its README.md starts with <see cref="ReadmeTitle"/>). Such a pipeline draws 64x64 toy scenes
    /// (<see cref="Defaults"/>), and the toy evaluator scores it; a folder that cannot be read is not one.
    /// </summary>
    public static bool Is(string folder)
    {
        try
        {
            if (Path.GetFullPath(folder) == Path.GetFullPath(Folder)) return true;
            var readme = Path.Combine(folder, "README.md");
            return File.Exists(readme) && File.ReadLines(readme).FirstOrDefault()?.StartsWith(ReadmeTitle, StringComparison.Ordinal) == true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException) { return false; }
    }
}
