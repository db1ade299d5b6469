using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Parley.Server;

namespace Parley.Tests.Infrastructure;

/// <summary>A Parley server the tests talk to over HTTP and WebSocket, in-process or as a child process.</summary>
public abstract class ApiHost
{
    protected ApiHost(Uri baseUri)
    {
        BaseUri = baseUri;
        Http = NewClient();
    }

    public Uri BaseUri { get; }

    /// <summary>An anonymous client; add a bearer header per request with <see cref="Send"/>.</summary>
    public HttpClient Http { get; }

    public HttpClient NewClient() => new() { BaseAddress = BaseUri, Timeout = TimeSpan.FromSeconds(30) };

    public Task<HttpResponseMessage> Send(HttpMethod method, string path, string? accessToken = null, object? body = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (accessToken is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        }

        if (body is not null)
        {
            request.Content = body is JsonNode node ? JsonContent.Create(node) : JsonContent.Create(body);
        }

        return Http.SendAsync(request);
    }
}

/// <summary>A real Parley host on Kestrel, on a loopback port, over a <see cref="TestStore"/>.</summary>
public sealed class ParleyServer : ApiHost, IAsyncDisposable
{
    private ParleyServer(WebApplication app, Uri baseUri)
        : base(baseUri)
    {
        App = app;
    }

    public WebApplication App { get; }

    public static Task<ParleyServer> StartAsync(TestStore store, TimeProvider? time = null, params string[] extraArgs) =>
        StartAsync(store, time, null, extraArgs);

    /// <summary>Starts a server; <paramref name="services"/> may add or replace services (a notification recorder).</summary>
    public static async Task<ParleyServer> StartAsync(TestStore store, TimeProvider? time, Action<IServiceCollection>? services, params string[] extraArgs)
    {
        string[] args =
        [
            .. store.Args,
            "--urls=http://127.0.0.1:0",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Warning",
            .. extraArgs,
        ];
        var app = await ParleyApp.CreateAsync(args, builder =>
        {
            if (time is not null)
            {
                builder.Services.AddSingleton(time);
            }

            services?.Invoke(builder.Services);
        });
        await app.StartAsync();
        return new ParleyServer(app, new Uri(app.Urls.First()));
    }

    public T Service<T>()
        where T : notnull => App.Services.GetRequiredService<T>();

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await App.StopAsync(timeout.Token);
        await App.DisposeAsync();
    }
}
