using Studio.Ml.Models.Common;
using static TorchSharp.torch;

namespace Studio.Ml.Diffusion;

/// <summary>
/// A diffusers pipeline folder while its components load: the parts by name (a missing one is named), and every
/// component loaded so far, disposed together if the load fails before the pipeline takes them over.
/// </summary>
sealed class PipelineFolderLoad : IDisposable
{
    readonly List<IDisposable> _loaded = [];
    bool _complete;

    public string Folder { get; }

    PipelineFolderLoad(string folder) => Folder = folder;

    /// <summary>Opens <paramref name="folder"/>, refusing a `model_index.json` whose `_class_name` does not start with <paramref name="classPrefix"/>.</summary>
    public static PipelineFolderLoad Open(string folder, string classPrefix, string kind)
    {
        folder = Path.GetFullPath(folder);
        var index = ModelConfig.Load(Path.Combine(folder, "model_index.json"));
        if (index.OptionalString("_class_name") is { } className && !className.StartsWith(classPrefix, StringComparison.Ordinal))
            throw index.Invalid("_class_name", $"is '{className}': not {kind} folder");
        return new PipelineFolderLoad(folder);
    }

    public bool Has(string part) => Directory.Exists(Path.Combine(Folder, part));

    public string Part(string name) => Has(name)
        ? Path.Combine(Folder, name)
        : throw new DirectoryNotFoundException($"{Folder}: the pipeline has no '{name}/' folder");

    public FlowMatchEulerScheduler Scheduler() =>
        new(FlowMatchSchedulerConfig.Load(Path.Combine(Part("scheduler"), "scheduler_config.json")));

    public T Keep<T>(T component) where T : IDisposable
    {
        _loaded.Add(component);
        return component;
    }

    /// <summary>Refuses a T5-slot encoder whose states are not <paramref name="width"/> wide, naming both widths.</summary>
    public static void CheckT5SlotWidth(T5SlotEncoder t5, string source, int width)
    {
        if (t5.Width != width)
            throw new InvalidDataException($"the T5 slot ({t5.Description}, {source}) gives states of width {t5.Width}, " +
                $"but the transformer's joint_attention_dim is {width}");
    }

    /// <summary>The pipeline now owns every component: nothing is disposed any more.</summary>
    public TPipeline Complete<TPipeline>(TPipeline pipeline)
    {
        _complete = true;
        return pipeline;
    }

    /// <summary>Bytes of the parameters and buffers of <paramref name="modules"/> (what a pipeline cache counts).</summary>
    public static long ParameterBytes(params nn.Module?[] modules) =>
        modules.OfType<nn.Module>().Sum(m => m.state_dict().Values.Sum(t => t.NumberOfElements * t.ElementSize));

    public void Dispose()
    {
        if (_complete) return;
        foreach (var component in _loaded) component.Dispose();
    }
}
