namespace Studio.Ml.Diffusion;

/// <summary>The guidance scales the studio takes, one rule for every way in (the CLI, a run YAML, generations, evaluations).</summary>
public static class GuidanceScale
{
    /// <summary>Far above any useful scale (FLUX.1-dev draws at 3.5, SD3 at 7); a scale near 1e308 overflows float32 in the pipeline.</summary>
    public const double Max = 100;

    /// <summary>Null when <paramref name="value"/> is a guidance scale, else why not: "1E+308 is not a number from 0 to 100".</summary>
    public static string? Problem(double value) =>
        double.IsFinite(value) && value is >= 0 and <= Max ? null : $"{value.ToString(System.Globalization.CultureInfo.InvariantCulture)} is not a number from 0 to {Max}";
}
