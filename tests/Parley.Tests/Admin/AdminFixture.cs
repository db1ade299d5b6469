using Microsoft.Extensions.DependencyInjection;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Admin;

/// <summary>
/// A server with an admin key and a blocked-words file (reject mode), one per test class and backend; the tests
/// make their own users. The words file is this fixture's own.
/// </summary>
public abstract class AdminFixture : IAsyncLifetime
{
    public const string Key = "test-admin-key-0123456789abcdef";
    public const string OtherKey = "second-admin-key-abcdef0123456789";

    private TestStore? _store;
    private ParleyServer? _server;

    public abstract Backend Backend { get; }

    public bool Available => Backend == Backend.Sqlite || TestStore.PostgresAdminConnectionString is not null;

    public ParleyServer Server => _server ?? throw new InvalidOperationException("The server did not start.");

    public string WordsFile { get; } = Path.Combine(Path.GetTempPath(), "parley-tests", "words-" + Guid.NewGuid().ToString("N") + ".txt");

    public const int ReportsPerHour = 5;

    public async ValueTask InitializeAsync()
    {
        if (!Available)
        {
            return;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(WordsFile)!);
        await File.WriteAllLinesAsync(WordsFile, ["# comment lines are skipped", "badword", "Ass", "坏话", "bad phrase"]);
        _store = await TestStore.CreateAsync(Backend);
        _server = await ParleyServer.StartAsync(
            _store,
            null,
            (Action<IServiceCollection>?)null,
            $"--Admin:ApiKeys:0={Key}",
            $"--Admin:ApiKeys:1={OtherKey}",
            $"--Moderation:BlockedWords={WordsFile}",
            "--Moderation:Action=reject",
            $"--Moderation:ReportsPerHour={ReportsPerHour}",
            "--Auth:LoginFailuresPerAddress=1000000",
            "--Auth:RegistrationsPerAddress=1000000",
            "--Messaging:SendBurst=1000000",
            "--Messaging:SendRatePerSecond=1000000",
            "--Groups:CreationsPerHour=1000000",
            "--Social:FriendRequestsPerHour=1000000");
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        File.Delete(WordsFile);
        GC.SuppressFinalize(this);
    }
}

public sealed class AdminSqliteFixture : AdminFixture
{
    public override Backend Backend => Backend.Sqlite;
}

public sealed class AdminPostgresFixture : AdminFixture
{
    public override Backend Backend => Backend.Postgres;
}

/// <summary>Calls of the admin API with a key.</summary>
public static class AdminApi
{
    public static Task<HttpResponseMessage> Admin(this ApiHost server, HttpMethod method, string path, object? body = null, string? key = AdminFixture.Key)
    {
        var request = new HttpRequestMessage(method, path);
        if (key is not null)
        {
            request.Headers.Add("X-Api-Key", key);
        }

        if (body is not null)
        {
            request.Content = body is System.Text.Json.Nodes.JsonNode node ? System.Net.Http.Json.JsonContent.Create(node) : System.Net.Http.Json.JsonContent.Create(body);
        }

        return server.Http.SendAsync(request);
    }
}
