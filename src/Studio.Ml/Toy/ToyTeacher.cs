namespace Studio.Ml.Toy;

/// <summary>The built-in toy teacher pipeline (a diffusers-layout folder shipped with the studio): teacher pipeline "toy".</summary>
public static class ToyTeacher
{
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "Assets", "toy-teacher");

    /// <summary>What a drawing with the toy teacher takes when it names none (Generate, `studio sample`): its 64x64 scenes in 20 steps.</summary>
    public static (int Width, int Height, int Steps) Defaults => (ToyImage.Size, ToyImage.Size, 20);
}
