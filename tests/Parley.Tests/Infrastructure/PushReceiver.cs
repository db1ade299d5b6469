using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Parley.Tests.Infrastructure;

/// <summary>One POST a push endpoint got: the path it was posted to (which target), its push id header and its body.</summary>
public sealed record ReceivedPush(string Path, string? PushId, byte[] Body)
{
    public JsonNode Json { get; } = JsonNode.Parse(Body)!;

    public string? UserId => (string?)Json["userId"];

    public string? ConversationId => (string?)Json["conversationId"];

    public long Seq => (long)Json["seq"]!;
}

/// <summary>
/// A real push endpoint (what a UnifiedPush distributor or a gateway would be): a Kestrel app on a loopback port that
/// records every POST under any path and answers what <see cref="Handler"/> says (default 200). Each target a test
/// registers gets its own path (<see cref="Endpoint"/>), so pushes tell which target they went to.
/// </summary>
public sealed class PushReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<ReceivedPush> _all = [];
    private TaskCompletionSource _arrival = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private PushReceiver(WebApplication app) => _app = app;

    public string BaseUrl { get; private set; } = "";

    public int Port => new Uri(BaseUrl).Port;

    /// <summary>How to answer a POST (after it is recorded); null: 200.</summary>
    public Func<ReceivedPush, HttpContext, Task>? Handler { get; set; }

    public IReadOnlyList<ReceivedPush> All
    {
        get
        {
            lock (_all)
            {
                return [.. _all];
            }
        }
    }

    /// <summary>An endpoint URL of this receiver with its own path.</summary>
    public string Endpoint(string name) => $"{BaseUrl}/push/{name}";

    /// <summary>What a server needs to push here over http:// (the receiver's host is allowed).</summary>
    public static string[] ServerArgs(params string[] more) =>
    [
        "--Push:AllowedInsecureHosts:0=127.0.0.1", "--Webhooks:PollMs=20", "--Push:RetryBaseMs=20", "--Push:RetryMaxSeconds=1", .. more,
    ];

    public static async Task<PushReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        var app = builder.Build();
        var receiver = new PushReceiver(app);
        app.MapPost("/{**path}", async context =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            var push = new ReceivedPush(context.Request.Path.Value ?? "", context.Request.Headers["X-Parley-Push-Id"].ToString(), buffer.ToArray());
            lock (receiver._all)
            {
                receiver._all.Add(push);
                receiver._arrival.TrySetResult();
                receiver._arrival = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            if (receiver.Handler is { } handler)
            {
                await handler(push, context);
            }
        });
        await app.StartAsync();
        receiver.BaseUrl = app.Urls.First();
        return receiver;
    }

    /// <summary>The pushes posted to the endpoint named <paramref name="name"/>, so far.</summary>
    public List<ReceivedPush> To(string name) => All.Where(p => p.Path == "/push/" + name).ToList();

    /// <summary>The first push (recorded before or after this call) that matches, within the wait.</summary>
    public async Task<ReceivedPush> FirstAsync(Func<ReceivedPush, bool> where, string what, TimeSpan? wait = null)
    {
        var deadline = DateTime.UtcNow + (wait ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            Task arrival;
            lock (_all)
            {
                if (_all.FirstOrDefault(where) is { } push)
                {
                    return push;
                }

                arrival = _arrival.Task;
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || await Task.WhenAny(arrival, Task.Delay(left)) != arrival)
            {
                throw new TimeoutException($"no push {what} arrived; got: {string.Join(", ", All.Select(p => p.Path + " " + System.Text.Encoding.UTF8.GetString(p.Body)))}");
            }
        }
    }

    /// <summary>The first push to the endpoint <paramref name="name"/> for seq <paramref name="seq"/> of the conversation.</summary>
    public Task<ReceivedPush> FirstAsync(string name, string conversationId, long seq) =>
        FirstAsync(p => p.Path == "/push/" + name && p.ConversationId == conversationId && p.Seq == seq, $"to {name} for {conversationId}#{seq}");

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(timeout.Token);
        await _app.DisposeAsync();
    }
}
