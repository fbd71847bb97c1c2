namespace Studio.Ml.Toy;

/// <summary>The built-in toy teacher pipeline (a diffusers-layout folder shipped with the studio): teacher pipeline "toy".</summary>
public static class ToyTeacher
{
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "Assets", "toy-teacher");
}
