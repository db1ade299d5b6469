using Microsoft.Extensions.DependencyInjection;

namespace Parley.Tests.Infrastructure;

/// <summary>
/// One server per test class and backend. Tests share it but never share data: each makes its own users.
/// On PostgreSQL without <c>PARLEY_TEST_POSTGRES</c> nothing starts and every test reports itself skipped.
/// </summary>
public abstract class ServerFixture : IAsyncLifetime
{
    private TestStore? _store;
    private ParleyServer? _server;

    public abstract Backend Backend { get; }

    /// <summary>Settings a fixture of its own adds to the ones below (short call timers, say).</summary>
    protected virtual string[] ExtraArgs => [];

    public bool Available => Backend == Backend.Sqlite || TestStore.PostgresAdminConnectionString is not null;

    public ParleyServer Server => _server ?? throw new InvalidOperationException("The server did not start.");

    /// <summary>Every notification this class's server published.</summary>
    public NotificationRecorder Notifications { get; } = new();

    /// <summary>What this class's server logged at Warning and above.</summary>
    public LogRecorder Logs { get; } = new();

    public async ValueTask InitializeAsync()
    {
        if (Available)
        {
            _store = await TestStore.CreateAsync(Backend);
            // Every test of the class comes from 127.0.0.1 and sends in bursts: per-address, send-rate and hourly per-user limits
            // are raised so that tests do not throttle each other; the limits themselves are tested on servers
            // of their own.
            _server = await ParleyServer.StartAsync(
                _store,
                null,
                services => services.AddSingleton<Parley.Server.Events.INotificationSink>(Notifications).AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(Logs),
                [
                    "--Auth:LoginFailuresPerAddress=1000000",
                    "--Auth:RegistrationsPerAddress=1000000",
                    "--Messaging:SendBurst=1000000",
                    "--Messaging:SendRatePerSecond=1000000",
                    "--Files:UploadsPerMinute=1000000",
                    "--Files:ConcurrentUploadsPerUser=1000",
                    "--Groups:CreationsPerHour=1000000",
                    "--Social:FriendRequestsPerHour=1000000",
                    "--Groups:JoinRequestsPerHour=1000000",
                    // An upload waits for its thumbnail however busy the machine, so upload answers are the same every run.
                    "--Files:ProcessingWaitSeconds=600",
                    // A registration waits for a password-hash turn however busy the machine (the 2 s default answered
                    // 503 to a burst of registrations on a loaded CI box); the gate itself is tested on servers of its own.
                    "--Auth:HashQueueWaitMs=600000",
                    .. ExtraArgs,
                ]);
        }
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

        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteFixture : ServerFixture
{
    public override Backend Backend => Backend.Sqlite;
}

public sealed class PostgresFixture : ServerFixture
{
    public override Backend Backend => Backend.Postgres;
}

/// <summary>Base of test classes that run once per backend.</summary>
public abstract class BackendTests(ServerFixture fixture) : IAsyncLifetime
{
    protected ParleyServer Server => fixture.Server;

    protected Backend Backend => fixture.Backend;

    protected NotificationRecorder Notifications => fixture.Notifications;

    protected LogRecorder Logs => fixture.Logs;

    public virtual ValueTask InitializeAsync()
    {
        Assert.SkipUnless(fixture.Available, TestStore.SkipReason);
        return ValueTask.CompletedTask;
    }

    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}

/// <summary>Base of test classes whose tests start their own servers (restarts, moved clocks).</summary>
public abstract class OwnServerTests(Backend backend) : IAsyncLifetime
{
    protected Backend Backend => backend;

    public ValueTask InitializeAsync()
    {
        Assert.SkipUnless(backend == Backend.Sqlite || TestStore.PostgresAdminConnectionString is not null, TestStore.SkipReason);
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}
