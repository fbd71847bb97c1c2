using SkiaSharp;
using Studio.Ml.Tests;
using Studio.Ml.Tests.Diffusion;
using Studio.Ml.Toy;

namespace Studio.Cli.Tests;

[Collection("console")]
public class SampleCommandTests(TinyFluxPipelineFolder tiny) : IClassFixture<TinyFluxPipelineFolder>
{
    static string[] Args(string pipeline, string output, params string[] extra) =>
        ["sample", "--pipeline", pipeline, "--seed", "11", "--steps", "2", "--guidance", "3.5", "--width", "16", "--height", "16",
         "--max-sequence-length", "16", "--out", output, .. extra];

    [Fact]
    public void WritesOnePngPerPromptAndPrintsTheStageTimes()
    {
        var dir = TestPaths.NewTempDirectory("sample");
        var (code, output, error) = Cli.Run(Args(tiny.Folder, dir, "--prompt", "a red circle", "--prompt", "the word 'cat'"));
        Assert.True(code == 0, error);
        foreach (var stage in new[] { "load pipeline:", "encode prompts:", "denoise:", "decode:" }) Assert.Contains(stage, output);
        var files = Directory.GetFiles(dir, "*.png").Order().ToArray();
        Assert.Equal(["image-0.png", "image-1.png"], files.Select(Path.GetFileName));
        using var image = SKBitmap.Decode(files[0]);
        Assert.Equal((16, 16), (image.Width, image.Height));

        // The same seed again, with a student in the T5 slot: deterministic, and different from the teacher's T5.
        var student = Path.Combine(TestPaths.NewTempDirectory("sample-student"), "one.png");
        var again = Path.Combine(TestPaths.NewTempDirectory("sample-student"), "one.png");
        Assert.Equal(0, Cli.Run(Args(tiny.Folder, student, "--prompt", "a red circle", "--text-encoder-2", tiny.StudentDistillT5)).Code);
        Assert.Equal(0, Cli.Run(Args(tiny.Folder, again, "--prompt", "a red circle", "--text-encoder-2", tiny.StudentDistillT5)).Code);
        Assert.Equal(File.ReadAllBytes(student), File.ReadAllBytes(again));
        Assert.NotEqual(File.ReadAllBytes(files[0]), File.ReadAllBytes(student));
    }

