using System.Diagnostics;
using System.Globalization;

namespace Parley.Tests.Infrastructure;

/// <summary>One sample of a Prometheus text exposition.</summary>
public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>Reads the Prometheus text format (as /metrics writes it) and runs promtool on it.</summary>
public static class PrometheusText
{
    public static async Task<string> ScrapeAsync(this ApiHost server)
    {
        using var response = await server.Http.GetAsync("/metrics");
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>
    /// Scrapes until <paramref name="done"/> holds (a measurement can land a moment after the client saw its
    /// cause: a request's duration after its response, a socket's close after its last frame); bounded.
    /// </summary>
    public static async Task<string> ScrapeUntilAsync(this ApiHost server, Func<List<Sample>, bool> done, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var text = await server.ScrapeAsync();
            if (done(Parse(text)))
            {
                return text;
            }

            Assert.True(DateTime.UtcNow < deadline, $"/metrics did not show {what} in time:\n{text}");
            await Task.Delay(50); // the next scrape: a measurement landing announces itself to no one
        }
    }

    public static List<Sample> Parse(string text)
    {
        var samples = new List<Sample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            var i = 0;
            while (i < line.Length && line[i] != '{' && line[i] != ' ')
            {
                i++;
            }

            var name = line[..i];
            if (i < line.Length && line[i] == '{')
            {
                i++;
                while (line[i] != '}')
                {
                    var eq = line.IndexOf('=', i);
                    var key = line[i..eq];
                    i = eq + 2; // past ="
                    var value = new System.Text.StringBuilder();
                    while (line[i] != '"')
                    {
                        if (line[i] == '\\')
                        {
                            i++;
                            value.Append(line[i] == 'n' ? '\n' : line[i]);
                        }
                        else
                        {
                            value.Append(line[i]);
                        }

                        i++;
                    }

                    labels[key] = value.ToString();
                    i++; // past "
                    if (line[i] == ',')
                    {
                        i++;
                    }
                }

                i++; // past }
            }

            var parts = line[i..].Trim().Split(' ');
            samples.Add(new Sample(name, labels, parts[0] switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                var v => double.Parse(v, CultureInfo.InvariantCulture),
            }));
        }

        return samples;
    }

    /// <summary>The sum of a metric's samples whose labels include every given pair.</summary>
    public static double Sum(this IEnumerable<Sample> samples, string name, params (string Key, string Value)[] labels) =>
        samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).Sum(s => s.Value);

    /// <summary>Where promtool is on PATH, or null.</summary>
    public static string? Promtool() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(dir => Path.Combine(dir, "promtool")).FirstOrDefault(File.Exists);

    /// <summary>Runs <c>promtool check metrics</c> on the text; returns its exit code and everything it printed.</summary>
    public static async Task<(int ExitCode, string Output)> CheckAsync(string promtool, string text)
    {
        var start = new ProcessStartInfo(promtool)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("check");
        start.ArgumentList.Add("metrics");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(text);
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
