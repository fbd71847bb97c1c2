using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using Studio.Core;
using Studio.Core.Data;
using Studio.Core.Generations;
using Studio.Core.Hosting;
using Studio.Core.Live;
using Studio.Core.ModelRegistry;
using Studio.Core.Runs;
using Studio.Web.Auth;
using Studio.Web.Components.Generations;
using Studio.Web.Components.Pages;

namespace Studio.Web.Tests;

/// <summary>The Generate page and its page service: the encoders it offers, and one generation per prompt line with the chosen encoders.</summary>
public class GeneratePageTests
{
    sealed record Seeded(int Step10, int Step20, int Student);

    static async Task<(IDbContextFactory<StudioDbContext> Db, RecordingJobs Jobs, GenerateService Page, Seeded Ids)> NewStudioAsync()
    {
        var data = Directory.CreateTempSubdirectory("studio-web-generate-").FullName;
        var db = TestStudioDb.Create(data);
        await using var seed = db.CreateDbContext();
        var run = new Run { Name = "small", State = RunState.Completed, ConfigYaml = "" };
        var student = new ModelEntry { Name = "tiny", Kind = ModelKind.ExportedStudent, Folder = Path.Combine(data, "tiny") };
        seed.Runs.Add(run);
        seed.Models.AddRange(new ModelEntry { Name = ModelFolders.ToyTeacherName, Kind = ModelKind.TeacherPipeline, Folder = ModelFolders.ToyTeacher }, student);
        await seed.SaveChangesAsync();
        var step10 = new CheckpointEntry { RunId = run.Id, Path = Directory.CreateDirectory(Path.Combine(data, "step-10")).FullName, Step = 10 };
        var step20 = new CheckpointEntry { RunId = run.Id, Path = Directory.CreateDirectory(Path.Combine(data, "step-20")).FullName, Step = 20 };
        seed.Checkpoints.AddRange(step10, step20);
        await seed.SaveChangesAsync();
        var jobs = new RecordingJobs();
        var page = new GenerateService(db, new ModelService(db, new PathGuard(new StudioOptions { DataDirectory = data })), new GenerationService(db, jobs, new GenerationFeed()),
            new StudioOptions { DataDirectory = data });
        return (db, jobs, page, new(step10.Id, step20.Id, student.Id));
    }

    [Fact]
    public async Task ChoicesNameEveryCheckpointNewestStepFirstThenTheRegisteredStudents()
    {
        var (_, _, page, ids) = await NewStudioAsync();
        var choices = await page.ChoicesAsync();
        Assert.Equal([ModelFolders.ToyTeacherName], choices.Teachers.Select(m => m.Name));
        Assert.Equal([
            ($"c{ids.Step20}", "run 1 (small) · step 20"),
            ($"c{ids.Step10}", "run 1 (small) · step 10"),
            ($"m{ids.Student}", "tiny (exported student)")], choices.Students.Select(s => (s.Key, s.Value)));
    }

    [Fact]
    public async Task ACheckpointWhoseFilesAreGoneIsNotOfferedAndNotGeneratedWith()
    {
        var (db, jobs, page, ids) = await NewStudioAsync();
        await using (var context = await db.CreateDbContextAsync())
            Directory.Delete((await context.Checkpoints.SingleAsync(c => c.Id == ids.Step20)).Path);
        Assert.DoesNotContain($"c{ids.Step20}", (await page.ChoicesAsync()).Students.Keys);
        Assert.Contains($"c{ids.Step10}", (await page.ChoicesAsync()).Students.Keys);
        var refused = await Assert.ThrowsAsync<RunActionException>(() => page.RequestAsync("a red ball", new GenerationRequest(""), [$"c{ids.Step20}"]));
        Assert.StartsWith($"checkpointIds: checkpoint {ids.Step20} (run 1, step 20): its files are gone", refused.Message);
        Assert.Empty(jobs.Created);
    }

    [Fact]
    public async Task EachPromptLineQueuesOneGenerationWithTheChosenEncoders()
    {
        var (db, jobs, page, ids) = await NewStudioAsync();
        var answered = await page.RequestAsync(" a red ball \n\n a blue cube", new GenerationRequest("", Seed: 7, IncludeTeacher: false), [$"c{ids.Step10}", $"m{ids.Student}"]);
        await using var context = await db.CreateDbContextAsync();
        var queued = await context.Generations.Include(g => g.Images).OrderBy(g => g.Id).ToListAsync();
        Assert.Equal(queued.Select(g => g.Id), answered);
        Assert.Equal(["a red ball", "a blue cube"], queued.Select(g => g.Prompt));
        Assert.All(queued, g => Assert.Equal(7, g.Seed));
        Assert.All(queued, g => Assert.Equal([(ids.Step10, (int?)null), (null, ids.Student)], g.Images.Select(i => (i.CheckpointId, i.ModelId))));
        Assert.Equal(2, jobs.Created.Count);

        var empty = await Assert.ThrowsAsync<RunActionException>(() => page.RequestAsync(" \n ", new GenerationRequest(""), []));
        Assert.Equal("the prompt is empty", empty.Message);
        Assert.Equal(2, jobs.Created.Count);
    }

