using Studio.Ml.Distillation;

namespace Studio.Core.Tests;

/// <summary>The "Toy: CPU in 15 minutes" preset's run YAML, edited as a test needs it.</summary>
static class ToyRun
{
    public static string Yaml(Action<RunConfig>? edit = null)
    {
        var config = RunPresets.Find("toy").Create();
        edit?.Invoke(config);
        return config.ToYaml();
    }
}
