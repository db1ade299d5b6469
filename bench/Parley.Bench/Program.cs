using Parley.Bench;

if (args.Length > 0 && args[0] == ConnectWorkers.Flag)
{
    return await ConnectWorkers.RunWorkerAsync(args);
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

await using var hook = options.HookDelayMs is { } delay ? await HookReceiver.StartAsync(delay, options) : null;
var results = await BenchRunner.RunAsync(options, Console.Out, cancel.Token);
if (hook is not null)
{
    Console.WriteLine($"hook receiver: {hook.Questions} before-send questions, {hook.Events} events");
}
var bad = results.Where(r => r.Lost > 0 || r.Duplicated > 0).ToList();
if (bad.Count > 0)
{
    Console.Error.WriteLine($"DELIVERY CHECK FAILED in {string.Join(", ", bad.Select(r => r.Phase))}: lost or duplicated messages");
    return 1;
}

var failedLogins = results.Where(r => r.Phase == "login" && r.Errors > 0).ToList();
if (failedLogins.Count > 0)
{
    Console.Error.WriteLine($"LOGIN CHECK FAILED: {failedLogins.Sum(r => r.Errors)} logins answered neither 200 nor 503");
    return 1;
}

if (results.Any(r => r.Phase != "login"))
{
    Console.WriteLine("delivery check: every acknowledged message reached every intended device exactly once");
}

return 0;