    [Fact]
    public async Task SeveralSeedsPerPromptQueueOneGenerationPerPromptAndSeedWithinALimit()
    {
        var (db, jobs, page, ids) = await NewStudioAsync();
        await page.RequestAsync("a red ball\na blue cube", new GenerationRequest("", Seed: 7), [$"c{ids.Step10}"], seeds: 3);
        await using (var context = await db.CreateDbContextAsync())
        {
            var queued = await context.Generations.OrderBy(g => g.Id).Select(g => new { g.Prompt, g.Seed }).ToListAsync();
            Assert.Equal([("a red ball", 7L), ("a red ball", 8L), ("a red ball", 9L), ("a blue cube", 7L), ("a blue cube", 8L), ("a blue cube", 9L)],
                queued.Select(g => (g.Prompt, g.Seed)));
        }
        Assert.Equal(6, jobs.Created.Count);

        var many = await Assert.ThrowsAsync<RunActionException>(() =>
            page.RequestAsync(string.Join("\n", Enumerable.Range(0, 5).Select(i => $"prompt {i}")), new GenerationRequest(""), [], seeds: 16));
        Assert.Equal("5 prompts x 16 seeds = 80 generations: at most 64 at once", many.Message);
        Assert.Equal("seeds: 0 is not between 1 and 16", (await Assert.ThrowsAsync<RunActionException>(() => page.RequestAsync("x", new GenerationRequest(""), [], seeds: 0))).Message);
        Assert.Equal(6, jobs.Created.Count); // nothing more queued
    }

    [Fact]
    public async Task OpenedForACheckpointThePageGeneratesWithItAndTheTeacher()
    {
        var (db, jobs, page, ids) = await NewStudioAsync();
        await using var ctx = PageContext(page, db);
        ctx.Services.GetRequiredService<NavigationManager>().NavigateTo($"/generate?checkpoint={ids.Step20}");
        var cut = ctx.Render<Generate>();

        cut.Find("[data-testid=generate-prompt] textarea, textarea[data-testid=generate-prompt]").Change("a red ball");
        cut.Find("[data-testid=generate-submit]").Click();
        cut.WaitForAssertion(() => Assert.Single(cut.FindAll("[data-testid=generation]")));
        Assert.Equal(["teacher", "run 1 · step 20"], cut.FindAll("[data-testid=generation-image]").Select(i => i.GetAttribute("data-encoder")));
        Assert.Single(jobs.Created);
    }

    /// <summary>
    /// "Open in Generate" fills the form with the checkpoint's run's samples: its prompts, its seeds as far as they run
    /// on consecutively (3, 4; not 9), steps, guidance and the stage's size, so Generate draws the Samples tab again.
    /// </summary>
    [Fact]
    public async Task OpenedForACheckpointTheFormDrawsItsRunsSamplesAgain()
    {
        var (db, jobs, page, ids) = await NewStudioAsync();
        await using (var edit = await db.CreateDbContextAsync())
        {
            var run = await edit.Runs.SingleAsync();
            run.ConfigYaml = """
                name: small
                teacher: { pipeline: toy }
                student: { preset: toy-small }
                stages:
                  - { name: s1, resolution: 96, updates: 40, prompts: [ { set: 'toy:train:24' } ] }
                samples: { every: 20, prompts: ['a red circle', 'two blue stars'], seeds: [3, 4, 9], steps: 12, guidance: 2.5 }
                """;
            await edit.SaveChangesAsync();
        }
        await using var ctx = PageContext(page, db);
        ctx.Services.GetRequiredService<NavigationManager>().NavigateTo($"/generate?checkpoint={ids.Step20}");
        var cut = ctx.Render<Generate>();
        cut.WaitForAssertion(() => Assert.Contains("the run's sample prompts", cut.Markup));
        cut.Find("[data-testid=generate-submit]").Click();
        cut.WaitForAssertion(() => Assert.Equal(4, jobs.Created.Count));
        await using var context = await db.CreateDbContextAsync();
        var queued = await context.Generations.Include(g => g.Images).OrderBy(g => g.Id).ToListAsync();
        Assert.Equal([("a red circle", 3L), ("a red circle", 4L), ("two blue stars", 3L), ("two blue stars", 4L)], queued.Select(g => (g.Prompt, g.Seed)));
        Assert.All(queued, g => Assert.Equal((12, 2.5, 96, 96), (g.Steps, g.Guidance, g.Width, g.Height)));
        Assert.All(queued, g => Assert.Equal([(null, (int?)null), (ids.Step20, null)], g.Images.Select(i => (i.CheckpointId, i.ModelId))));
    }