    /// <summary>
    /// Sizes and steps left out are the pipeline's: the toy teacher's 64x64 in 20 steps (as Generate draws it), not
    /// diffusers' 1024x1024 in 28, which took half a minute for a picture the toy teacher was never trained to draw.
    /// </summary>
    [Fact]
    public void TheToyTeacherDrawsItsOwnSizeAndStepsWhenNoneAreGiven()
    {
        var png = Path.Combine(TestPaths.NewTempDirectory("sample-toy"), "toy.png");
        var (code, _, error) = Cli.Run("sample", "--pipeline", "toy", "--prompt", "a red circle", "--out", png);
        Assert.True(code == 0, error);
        using (var image = SKBitmap.Decode(png)) Assert.Equal((64, 64), (image.Width, image.Height));
        // The same as asking for them.
        var asked = Path.Combine(TestPaths.NewTempDirectory("sample-toy"), "asked.png");
        Assert.Equal(0, Cli.Run("sample", "--pipeline", "toy", "--prompt", "a red circle", "--width", "64", "--height", "64", "--steps", "20", "--out", asked).Code);
        Assert.Equal(File.ReadAllBytes(asked), File.ReadAllBytes(png));

        // So does a toy teacher folder of one's own (`studio toy pretrain --out DIR`, here a copy of the built-in one):
        // it drew 1024x1024 before, as if it were FLUX.1.
        var own = Path.Combine(TestPaths.NewTempDirectory("sample-own-toy"), "teacher");
        foreach (var file in Directory.GetFiles(ToyTeacher.Folder, "*", SearchOption.AllDirectories))
        {
            var copy = Path.Combine(own, Path.GetRelativePath(ToyTeacher.Folder, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }
        var fromOwn = Path.Combine(Path.GetDirectoryName(own)!, "own.png");
        var (ownCode, _, ownError) = Cli.Run("sample", "--pipeline", own, "--prompt", "a red circle", "--out", fromOwn);
        Assert.True(ownCode == 0, ownError);
        Assert.Equal(File.ReadAllBytes(png), File.ReadAllBytes(fromOwn));
    }

    [Fact]
    public void BadRequestsFailWithTheReason()
    {
        var dir = TestPaths.NewTempDirectory("sample-bad");
        var (code, _, error) = Cli.Run(Args(tiny.Folder, Path.Combine(dir, "x.png"), "--prompt", "a", "--prompt", "b"));
        Assert.Equal(1, code);
        Assert.Contains("2 prompts", error);
        (code, _, error) = Cli.Run(Args(tiny.Folder, dir, "--prompt", "a", "--dtype", "float8"));
        Assert.Equal(1, code);
        Assert.Contains("float8", error);
        (code, _, error) = Cli.Run(Args(Path.Combine(dir, "nowhere"), dir, "--prompt", "a"));
        Assert.Equal(1, code);
        Assert.Contains("model_index.json", error);
        // A size the VAE cannot draw is refused from the configurations, before the weights load, naming the option.
        (code, var printed, error) = Cli.Run("sample", "--pipeline", tiny.Folder, "--prompt", "a", "--width", "18", "--height", "16", "--out", dir);
        Assert.Equal(1, code);
        Assert.Contains("--width/--height: 18x16 is not a multiple of 4", error);
        Assert.DoesNotContain("load pipeline:", printed);
        Assert.Empty(Directory.GetFiles(dir));
        (code, _, error) = Cli.Run(Args(tiny.Folder, dir, "--prompt", "a", "--device", "gpu"));
        Assert.Equal(1, code);
        Assert.Contains("--device: 'gpu' is not cpu, cuda or cuda:N", error);
    }

    [Fact]
    public void CudaOnABuildWithoutItIsRefusedWithTheReason()
    {
        Studio.Ml.TorchRuntime.Initialise();
        if (Studio.Ml.TorchRuntime.CudaAvailable) return; // this process has CUDA: the refusal cannot happen here
        var dir = TestPaths.NewTempDirectory("sample-cuda");
        var (code, _, error) = Cli.Run(Args(tiny.Folder, dir, "--prompt", "a", "--device", "cuda"));
        Assert.Equal(1, code);
        Assert.Contains("cuda requested but this build's TorchSharp has no CUDA (torch.cuda.is_available() is false)", error);
        Assert.Empty(Directory.GetFiles(dir));
    }

    /// <summary>
    /// --lora draws what the pipeline draws with the LoRA baked into its transformer's weights by hand (W + alpha / rank x
    /// B @ A, written as another folder); a LoRA of a text encoder is refused naming its key.
    /// </summary>
    [Fact]
    public void ALoraDrawsWhatItsWeightsBakedIntoTheTransformerDraw()
    {
        var dir = TestPaths.NewTempDirectory("sample-lora");
        TorchSharp.torch.manual_seed(9);
        var down = TorchSharp.torch.randn(4, 32);
        var up = TorchSharp.torch.randn(32, 4);
        var lora = Path.Combine(dir, "lora.safetensors");
        Studio.Ml.Tensors.SafeTensorsWriter.Save(lora, new Dictionary<string, TorchSharp.torch.Tensor>
        {
            ["transformer.transformer_blocks.0.attn.to_q.lora_A.weight"] = down,
            ["transformer.transformer_blocks.0.attn.to_q.lora_B.weight"] = up,
            ["transformer.transformer_blocks.0.attn.to_q.alpha"] = TorchSharp.torch.tensor(8.0f),
        });
        var baked = Path.Combine(dir, "baked");
        CopyFolder(tiny.Folder, baked);
        var weights = Path.Combine(baked, "transformer", "diffusion_pytorch_model.safetensors");
        var tensors = new Dictionary<string, TorchSharp.torch.Tensor>();
        using (var file = Studio.Ml.Tensors.SafeTensorsFile.Open(weights))
            foreach (var name in file.Entries.Keys) tensors[name] = file.Read(name).clone();
        Assert.Equal([32L, 32], tensors["transformer_blocks.0.attn.to_q.weight"].shape);
        tensors["transformer_blocks.0.attn.to_q.weight"] = tensors["transformer_blocks.0.attn.to_q.weight"] + up.matmul(down) * (8.0 / 4 * 0.75);
        File.Delete(weights);
        Studio.Ml.Tensors.SafeTensorsWriter.Save(weights, tensors);

        string Png(string name) => Path.Combine(dir, name + ".png");
        Assert.Equal(0, Cli.Run(Args(tiny.Folder, Png("plain"), "--prompt", "a red circle")).Code);
        var (code, output, error) = Cli.Run(Args(tiny.Folder, Png("lora"), "--prompt", "a red circle", "--lora", lora, "--lora-scale", "0.75"));
        Assert.True(code == 0, error);
        Assert.Contains($"LoRA: 1 layer of rank 4 merged at scale 0.75 ({lora})", output);
        Assert.Equal(0, Cli.Run(Args(baked, Png("baked"), "--prompt", "a red circle")).Code);
        Assert.Equal(File.ReadAllBytes(Png("baked")), File.ReadAllBytes(Png("lora")));
        Assert.NotEqual(File.ReadAllBytes(Png("plain")), File.ReadAllBytes(Png("lora")));

        // A LoRA of CLIP (kohya's names) draws another image too, the same with the text encoders freed after encoding
        // (CLIP is loaded, then merged, again).
        var clip = Path.Combine(dir, "clip.safetensors");
        Studio.Ml.Tensors.SafeTensorsWriter.Save(clip, new Dictionary<string, TorchSharp.torch.Tensor>
        {
            ["lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight"] = down,
            ["lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight"] = up,
        });
        (code, output, error) = Cli.Run(Args(tiny.Folder, Png("clip"), "--prompt", "a red circle", "--lora", clip));
        Assert.True(code == 0, error);
        Assert.Contains($"LoRA: 1 layer of rank 4 merged at scale 1 ({clip})", output);
        Assert.NotEqual(File.ReadAllBytes(Png("plain")), File.ReadAllBytes(Png("clip")));
        (code, _, error) = Cli.Run(Args(tiny.Folder, Png("clip-freed"), "--prompt", "a red circle", "--lora", clip, "--free-text-encoders"));
        Assert.True(code == 0, error);
        Assert.Equal(File.ReadAllBytes(Png("clip")), File.ReadAllBytes(Png("clip-freed")));

        // A LoRA of T5, the encoder the students replace, is refused naming the key.
        var t5 = Path.Combine(dir, "t5.safetensors");
        Studio.Ml.Tensors.SafeTensorsWriter.Save(t5, new Dictionary<string, TorchSharp.torch.Tensor> { ["lora_te3_encoder_block_0_layer_0_SelfAttention_q.lora_down.weight"] = down });
        (code, _, error) = Cli.Run(Args(tiny.Folder, Png("t5"), "--prompt", "a red circle", "--lora", t5));
        Assert.Equal(1, code);
        Assert.Contains($"{t5}: 'lora_te3_encoder_block_0_layer_0_SelfAttention_q.lora_down.weight' adapts a T5 encoder", error);
        Assert.False(File.Exists(Png("t5")));
    }

    static void CopyFolder(string from, string to)
    {
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    [Fact]
    public void DeviceCpuGivesTheSameImageAsTheDefault()
    {
        var plain = Path.Combine(TestPaths.NewTempDirectory("sample-cpu"), "one.png");
        var onCpu = Path.Combine(TestPaths.NewTempDirectory("sample-cpu"), "one.png");
        Assert.Equal(0, Cli.Run(Args(tiny.Folder, plain, "--prompt", "a red circle")).Code);
        var (code, output, error) = Cli.Run(Args(tiny.Folder, onCpu, "--prompt", "a red circle", "--device", "cpu"));
        Assert.True(code == 0, error);
        Assert.Contains(", cpu)", output);
        Assert.Equal(File.ReadAllBytes(plain), File.ReadAllBytes(onCpu));
    }
}

[Collection("console")]
public class Sd3SampleCommandTests(TinySd3PipelineFolder tiny) : IClassFixture<TinySd3PipelineFolder>
{
    string[] Args(string output, params string[] extra) =>
        ["sample", "--pipeline", tiny.Folder, "--seed", "3", "--steps", "2", "--width", "16", "--height", "16",
         "--max-sequence-length", "16", "--out", output, .. extra];

    [Fact]
    public void AnSd3FolderSamplesWithItsOwnT5SlotAndNegativePrompts()
    {
        var dir = TestPaths.NewTempDirectory("sample-sd3");
        var plain = Path.Combine(dir, "plain.png");
        var negative = Path.Combine(dir, "negative.png");
        var student = Path.Combine(dir, "student.png");
        var (code, output, error) = Cli.Run(Args(plain, "--prompt", "a red circle"));
        Assert.True(code == 0, error);
        Assert.Contains("T5 slot: T5EncoderModel", output);
        Assert.Equal(0, Cli.Run(Args(negative, "--prompt", "a red circle", "--negative-prompt", "blurry")).Code);
        Assert.Equal(0, Cli.Run(Args(student, "--prompt", "a red circle", "--text-encoder-3", tiny.StudentDistillT5)).Code);
        Assert.NotEqual(File.ReadAllBytes(plain), File.ReadAllBytes(negative));
        Assert.NotEqual(File.ReadAllBytes(plain), File.ReadAllBytes(student));

        (code, _, error) = Cli.Run(Args(plain, "--prompt", "a", "--text-encoder-2", tiny.StudentDistillT5));
        Assert.Equal(1, code);
        Assert.Contains("--text-encoder-3", error);
    }

    [Fact]
    public void ALoraOfClipGDrawsTheSameWithTheTextEncodersFreedAfterEncoding()
    {
        var dir = TestPaths.NewTempDirectory("sample-sd3-lora");
        long[] shape;
        using (var file = Studio.Ml.Tensors.SafeTensorsFile.Open(Path.Combine(tiny.Folder, "text_encoder_2", "model.safetensors")))
            shape = file.Entries["text_model.encoder.layers.0.self_attn.q_proj.weight"].Shape;
        TorchSharp.torch.manual_seed(5);
        var lora = Path.Combine(dir, "clip-g.safetensors");
        Studio.Ml.Tensors.SafeTensorsWriter.Save(lora, new Dictionary<string, TorchSharp.torch.Tensor>
        {
            ["lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight"] = TorchSharp.torch.randn(2, shape[1]),
            ["lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight"] = TorchSharp.torch.randn(shape[0], 2),
        });
        string Out(string name) => Path.Combine(dir, name);
        Assert.Equal(0, Cli.Run(Args(Out("plain"), "--prompt", "a red circle", "--prompt", "two blue stars")).Code);
        var (code, _, error) = Cli.Run(Args(Out("lora"), "--prompt", "a red circle", "--prompt", "two blue stars", "--lora", lora));
        Assert.True(code == 0, error);
        (code, _, error) = Cli.Run(Args(Out("freed"), "--prompt", "a red circle", "--prompt", "two blue stars", "--lora", lora, "--free-text-encoders"));
        Assert.True(code == 0, error);
        foreach (var image in new[] { "image-0.png", "image-1.png" })
        {
            Assert.NotEqual(File.ReadAllBytes(Path.Combine(Out("plain"), image)), File.ReadAllBytes(Path.Combine(Out("lora"), image)));
            Assert.Equal(File.ReadAllBytes(Path.Combine(Out("lora"), image)), File.ReadAllBytes(Path.Combine(Out("freed"), image)));
        }
    }
}
