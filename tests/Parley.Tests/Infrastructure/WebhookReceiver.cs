using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Parley.Tests.Infrastructure;

/// <summary>One POST the receiver got: the raw body, its event header, and whether its signature verified with the secret.</summary>
public sealed record ReceivedHook(byte[] Body, string? Event, string? Signature, bool SignatureValid)
{
    public JsonNode Json { get; } = JsonNode.Parse(Body)!;

    public string Id => (string)Json["id"]!;

    public string Type => (string)Json["type"]!;

    public JsonNode Data => Json["data"]!;
}

/// <summary>
/// A real webhook receiver: a Kestrel app on a loopback port that records every POST (verifying
/// X-Parley-Signature with the secret the way a receiver would) and answers what <see cref="Handler"/> says.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    public const string Secret = "test-webhook-secret";

    private readonly WebApplication _app;
    private TaskCompletionSource _arrival = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<ReceivedHook> _all = [];

    private WebhookReceiver(WebApplication app)
    {
        _app = app;
    }

    public string Url { get; private set; } = "";

    /// <summary>How to answer a POST (default 200 with an accept); runs after it is recorded.</summary>
    public Func<ReceivedHook, HttpContext, Task>? Handler { get; set; }

    public IReadOnlyList<ReceivedHook> All
    {
        get
        {
            lock (_all)
            {
                return [.. _all];
            }
        }
    }

    /// <summary>The settings that point a server at this receiver.</summary>
    public string[] ServerArgs(params string[] more) =>
    [
        $"--Webhooks:Url={Url}", $"--Webhooks:Secret={Secret}", "--Webhooks:PollMs=20", "--Webhooks:RetryBaseMs=20", "--Webhooks:RetryMaxSeconds=1",
        .. more,
    ];

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.MapPost("/{**path}", async context =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            var body = buffer.ToArray();
            var signature = context.Request.Headers["X-Parley-Signature"].ToString();
            var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), body));
            var hook = new ReceivedHook(
                body,
                context.Request.Headers["X-Parley-Event"].ToString(),
                signature,
                CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(signature), Encoding.ASCII.GetBytes(expected)));
            lock (receiver._all)
            {
                receiver._all.Add(hook);
                receiver._arrival.TrySetResult();
                receiver._arrival = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            if (receiver.Handler is { } handler)
            {
                await handler(hook, context);
            }
            else
            {
                await context.Response.WriteAsync("""{"action":"accept"}""");
            }
        });
        await app.StartAsync();
        receiver.Url = app.Urls.First() + "/hooks";
        return receiver;
    }

    /// <summary>The first POST recorded (before or after this call) that matches, within the wait.</summary>
    public async Task<ReceivedHook> FirstAsync(Func<ReceivedHook, bool> where, TimeSpan? wait = null, string? what = null)
    {
        var deadline = DateTime.UtcNow + (wait ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            Task arrival;
            lock (_all)
            {
                if (_all.FirstOrDefault(where) is { } hook)
                {
                    return hook;
                }

                arrival = _arrival.Task;
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || await Task.WhenAny(arrival, Task.Delay(left)) != arrival)
            {
                throw new TimeoutException($"no webhook {what} arrived; got: {string.Join(", ", All.Select(h => h.Event))}");
            }
        }
    }

    /// <summary>The first event of <paramref name="type"/> that matches.</summary>
    public Task<ReceivedHook> FirstAsync(string type, Func<ReceivedHook, bool>? where = null, TimeSpan? wait = null) =>
        FirstAsync(h => h.Event == type && h.Type == type && (where is null || where(h)), wait, type);

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(timeout.Token);
        await _app.DisposeAsync();
    }
}