    /// <summary>The difference heat images come with their key: black the same, white 64/255 or more apart.</summary>
    [Fact]
    public async Task TheDifferenceImagesComeWithTheirKey()
    {
        var (db, _, page, _) = await NewStudioAsync();
        await using var ctx = PageContext(page, db);
        var cut = ctx.Render<Generate>();
        Assert.Empty(cut.FindAll("[data-testid=generate-difference-key]"));
        cut.Find("[data-testid=generate-difference] input, input[data-testid=generate-difference]").Change(true);
        cut.WaitForAssertion(() => Assert.Contains("64/255 or more apart", cut.Find("[data-testid=generate-difference-key]").TextContent));
    }

    /// <summary>An empty prompt is said at the field, as New run says a field's problem, and nothing is queued.</summary>
    [Fact]
    public async Task AnEmptyPromptIsSaidAtTheFieldAndQueuesNothing()
    {
        var (db, jobs, page, _) = await NewStudioAsync();
        await using var ctx = PageContext(page, db);
        var cut = ctx.Render<Generate>();
        cut.Find("[data-testid=generate-submit]").Click();
        cut.WaitForAssertion(() => Assert.Contains("Write a prompt: one generation per line.", cut.Markup));
        Assert.Empty(jobs.Created);
    }

    /// <summary>Students are found by a search (a list of thousands of checkpoints took seconds to open and could not be searched) and generated with.</summary>
    [Fact]
    public async Task AStudentFoundBySearchIsGeneratedWithAndItsChipRemovesIt()
    {
        var (db, jobs, page, ids) = await NewStudioAsync();
        await using var ctx = PageContext(page, db);
        var cut = ctx.Render<Generate>();
        var picker = cut.WaitForElement("[data-testid=generate-checkpoints]");
        var search = cut.FindComponent<MudBlazor.MudAutocomplete<Studio.Web.Components.Inputs.SearchPicker<string>.Option>>();
        var found = (await (search.Instance.SearchFunc!("STEP 1", CancellationToken.None) ?? throw new InvalidOperationException("no search")))!.ToList();
        Assert.Equal([($"c{ids.Step10}", "run 1 (small) · step 10")], found.Select(o => (o.Key, o.Name)));
        await cut.InvokeAsync(() => search.Instance.ValueChanged.InvokeAsync(found[0]));
        cut.WaitForAssertion(() => Assert.Equal(["run 1 (small) · step 10"], cut.FindAll("[data-testid=generate-checkpoints-chip]").Select(c => c.TextContent.Trim())));
        // Chosen: no longer offered.
        Assert.Empty((await (search.Instance.SearchFunc!("step 1", CancellationToken.None) ?? throw new InvalidOperationException("no search")))!);

        cut.Find("[data-testid=generate-prompt] textarea, textarea[data-testid=generate-prompt]").Change("a red ball");
        cut.Find("[data-testid=generate-submit]").Click();
        cut.WaitForAssertion(() => Assert.Single(cut.FindAll("[data-testid=generation]")));
        Assert.Equal(["teacher", "run 1 · step 10"], cut.FindAll("[data-testid=generation-image]").Select(i => i.GetAttribute("data-encoder")));

        await cut.InvokeAsync(() => cut.FindComponent<MudBlazor.MudChip<string>>().Instance.OnClose.InvokeAsync(cut.FindComponent<MudBlazor.MudChip<string>>().Instance));
        cut.WaitForAssertion(() => Assert.Empty(cut.FindAll("[data-testid=generate-checkpoints-chip]")));
    }

