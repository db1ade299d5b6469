using System.Diagnostics;
using System.IO.Compression;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Parley.Client.Sample;
using Parley.Tests.Cluster;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Client;

public sealed class SampleTestsSqlite(SqliteFixture fixture) : SampleTests(fixture), IClassFixture<SqliteFixture>;

public sealed class SampleTestsPostgres(PostgresFixture fixture) : SampleTests(fixture), IClassFixture<PostgresFixture>;

/// <summary>samples/Parley.Client.Sample, the snippets of docs/client.md, run against a real server.</summary>
public abstract class SampleTests(ServerFixture fixture) : BackendTests(fixture)
{
    [Fact]
    public async Task The_docs_flow_registers_befriends_sends_receives_and_sees_the_receipt()
    {
        var output = new StringWriter();
        var result = await SampleFlow.RunAsync(Server.BaseUri, output, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

        Assert.Equal("hello, Bob", result.Received.AsText());
        Assert.Equal(result.Sent.Seq, result.Received.Seq);
        Assert.Equal(result.Sent.ConversationId, result.Received.ConversationId);
        Assert.True(result.SeenByBob);
        Assert.Contains($"{result.Sent.SenderId}: hello, Bob", output.ToString(), StringComparison.Ordinal);
    }
}

/// <summary>The docs show the sample's code word for word, and <c>dotnet pack</c> makes the package with its README.</summary>
public sealed partial class SampleDocsTests
{
    private static string Root => ScriptRunner.RepositoryRoot;

    [GeneratedRegex(@"#region (\w+)\r?\n(.*?)\r?\n[ \t]*#endregion", RegexOptions.Singleline)]
    private static partial Regex Region();

    [GeneratedRegex(@"<!-- snippet: (\w+) -->\r?\n```csharp\r?\n(.*?)\r?\n```", RegexOptions.Singleline)]
    private static partial Regex Snippet();

    private static string Dedent(string code)
    {
        var lines = code.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var indent = lines.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return string.Join('\n', lines.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart())).Trim('\n');
    }

    private static Dictionary<string, string> Regions() =>
        Region().Matches(File.ReadAllText(Path.Combine(Root, "samples", "Parley.Client.Sample", "SampleFlow.cs")))
            .ToDictionary(m => m.Groups[1].Value, m => Dedent(m.Groups[2].Value));

    [Theory]
    [InlineData("docs/client.md")]
    [InlineData("src/Parley.Client/README.md")]
    public void Every_snippet_is_the_samples_code(string page)
    {
        var regions = Regions();
        var snippets = Snippet().Matches(File.ReadAllText(Path.Combine(Root, page))).ToDictionary(m => m.Groups[1].Value, m => Dedent(m.Groups[2].Value));
        Assert.Equal(["befriend", "content", "receipts", "receive", "register", "send"], snippets.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, code) in snippets)
        {
            Assert.True(regions.TryGetValue(name, out var region), $"{page}: no #region {name} in the sample");
            Assert.Equal(region, code);
        }
    }

    [Fact]
    public async Task Dotnet_pack_makes_the_package_with_its_readme_and_metadata()
    {
        var output = Directory.CreateTempSubdirectory("parley-pack-");
        try
        {
#if DEBUG
            const string Configuration = "Debug";
#else
            const string Configuration = "Release";
#endif
            // --no-build: the test run built the client already (in this configuration); pack only packs it.
            var start = new ProcessStartInfo("dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = Root,
            };
            foreach (var arg in new[] { "pack", Path.Combine(Root, "src", "Parley.Client", "Parley.Client.csproj"), "-c", Configuration, "--no-build", "-nologo", "-o", output.FullName })
            {
                start.ArgumentList.Add(arg);
            }

            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            try
            {
                await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromMinutes(3), TestContext.Current.CancellationToken);
            }
            catch (TimeoutException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }

            var log = await stdout + await stderr;
            Assert.True(process.ExitCode == 0, log);
            Assert.DoesNotContain("warning", log, StringComparison.OrdinalIgnoreCase);

            var package = Assert.Single(output.GetFiles("Parley.Client.*.nupkg"));
            using var zip = ZipFile.OpenRead(package.FullName);
            var readme = zip.GetEntry("README.md");
            Assert.NotNull(readme);
            using (var reader = new StreamReader(readme.Open()))
            {
                Assert.Equal(File.ReadAllText(Path.Combine(Root, "src", "Parley.Client", "README.md")), await reader.ReadToEndAsync(TestContext.Current.CancellationToken));
            }

            Assert.NotNull(zip.GetEntry("lib/net10.0/Parley.Client.dll"));
            Assert.NotNull(zip.GetEntry("lib/net10.0/Parley.Client.xml"));
            using var nuspecStream = zip.GetEntry("Parley.Client.nuspec")!.Open();
            var nuspec = XDocument.Load(nuspecStream);
            var metadata = nuspec.Root!.Elements().Single(e => e.Name.LocalName == "metadata");
            string? Value(string name) => metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value;
            Assert.Equal("Parley.Client", Value("id"));
            Assert.Equal("README.md", Value("readme"));
            Assert.Equal("MIT", Value("license"));
            Assert.False(string.IsNullOrWhiteSpace(Value("description")));
            Assert.NotNull(metadata.Elements().SingleOrDefault(e => e.Name.LocalName == "repository"));
            Assert.Empty(metadata.Elements().Where(e => e.Name.LocalName == "dependencies").Elements().Elements());
        }
        finally
        {
            output.Delete(recursive: true);
        }
    }
}
