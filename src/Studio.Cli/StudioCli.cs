using System.CommandLine;
using System.Reflection;

namespace Studio.Cli;

/// <summary>The `studio` command tree. Each verb lives in its own file under Commands/ and is added here.</summary>
public static class StudioCli
{
    /// <summary>`--verbose`, on every verb: a failure also prints its stack trace after the one-line reason.</summary>
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "On a failure, also print the stack trace", Recursive = true };

    public static RootCommand Build()
    {
        var root = new RootCommand("Distill Studio: distil the T5 text encoder of FLUX.1 / SD3 into a small student.") { Verbose };
        root.Subcommands.Add(VersionCommand.Create());
        root.Subcommands.Add(FixtureCommand.Create());
        root.Subcommands.Add(ToyCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(TokenizeCommand.Create());
        root.Subcommands.Add(DistillCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(CacheCommand.Create());
        root.Subcommands.Add(SampleCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        return root;
    }

    /// <summary>
    /// Parses and runs a command line. Every failure of every verb ends here: one line `studio VERB: reason` on stderr
    /// (the exception's message, which names the file, field or value at fault) and exit code 1; `--verbose` adds the
    /// stack trace.
    /// </summary>
    public static async Task<int> RunAsync(string[] args, CancellationToken cancel = default)
    {
        var parse = Build().Parse(args);
        if (parse.Errors.Count > 0 && parse.CommandResult.Command is { Subcommands.Count: > 0, Action: null } group && parse.UnmatchedTokens.Count == 0)
        {
            // `studio` or `studio toy` alone: the verbs it offers (its help) on stdout, then the one line, exit 1.
            await Build().Parse([.. args, "--help"]).InvokeAsync(cancellationToken: cancel);
            Console.Error.WriteLine($"{VerbName(parse.CommandResult)}: name one of its commands ({string.Join(", ", group.Subcommands.Select(c => c.Name))})");
            return 1;
        }
        if (parse.Errors.Count > 0)
        {
            // A command line that does not parse (a missing or unknown option, a value of the wrong kind) is a failure
            // like any other: one line, naming what is wrong and where the verb's options are listed.
            var verb = VerbName(parse.CommandResult);
            // An unknown word first: `studio bogus` also lacks a command, but the word is what to fix.
            var error = parse.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parse.Errors[0];
            Console.Error.WriteLine($"{verb}: {InWords(error.Message)} (`{verb} --help` lists the options)");
            return 1;
        }
        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false }, cancel);
        }
        catch (Exception thrown)
        {
            var e = Unwrap(thrown);
            Console.Error.WriteLine($"{VerbName(parse.CommandResult)}: {Reason(e)}");
            if (parse.GetValue(Verbose)) Console.Error.WriteLine(e);
            return 1;
        }
    }

    public static int Run(params string[] args) => RunAsync(args).GetAwaiter().GetResult();

    static Exception Unwrap(Exception e) => e switch
    {
        AggregateException { InnerExceptions.Count: 1 } a => Unwrap(a.InnerExceptions[0]),
        TargetInvocationException { InnerException: { } inner } => Unwrap(inner),
        _ => e,
    };

    /// <summary>
    /// The first line of the message (LibTorch appends its C++ frames on further lines). Errors that are a bug rather
    /// than bad input say so, in words, and point to --verbose.
    /// </summary>
    static string Reason(Exception e)
    {
        var first = e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
        return e switch
        {
            OperationCanceledException => "cancelled",
            NullReferenceException or IndexOutOfRangeException or InvalidCastException or NotImplementedException
                => $"internal error ({first}); run again with --verbose for the details",
            _ => first,
        };
    }

    /// <summary>A parse error with .NET type names said in words: "... for option '--width' as a whole number".</summary>
    static string InWords(string message) => System.Text.RegularExpressions.Regex.Replace(message, @"as expected type '([^']+)'", m =>
    {
        var type = m.Groups[1].Value;
        return "as " + (type.Contains("Int32") || type.Contains("Int64") || type.Contains("Int16") ? "a whole number"
            : type.Contains("Double") || type.Contains("Single") ? "a number"
            : type.Contains("Boolean") ? "true or false"
            : type.Contains("FileInfo") ? "a file path"
            : type.Contains("DirectoryInfo") ? "a folder path"
            : "a value of type " + type.Split('.', '[', ']', '`').Last(t => t.Length > 0));
    });

    static string VerbName(System.CommandLine.Parsing.CommandResult? command)
    {
        var names = new List<string>();
        for (var c = command; c is not null && c.Command is not RootCommand; c = c.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, c.Command.Name);
        return string.Join(' ', ["studio", .. names]);
    }
}