    [Fact]
    public async Task ARequestTicksItsGenerationsForTheFigureInPlaceOfTheEarlierOnesAndTicksCanBeChanged()
    {
        var (db, _, page, ids) = await NewStudioAsync();
        await using var ctx = PageContext(page, db);
        var cut = ctx.Render<Generate>();
        string? Figure() => cut.Find("[data-testid=generate-figure]").GetAttribute("href");
        Assert.Contains("Figure of 0 ticked", cut.Find("[data-testid=generate-figure]").TextContent);

        cut.Find("[data-testid=generate-prompt] textarea, textarea[data-testid=generate-prompt]").Change("a red ball\na blue cube");
        cut.Find("[data-testid=generate-submit]").Click();
        cut.WaitForAssertion(() => Assert.Equal(2, cut.FindAll("[data-testid=generation]").Count));
        int[] first;
        await using (var context = await db.CreateDbContextAsync())
            first = await context.Generations.OrderBy(g => g.Id).Select(g => g.Id).ToArrayAsync();
        Assert.Equal($"/api/generations/figure.png?ids={first[0]},{first[1]}", Figure());
        Assert.Contains("Figure of 2 ticked", cut.Find("[data-testid=generate-figure]").TextContent);

        // The next request replaces the ticks; an earlier generation can be ticked back (rows in id order, the prompts' order).
        cut.Find("[data-testid=generate-prompt] textarea, textarea[data-testid=generate-prompt]").Change("a green star");
        cut.Find("[data-testid=generate-submit]").Click();
        cut.WaitForAssertion(() => Assert.Equal(3, cut.FindAll("[data-testid=generation]").Count));
        var third = first[1] + 1;
        Assert.Equal($"/api/generations/figure.png?ids={third}", Figure());
        cut.FindAll("[data-testid=generation-pick] input, input[data-testid=generation-pick]")[2].Change(true); // the oldest, shown last
        Assert.Equal($"/api/generations/figure.png?ids={first[0]},{third}", Figure());
        cut.FindAll("[data-testid=generation-pick] input, input[data-testid=generation-pick]")[0].Change(false);
        Assert.Equal($"/api/generations/figure.png?ids={first[0]}", Figure());
    }

    [Fact]
    public async Task PromptsFromASetFillThePromptBoxACategoryAtATime()
    {
        var (db, jobs, page, _) = await NewStudioAsync();
        var sets = new Studio.Core.Prompts.PromptSetService(db);
        await sets.EnsureBuiltInAsync();
        await using var ctx = PageContext(page, db);
        var popovers = ctx.Render<MudBlazor.MudPopoverProvider>();
        var cut = ctx.Render<Generate>();
        cut.WaitForAssertion(() => cut.Find("[data-testid=generate-from-set] button"), TimeSpan.FromSeconds(15));
        cut.Find("input[data-testid=generate-from-set-count], [data-testid=generate-from-set-count] input").Change("5");
        cut.Find("[data-testid=generate-from-set] button").Click();
        var heldOut = (await sets.ListAsync()).Single(s => s.Name == "toy:heldout");
        popovers.WaitForAssertion(() => popovers.FindAll(".mud-menu-item").Single(i => i.TextContent.Contains("toy:heldout (")).Click(), TimeSpan.FromSeconds(15));

        var expected = await sets.PickAsync(heldOut.Id, 5);
        cut.WaitForAssertion(() => Assert.Equal(string.Join('\n', expected),
            cut.Find("[data-testid=generate-prompt] textarea, textarea[data-testid=generate-prompt]").GetAttribute("value")?.Replace("\r", "")), TimeSpan.FromSeconds(15));
        // The held-out set has every category, so five prompts cover five of them.
        await using var context = await db.CreateDbContextAsync();
        var categories = await context.PromptRows.Where(r => r.PromptSetId == heldOut.Id && expected.Contains(r.Text)).Select(r => r.Category).Distinct().CountAsync();
        Assert.Equal(5, categories);
        Assert.Empty(jobs.Created); // nothing is generated until asked
    }

    [Fact]
    public async Task OpenedForACheckpointThatNoLongerExistsThePageSaysSoAndSelectsNothing()
    {
        var (db, _, page, ids) = await NewStudioAsync();
        await using var ctx = PageContext(page, db);
        var gone = ids.Step20 + 100;
        ctx.Services.GetRequiredService<NavigationManager>().NavigateTo($"/generate?checkpoint={gone}");
        var cut = ctx.Render<Generate>();
        Assert.Contains($"Checkpoint {gone} no longer exists", cut.Find("[data-testid=generate-missing-checkpoint]").TextContent);

        // An id that is no number is a checkpoint that does not exist (Blazor's parsing of an int? threw: the error panel).
        ctx.Services.GetRequiredService<NavigationManager>().NavigateTo("/generate?checkpoint=abc");
        var word = ctx.Render<Generate>();
        Assert.Contains("Checkpoint abc no longer exists", word.Find("[data-testid=generate-missing-checkpoint]").TextContent);

        // An existing one: no warning.
        ctx.Services.GetRequiredService<NavigationManager>().NavigateTo($"/generate?checkpoint={ids.Step20}");
        var found = ctx.Render<Generate>();
        Assert.Empty(found.FindAll("[data-testid=generate-missing-checkpoint]"));
    }

