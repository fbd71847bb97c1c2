namespace Studio.Ml.Distillation;

/// <summary>Reports a run on a terminal: a progress line per update (redrawn in place), events on their own lines.</summary>
public sealed class ConsoleReporter(TextWriter output, bool redraw) : ITrainingReporter
{
    DateTime _lastDraw = DateTime.MinValue;
    double? _smoothed;

    public void Update(UpdateMetrics m)
    {
        _smoothed = _smoothed is { } s ? 0.95 * s + 0.05 * m.Loss : m.Loss;
        var now = DateTime.UtcNow;
        if (redraw && now - _lastDraw < TimeSpan.FromMilliseconds(200) && m.Step < m.TotalSteps) return;
        _lastDraw = now;
        var fraction = m.TotalSteps > 0 ? (double)m.Step / m.TotalSteps : 0;
        const int width = 24;
        var filled = (int)Math.Round(fraction * width);
        var bar = new string('#', filled) + new string('-', width - filled);
        var eta = m.Eta is { } e ? $"{(int)e.TotalHours}:{e:mm\\:ss}" : "--:--";
        var line = $"[{bar}] {m.Step}/{m.TotalSteps} stage {m.Stage + 1} loss {m.Loss:0.0000} (ema {_smoothed:0.0000}) " +
                   $"lr {m.LearningRate:0.0e+0} |g| {m.GradientNorm:0.000} {m.UpdatesPerSecond:0.00} upd/s ETA {eta} RSS {m.ProcessMemoryBytes / (1 << 20)} MB";
        if (redraw) output.Write("\r" + line + "   ");
        else output.WriteLine(line);
    }

    public void Validation(ValidationMetrics v)
    {
        if (redraw) output.WriteLine();
        foreach (var (category, score) in v.ByCategory.OrderBy(kv => kv.Key))
            output.WriteLine($"  validation @ {v.Step} {category}: vision loss {score.VisionLoss:0.0000}, cosine {score.EmbeddingCosine:0.000}");
    }

    public void Event(TrainingEvent e)
    {
        if (redraw) output.WriteLine();
        output.WriteLine($"[{e.Kind}] {e.Message}");
    }
}
