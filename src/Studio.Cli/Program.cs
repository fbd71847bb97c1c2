return await Studio.Cli.StudioCli.Build().Parse(args).InvokeAsync();