    [Fact]
    public async Task OpenedForACheckpointThePageSelectsTheTeacherItsRunWasTrainedWithOrSaysItIsNotRegistered()
    {
        var (db, jobs, page, _) = await NewStudioAsync();
        var folder = Directory.CreateTempSubdirectory("flux-dev-").FullName;
        int registeredId, withRegistered, withUnregistered;
        await using (var seed = await db.CreateDbContextAsync())
        {
            var flux = new ModelEntry { Name = "flux-dev", Kind = ModelKind.TeacherPipeline, Folder = folder, Architecture = "FluxPipeline" };
            seed.Models.Add(flux);
            var config = Studio.Ml.Distillation.RunPresets.Find("toy").Create();
            config.Teacher.Pipeline = folder + "/"; // as a user may type it
            var trained = new Run { Name = "flux", State = RunState.Completed, ConfigYaml = config.ToYaml() };
            config.Teacher.Pipeline = Path.Combine(folder, "elsewhere");
            var elsewhere = new Run { Name = "other", State = RunState.Completed, ConfigYaml = config.ToYaml() };
            seed.Runs.AddRange(trained, elsewhere);
            await seed.SaveChangesAsync();
            var a = new CheckpointEntry { RunId = trained.Id, Path = Directory.CreateTempSubdirectory("step-").FullName, Step = 5 };
            var b = new CheckpointEntry { RunId = elsewhere.Id, Path = Directory.CreateTempSubdirectory("step-").FullName, Step = 5 };
            seed.Checkpoints.AddRange(a, b);
            await seed.SaveChangesAsync();
            (registeredId, withRegistered, withUnregistered) = (flux.Id, a.Id, b.Id);
        }
        await using var ctx = PageContext(page, db);
        var navigation = ctx.Services.GetRequiredService<NavigationManager>();
        navigation.NavigateTo($"/generate?checkpoint={withRegistered}");
        var cut = ctx.Render<Generate>();
        cut.WaitForAssertion(() => Assert.Single(cut.FindAll("[data-testid=generate-submit]")));
        Assert.Empty(cut.FindAll("[data-testid=generate-unregistered-teacher]"));
        cut.Find("[data-testid=generate-prompt] textarea, textarea[data-testid=generate-prompt]").Change("a red ball");
        cut.Find("[data-testid=generate-submit]").Click();
        cut.WaitForAssertion(() => Assert.Single(jobs.Created));
        await using (var context = await db.CreateDbContextAsync())
        {
            var queued = await context.Generations.Include(g => g.Images).SingleAsync();
            Assert.Equal(registeredId, queued.TeacherModelId); // the run's teacher, not the built-in toy one
            Assert.Equal((64, 64), (queued.Width, queued.Height)); // the size the run drew its samples at (the toy preset's stage), not the teacher's default 512
            Assert.Contains(queued.Images, i => i.CheckpointId == withRegistered);
        }

        navigation.NavigateTo($"/generate?checkpoint={withUnregistered}");
        var other = ctx.Render<Generate>();
        other.WaitForAssertion(() => Assert.Contains(Path.Combine(folder, "elsewhere"), other.Find("[data-testid=generate-unregistered-teacher]").TextContent));
        // Register it from the warning: a folder outside the allowed ones is refused as the Models page refuses it.
        other.Find("[data-testid=generate-register-teacher]").Click();
        other.WaitForAssertion(() => Assert.Contains(ctx.Services.GetRequiredService<MudBlazor.ISnackbar>().ShownSnackbars, b => b.Message != null && b.Message.Contains("outside the allowed folders")));
        Assert.NotEmpty(other.FindAll("[data-testid=generate-unregistered-teacher]"));
    }

    [Fact]
    public async Task TheWarningRegistersTheCheckpointsTeacherAndSelectsIt()
    {
        var (db, jobs, page, ids) = await NewStudioAsync();
        int checkpointId;
        string teacherFolder;
        await using (var seed = await db.CreateDbContextAsync())
        {
            // A FLUX folder inside the data directory (a copy of the toy teacher without its README).
            var data = Path.GetDirectoryName((await seed.Checkpoints.SingleAsync(c => c.Id == ids.Step10)).Path)!;
            teacherFolder = Studio.Tests.RepoRoot.CopyToyTeacherWithoutReadme(Path.Combine(data, "flux-like"));
            var config = Studio.Ml.Distillation.RunPresets.Find("toy").Create();
            config.Teacher.Pipeline = teacherFolder;
            var run = new Run { Name = "flux-like", State = RunState.Completed, ConfigYaml = config.ToYaml() };
            seed.Runs.Add(run);
            await seed.SaveChangesAsync();
            var checkpoint = new CheckpointEntry { RunId = run.Id, Path = Directory.CreateDirectory(Path.Combine(data, "flux-like-step-5")).FullName, Step = 5 };
            seed.Checkpoints.Add(checkpoint);
            await seed.SaveChangesAsync();
            checkpointId = checkpoint.Id;
        }
        await using var ctx = PageContext(page, db);
        ctx.Services.GetRequiredService<NavigationManager>().NavigateTo($"/generate?checkpoint={checkpointId}");
        var cut = ctx.Render<Generate>();
        cut.WaitForAssertion(() => cut.Find("[data-testid=generate-register-teacher]"));
        cut.Find("[data-testid=generate-register-teacher]").Click();
        cut.WaitForAssertion(() => Assert.Empty(cut.FindAll("[data-testid=generate-unregistered-teacher]")));
        cut.Find("[data-testid=generate-prompt] textarea, textarea[data-testid=generate-prompt]").Change("a red ball");
        cut.Find("[data-testid=generate-submit]").Click();
        cut.WaitForAssertion(() => Assert.Single(jobs.Created));
        await using var context = await db.CreateDbContextAsync();
        var registered = await context.Models.SingleAsync(m => m.Folder == teacherFolder);
        Assert.Equal(ModelKind.TeacherPipeline, registered.Kind);
        Assert.Equal(registered.Id, (await context.Generations.SingleAsync()).TeacherModelId);
    }

