using Parley.Client.Sample;

// dotnet run --project samples/Parley.Client.Sample -- http://localhost:5080
var server = new Uri(args.Length > 0 ? args[0] : "http://localhost:5080");
using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
var result = await SampleFlow.RunAsync(server, Console.Out, timeout.Token);
Console.WriteLine($"Bob got \"{result.Received.AsText()}\" as seq {result.Received.Seq}; Alice sees it read: {result.SeenByBob}");
