using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/Parley.Bench.Micro -- --filter '*' [--job short]
BenchmarkSwitcher.FromAssembly(typeof(Parley.Bench.Micro.ParseBenchmarks).Assembly).Run(args);