    [Fact]
    public async Task UseTheseSettingsPutsAPastGenerationBackInTheFormWithoutEncodersThatAreGone()
    {
        var (db, jobs, page, ids) = await NewStudioAsync();
        await page.RequestAsync("a purple cross", new GenerationRequest("", Seed: 42, Steps: 7, Guidance: 2.5, Width: 80, Height: 96, IncludeTeacher: false,
            TrueCfgScale: 2, NegativePrompt: "blurry"), [$"c{ids.Step10}", $"m{ids.Student}"]);
        await using (var context = await db.CreateDbContextAsync())
        {
            context.Checkpoints.Remove(await context.Checkpoints.SingleAsync(c => c.Id == ids.Step10)); // rotated away since
            await context.SaveChangesAsync();
        }
        await using var ctx = PageContext(page, db);
        var cut = ctx.Render<Generate>();
        cut.WaitForAssertion(() => Assert.Single(cut.FindAll("[data-testid=generation]")));

        const string includeTeacher = "[data-testid=generate-include-teacher] input, input[data-testid=generate-include-teacher]";
        Assert.True(cut.Find(includeTeacher).HasAttribute("checked"), "the teacher's encoder is not ticked by default");
        cut.Find("[data-testid=generation-reuse]").Click();
        string Value(string testId) => cut.Find($"[data-testid={testId}] input, input[data-testid={testId}], [data-testid={testId}] textarea, textarea[data-testid={testId}]").GetAttribute("value") ?? "";
        cut.WaitForAssertion(() => Assert.Equal("a purple cross", Value("generate-prompt")));
        Assert.Equal(("42", "7", "2", "blurry"), (Value("generate-seed"), Value("generate-steps"), Value("generate-true-cfg"), Value("generate-negative-prompt")));
        Assert.Equal(["tiny (exported student)"], cut.FindAll("[data-testid=generate-checkpoints-chip]").Select(c => c.TextContent.Trim())); // the deleted checkpoint is left out
        Assert.False(cut.Find(includeTeacher).HasAttribute("checked"));

        // Generating again asks for the same settings with the encoders that remain.
        cut.Find("[data-testid=generate-submit]").Click();
        cut.WaitForAssertion(() => Assert.Equal(2, cut.FindAll("[data-testid=generation]").Count));
        await using var check = await db.CreateDbContextAsync();
        var again = await check.Generations.Include(g => g.Images).OrderBy(g => g.Id).LastAsync();
        Assert.Equal(("a purple cross", 42L, 7, 2.5, 80, 96, 2.0, "blurry"),
            (again.Prompt, again.Seed, again.Steps, again.Guidance, again.Width, again.Height, again.TrueCfgScale, again.NegativePrompt));
        Assert.Equal([(null, (int?)ids.Student)], again.Images.Select(i => (i.CheckpointId, i.ModelId)));
    }

    [Fact]
    public async Task TheHistoryShowsTheNewestFiftyThenOlderOnesOnRequest()
    {
        var (db, _, page, _) = await NewStudioAsync();
        await using (var context = await db.CreateDbContextAsync())
        {
            context.Generations.AddRange(Enumerable.Range(1, GenerateService.HistoryPage + 1)
                .Select(i => new Generation { Prompt = $"prompt {i:000}", State = GenerationState.Completed, Steps = 20, Width = 64, Height = 64 }));
            await context.SaveChangesAsync();
        }
        await using var ctx = PageContext(page, db);
        var cut = ctx.Render<Generate>();
        cut.WaitForAssertion(() => Assert.Equal(GenerateService.HistoryPage, cut.FindAll("[data-testid=generation]").Count), TimeSpan.FromSeconds(15));
        Assert.Contains("prompt 051", cut.FindAll("[data-testid=generation]")[0].TextContent); // newest first
        Assert.Contains("prompt 002", cut.FindAll("[data-testid=generation]")[^1].TextContent);
        Assert.DoesNotContain(cut.FindAll("[data-testid=generation]"), g => g.TextContent.Contains("prompt 001"));

        cut.Find("[data-testid=generate-older]").Click();
        cut.WaitForAssertion(() => Assert.Equal(GenerateService.HistoryPage + 1, cut.FindAll("[data-testid=generation]").Count), TimeSpan.FromSeconds(15));
        Assert.Empty(cut.FindAll("[data-testid=generate-older]"));
    }

