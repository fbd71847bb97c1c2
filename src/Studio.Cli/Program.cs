return await Studio.Cli.StudioCli.RunAsync(args);
