using Microsoft.EntityFrameworkCore;
using Studio.Core.Generations;
using Studio.Core.Live;
using Studio.Core.Runs;

namespace Studio.Core.Tests;

/// <summary>A Generate request with settings no pipeline can take is refused by field, and nothing is stored or queued.</summary>
public class GenerationServiceTests
{
    [Theory]
    [InlineData(0.5)]
    [InlineData(0.0)]
    [InlineData(-3.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public async Task ATrueCfgScaleBelowOneOrNotFiniteIsRefusedAndNothingIsQueued(double scale)
    {
        var db = await TestDatabase.CreateAsync();
        var jobs = new RecordingJobs();
        var service = new GenerationService(db, jobs, new GenerationFeed());
        var refused = await Assert.ThrowsAsync<RunActionException>(() => service.RequestAsync(new GenerationRequest("a red circle", TrueCfgScale: scale)));
        Assert.StartsWith("trueCfgScale must be a number of at least 1", refused.Message);
        Assert.EndsWith($"got {scale})", refused.Message);
        Assert.Empty(jobs.Created);
        await using var context = db.CreateDbContext();
        Assert.Equal(0, await context.Generations.CountAsync());
    }

    [Fact]
    public async Task ANegativePromptOverThePromptLimitIsRefusedAndNothingIsQueued()
    {
        var db = await TestDatabase.CreateAsync();
        var jobs = new RecordingJobs();
        var service = new GenerationService(db, jobs, new GenerationFeed());
        var request = new GenerationRequest("a red circle", TrueCfgScale: 3, NegativePrompt: new string('n', 4001));
        var refused = await Assert.ThrowsAsync<RunActionException>(() => service.RequestAsync(request));
        Assert.Equal("negativePrompt: 4,001 characters is over the limit of 4,000", refused.Message);
        Assert.Empty(jobs.Created);
        await using var context = db.CreateDbContext();
        Assert.Equal(0, await context.Generations.CountAsync());
    }

    [Fact]
    public async Task ALoraIsStoredWithItsScaleAndABadOneIsRefusedByFieldWithNothingQueued()
    {
        var db = await TestDatabase.CreateAsync();
        var jobs = new RecordingJobs();
        var allowed = Directory.CreateTempSubdirectory("studio-lora-").FullName;
        var service = new GenerationService(db, jobs, new GenerationFeed(), new StudioOptions { DataDirectory = db.Directory, AllowedRoots = [allowed] });
        var good = LoraFiles.Query(allowed);

        var stored = await service.RequestAsync(new GenerationRequest("a red circle", Lora: $" {good} ", LoraScale: 0.75));
        Assert.Equal((good, 0.75), (stored.LoraPath, stored.LoraScale));
        Assert.Single(jobs.Created);
        // A relative path is stored as the full path it names here.
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, good);
        Assert.Equal(good, (await service.RequestAsync(new GenerationRequest("a red circle", Lora: relative))).LoraPath);
        var none = await service.RequestAsync(new GenerationRequest("a red circle", Lora: " ", LoraScale: 3));
        Assert.Equal(((string?)null, 1.0), (none.LoraPath, none.LoraScale));

        var outside = LoraFiles.Write(db.Directory, ("transformer.x.lora_A.weight", [2, 8]), ("transformer.x.lora_B.weight", [8, 2]));
        var textEncoder = LoraFiles.Write(allowed, ("lora_te3_encoder_block_0_layer_0_SelfAttention_q.lora_down.weight", [2, 8]));
        var half = LoraFiles.Write(allowed, ("transformer.x.lora_A.weight", [2, 8]));
        var notSafetensors = Path.Combine(allowed, "notes.safetensors");
        File.WriteAllText(notSafetensors, "not a safetensors file");
        foreach (var (request, message) in new[]
        {
            (new GenerationRequest("a", Lora: outside), $"lora: {outside} is outside the allowed folders"),
            (new GenerationRequest("a", Lora: Path.Combine(allowed, "gone.safetensors")), $"lora: {Path.Combine(allowed, "gone.safetensors")}: no such file"),
            (new GenerationRequest("a", Lora: textEncoder), $"lora: {textEncoder}: 'lora_te3_encoder_block_0_layer_0_SelfAttention_q.lora_down.weight' adapts a T5 encoder"),
            (new GenerationRequest("a", Lora: half), $"lora: {half}: layer 'x' needs both its down (lora_A) and up (lora_B) weights"),
            (new GenerationRequest("a", Lora: notSafetensors), $"lora: {notSafetensors}"),
            (new GenerationRequest("a", Lora: good, LoraScale: 9), "loraScale must be a number between -8 and 8 (got 9)"),
            (new GenerationRequest("a", Lora: good, LoraScale: double.NaN), "loraScale must be a number between -8 and 8 (got NaN)"),
        })
        {
            var refused = await Assert.ThrowsAsync<RunActionException>(() => service.RequestAsync(request));
            Assert.StartsWith(message, refused.Message);
        }
        // A LoRA of another model is refused before anything is queued, naming the layer (the toy teacher is 128 wide).
        var narrower = LoraFiles.Query(allowed, width: 32);
        Assert.StartsWith($"lora: {narrower}: layer 'transformer_blocks.0.attn.to_q' is [[128, 128]] in the transformer, the LoRA makes [32, 32]",
            (await Assert.ThrowsAsync<RunActionException>(() => service.RequestAsync(new GenerationRequest("a", Lora: narrower)))).Message);
        var elsewhere = LoraFiles.Write(allowed, ("transformer.joint_blocks.0.x_block.attn.qkv.lora_A.weight", [4, 128]), ("transformer.joint_blocks.0.x_block.attn.qkv.lora_B.weight", [384, 4]));
        Assert.StartsWith($"lora: {elsewhere}: the transformer has no layer 'joint_blocks.0.x_block.attn.qkv'",
            (await Assert.ThrowsAsync<RunActionException>(() => service.RequestAsync(new GenerationRequest("a", Lora: elsewhere)))).Message);
        var kohya = LoraFiles.Write(allowed, ("lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", [4, 128]), ("lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight", [384, 4]));
        Assert.Equal(kohya, (await service.RequestAsync(new GenerationRequest("a", Lora: kohya))).LoraPath); // kohya's fused qkv fits the toy teacher
        // A LoRA of CLIP is checked against the teacher's CLIP (64 wide) the same way.
        const string ClipQ = "lora_te1_text_model_encoder_layers_0_self_attn_q_proj";
        var clipOf32 = LoraFiles.Write(allowed, (ClipQ + ".lora_down.weight", [4, 32]), (ClipQ + ".lora_up.weight", [32, 4]));
        Assert.StartsWith($"lora: {clipOf32}: layer 'text_model_encoder_layers_0_self_attn_q_proj' is [[64, 64]] in the text encoder 'text_encoder', the LoRA makes [32, 32]",
            (await Assert.ThrowsAsync<RunActionException>(() => service.RequestAsync(new GenerationRequest("a", Lora: clipOf32)))).Message);
        var clipOf64 = LoraFiles.Write(allowed, (ClipQ + ".lora_down.weight", [4, 64]), (ClipQ + ".lora_up.weight", [64, 4]));
        Assert.Equal(clipOf64, (await service.RequestAsync(new GenerationRequest("a", Lora: clipOf64))).LoraPath);

        // A studio that did not give the service its allowed folders takes no LoRA.
        var without = new GenerationService(db, jobs, new GenerationFeed());
        Assert.StartsWith("lora: this studio takes no LoRA", (await Assert.ThrowsAsync<RunActionException>(() => without.RequestAsync(new GenerationRequest("a", Lora: good)))).Message);
        Assert.Equal(5, jobs.Created.Count);
        await using var context = db.CreateDbContext();
        Assert.Equal(5, await context.Generations.CountAsync());
    }

    /// <summary>
    /// A request that leaves the size and steps out takes the teacher's: a toy teacher's 64x64 in 20 steps, the built-in
    /// one's or one `studio toy pretrain` wrote (512x512 before, which it was never trained to draw); others 512x512 in 28.
    /// </summary>
    [Fact]
    public void ToyTeachersOfOnesOwnDrawTheirOwnSize()
    {
        var own = Directory.CreateTempSubdirectory("own-toy-teacher-").FullName;
        var flux = Directory.CreateTempSubdirectory("flux-dev-").FullName;
        File.WriteAllText(Path.Combine(own, "README.md"), "# Toy teacher (FluxPipeline layout)\n\nA tiny FLUX.1-architecture ...\n");
        File.WriteAllText(Path.Combine(flux, "README.md"), "---\nlicense: other\n---\n# FLUX.1 [dev]\n");
        Assert.Equal((64, 64, 20), GenerationService.Defaults("toy"));
        Assert.Equal((64, 64, 20), GenerationService.Defaults(own));
        Assert.Equal((512, 512, 28), GenerationService.Defaults(flux));
        Assert.Equal((512, 512, 28), GenerationService.Defaults(Path.Combine(flux, "no such folder")));
    }
}
