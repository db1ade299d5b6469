using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Parley.Bench;

/// <summary>
/// A before-send hook (and event) receiver for the thru figure with a hook: Kestrel on a loopback port, answering
/// every message.before_send with accept after a fixed delay (the app server's own work), and events with 204.
/// It points the server at itself through the options' server settings.
/// </summary>
public sealed class HookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private long _questions;
    private long _events;

    private HookReceiver(WebApplication app) => _app = app;

    public long Questions => Interlocked.Read(ref _questions);

    public long Events => Interlocked.Read(ref _events);

    public static async Task<HookReceiver> StartAsync(int delayMs, BenchOptions options)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        var app = builder.Build();
        var receiver = new HookReceiver(app);
        var accept = "{\"action\":\"accept\"}"u8.ToArray();
        app.MapPost("/hook", async context =>
        {
            if (context.Request.Headers["X-Parley-Event"] == "message.before_send")
            {
                Interlocked.Increment(ref receiver._questions);
                await Task.Delay(delayMs, context.RequestAborted); // the app server's work on the message
                context.Response.ContentType = "application/json";
                await context.Response.Body.WriteAsync(accept, context.RequestAborted);
            }
            else
            {
                Interlocked.Increment(ref receiver._events);
                context.Response.StatusCode = 204;
            }
        });
        await app.StartAsync();
        options.ServerArgs.Add($"--Webhooks:Url={app.Urls.First()}/hook");
        options.ServerArgs.Add("--Webhooks:Secret=bench-secret");
        options.ServerArgs.Add("--Webhooks:BeforeSend=true");
        options.ServerArgs.Add("--Webhooks:Events:0=" + (options.HookEvents ? "message.created" : "group.dissolved"));
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