    [Fact]
    public async Task AQueuedGenerationIsCancelledFromTheHistory()
    {
        var (db, jobs, page, _) = await NewStudioAsync();
        await page.RequestAsync("a red ball", new GenerationRequest(""), []);
        await using var ctx = PageContext(page, db);
        var cut = ctx.Render<Generate>();
        cut.WaitForAssertion(() => Assert.Equal("Queued", cut.Find("[data-testid=generation]").GetAttribute("data-state")));

        cut.Find("[data-testid=generation-cancel]").Click();
        cut.WaitForAssertion(() => Assert.Equal("Cancelled", cut.Find("[data-testid=generation]").GetAttribute("data-state")));
        Assert.Empty(cut.FindAll("[data-testid=generation-cancel]"));
        Assert.Single(jobs.Changed);
    }

    [Fact]
    public async Task ThePageSendsTrueCfgAndTheNegativePromptAndTheHistoryShowsThem()
    {
        var (db, jobs, page, _) = await NewStudioAsync();
        await using var ctx = PageContext(page, db);
        var cut = ctx.Render<Generate>();

        const string negative = "[data-testid=generate-negative-prompt] input, input[data-testid=generate-negative-prompt]";
        Assert.True(cut.Find(negative).HasAttribute("disabled"), "the negative prompt is editable while true CFG is off");
        cut.Find("[data-testid=generate-prompt] textarea, textarea[data-testid=generate-prompt]").Change("a red ball");
        cut.Find("[data-testid=generate-true-cfg] input, input[data-testid=generate-true-cfg]").Change("3");
        cut.WaitForAssertion(() => Assert.False(cut.Find(negative).HasAttribute("disabled")));
        cut.Find(negative).Change("a blue cube");
        cut.Find("[data-testid=generate-submit]").Click();

        cut.WaitForAssertion(() => Assert.Single(cut.FindAll("[data-testid=generation]")));
        Assert.Contains("true CFG 3 (negative: 'a blue cube')", cut.Find("[data-testid=generation]").TextContent);
        await using var context = await db.CreateDbContextAsync();
        var stored = await context.Generations.SingleAsync();
        Assert.Equal(("a red ball", 3.0, "a blue cube"), (stored.Prompt, stored.TrueCfgScale, stored.NegativePrompt));
        Assert.Single(jobs.Created);
    }

    [Fact]
    public async Task ThePageSendsALoraWithItsScaleTheHistoryShowsItAndUseTheseSettingsPutsItBack()
    {
        var (db, jobs, _, _) = await NewStudioAsync();
        var allowed = Directory.CreateTempSubdirectory("studio-web-lora-").FullName;
        var options = new StudioOptions { DataDirectory = allowed };
        var page = new GenerateService(db, new ModelService(db, new PathGuard(options)), new GenerationService(db, jobs, new GenerationFeed(), options), options);
        var lora = Studio.Core.Tests.LoraFiles.Query(allowed);
        await using var ctx = PageContext(page, db);
        var cut = ctx.Render<Generate>();

        const string scale = "[data-testid=generate-lora-scale] input, input[data-testid=generate-lora-scale]";
        Assert.True(cut.Find(scale).HasAttribute("disabled"), "the LoRA scale is editable without a LoRA");
        cut.Find("[data-testid=generate-prompt] textarea, textarea[data-testid=generate-prompt]").Change("a red ball");
        // The field offers the LoRA files of the allowed folders (not other safetensors files); one is chosen.
        File.WriteAllBytes(Path.Combine(allowed, "weights.safetensors"), [8, 0, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'}', 32, 32, 32, 32, 32, 32]);
        var field = cut.FindComponents<MudBlazor.MudAutocomplete<string>>().Single(c => c.Instance.Label!.StartsWith("LoRA"));
        async Task<List<string>> Suggest(string text) => [.. await field.Instance.SearchFunc!(text, CancellationToken.None)!];
        Assert.Equal([lora], await Suggest(Path.GetFileName(lora)![..8]));
        Assert.Equal([lora], await Suggest(""));
        Assert.Empty(await Suggest("no-such-name"));
        Task Choose(string? path) => cut.InvokeAsync(() => cut.FindComponents<MudBlazor.MudAutocomplete<string>>().Single(c => c.Instance.Label!.StartsWith("LoRA")).Instance.ValueChanged.InvokeAsync(path));
        await Choose(lora);
        cut.WaitForAssertion(() => Assert.False(cut.Find(scale).HasAttribute("disabled")));
        cut.Find(scale).Change("0.5");
        cut.Find("[data-testid=generate-submit]").Click();

        cut.WaitForAssertion(() => Assert.Single(cut.FindAll("[data-testid=generation]")));
        Assert.Contains($"LoRA {Path.GetFileName(lora)} × 0.5", cut.Find("[data-testid=generation]").TextContent);
        await using (var context = await db.CreateDbContextAsync())
            Assert.Equal((lora, 0.5), ((await context.Generations.SingleAsync()).LoraPath, (await context.Generations.SingleAsync()).LoraScale));

        // Cleared, then put back by "Use these settings" (and asked for again).
        await Choose(null);
        cut.WaitForAssertion(() => Assert.True(cut.Find(scale).HasAttribute("disabled")));
        cut.Find("[data-testid=generation-reuse]").Click();
        cut.WaitForAssertion(() => Assert.False(cut.Find(scale).HasAttribute("disabled")));
        cut.Find("[data-testid=generate-submit]").Click();
        cut.WaitForAssertion(() => Assert.Equal(2, cut.FindAll("[data-testid=generation]").Count));
        await using (var context = await db.CreateDbContextAsync())
            Assert.Equal(lora, (await context.Generations.OrderBy(g => g.Id).LastAsync()).LoraPath);

        // A LoRA the studio refuses is named, and nothing more is queued.
        await Choose(Path.Combine(allowed, "gone.safetensors"));
        cut.Find("[data-testid=generate-submit]").Click();
        Assert.Equal(2, jobs.Created.Count);
    }

