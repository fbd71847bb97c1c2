using Studio.Ml.Models.Clip;
using Studio.Ml.Models.Common;
using Studio.Ml.Models.T5;
using Studio.Ml.Text;
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

    /// <summary>FLUX's pooled vector is CLIP's pooled output: its width must be the transformer's pooled_projection_dim.</summary>
    public static void CheckClipPooledWidth(ClipTextEncoder clip, string clipFolder, int pooledProjectionDim)
    {
        if (clip.Config.HiddenSize != pooledProjectionDim)
            throw new InvalidDataException($"{clipFolder}: CLIP's pooled width {clip.Config.HiddenSize} is not the transformer's pooled_projection_dim {pooledProjectionDim}");
    }

    /// <summary>
    /// Before any weights load: the config.json of the text encoder in <paramref name="encoderFolder"/> must have a
    /// vocab_size that covers every id <paramref name="tokenizer"/> gives (a smaller embedding would fail, or read
    /// past its table, on the first prompt). A missing or plainly broken config is left to the encoder's own load.
    /// </summary>
    public static void CheckVocabulary(string encoderFolder, TextTokenizer tokenizer)
    {
        var configPath = Path.Combine(encoderFolder, "config.json");
        if (!File.Exists(configPath)) return;
        var config = ModelConfig.Load(configPath);
        // A DistillT5 student has its own layout; a missing or non-positive vocab_size is the config loader's to report.
        if (config.Has("project_out_dim") || !config.Has("vocab_size")) return;
        var vocabSize = config.Int("vocab_size");
        if (vocabSize > 0 && vocabSize < tokenizer.IdCount)
            throw new InvalidDataException($"{configPath}: 'vocab_size' is {vocabSize}, but the tokenizer in {tokenizer.Source} " +
                $"gives ids up to {tokenizer.IdCount - 1}");
    }

    /// <summary>T5's config when <paramref name="t5Folder"/> holds a plain T5 encoder (no DistillT5 student, no projection), else null.</summary>
    public static (T5Config Config, string Path)? PlainT5Config(string t5Folder)
    {
        var configPath = Path.Combine(t5Folder, "config.json");
        if (!File.Exists(configPath) || File.Exists(Path.Combine(t5Folder, "projection.safetensors"))) return null;
        var config = ModelConfig.Load(configPath);
        return config.Has("project_out_dim") ? null : (T5Config.From(config), configPath);
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