    [Fact]
    public async Task AnSd3TeacherAsksForItsCfgScaleAndNegativePromptAndOffersNoTrueCfg()
    {
        var (db, jobs, page, _) = await NewStudioAsync();
        int sd3Id;
        await using (var seed = await db.CreateDbContextAsync())
        {
            var folder = Directory.CreateTempSubdirectory("sd3-teacher-").FullName;
            File.WriteAllText(Path.Combine(folder, "model_index.json"), """{"_class_name": "StableDiffusion3Pipeline"}""");
            var sd3 = new ModelEntry { Name = "sd3.5-medium", Kind = ModelKind.TeacherPipeline, Folder = folder, Architecture = "StableDiffusion3Pipeline" };
            seed.Models.Add(sd3);
            await seed.SaveChangesAsync();
            sd3Id = sd3.Id;
        }
        await using var ctx = PageContext(page, db);
        var cut = ctx.Render<Generate>();
        cut.WaitForAssertion(() => Assert.NotEmpty(cut.FindAll("[data-testid=generate-true-cfg]")));
        var teacher = cut.FindComponents<MudBlazor.MudSelect<int?>>().Single(c => c.Instance.Label == "Teacher pipeline");
        await cut.InvokeAsync(() => teacher.Instance.ValueChanged.InvokeAsync(sd3Id));

        // No true-CFG field; the negative prompt is always used, and the guidance is named for what SD3 does with it.
        cut.WaitForAssertion(() => Assert.Empty(cut.FindAll("[data-testid=generate-true-cfg]")));
        const string negative = "[data-testid=generate-negative-prompt] input, input[data-testid=generate-negative-prompt]";
        Assert.False(cut.Find(negative).HasAttribute("disabled"));
        Assert.Contains(cut.FindComponents<MudBlazor.MudNumericField<double>>(), f => f.Instance.Label == "Guidance (CFG scale)");
        cut.Find("[data-testid=generate-prompt] textarea, textarea[data-testid=generate-prompt]").Change("a red ball");
        cut.Find(negative).Change("blurry");
        cut.Find("[data-testid=generate-submit]").Click();

        cut.WaitForAssertion(() => Assert.Single(cut.FindAll("[data-testid=generation]")));
        Assert.Contains("negative: 'blurry'", cut.Find("[data-testid=generation]").TextContent);
        await using var context = await db.CreateDbContextAsync();
        var stored = await context.Generations.SingleAsync();
        Assert.Equal((sd3Id, 1.0, "blurry"), (stored.TeacherModelId!.Value, stored.TrueCfgScale, stored.NegativePrompt));
        Assert.Single(jobs.Created);
    }

    /// <summary>A bUnit context serving the Generate page to a researcher.</summary>
    static BunitContext PageContext(GenerateService page, IDbContextFactory<StudioDbContext> db)
    {
        var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        ctx.Services.AddSingleton(page);
        ctx.Services.AddSingleton(new Studio.Core.Prompts.PromptSetService(db));
        ctx.Services.AddSingleton(new GenerationFeed());
        ctx.AddAuthorization().SetAuthorized("rhea").SetPolicies(StudioRoles.CanChange);
        return ctx;
    }
}
