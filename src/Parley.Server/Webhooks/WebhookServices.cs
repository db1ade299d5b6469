using Microsoft.Extensions.Http.Resilience;
using Polly;
using Parley.Server.Messaging;
using Parley.Storage;
using Parley.Storage.Webhooks;

namespace Parley.Server.Webhooks;

/// <summary>
/// The webhooks' wiring: with Webhooks:Url empty nothing is registered but the options, and the outbox writes nothing
/// (except, when offline notifications are on, the sender that drains their push rows: AddWebhooks' push argument).
/// </summary>
public static class WebhookServices
{
    public static WebhookOptions AddWebhooks(this IServiceCollection services, IConfiguration configuration, bool push = false)
    {
        var options = configuration.GetSection(WebhookOptions.Section).Get<WebhookOptions>() ?? new WebhookOptions();
        options.Validate();
        services.Configure<WebhookOptions>(configuration.GetSection(WebhookOptions.Section));
        if (!options.Enabled)
        {
            if (push)
            {
                AddSender(services); // no WebhookMetrics: the webhooks' instruments stay absent while they are off
            }

            return options;
        }

        services.AddHttpClient(WebhookClient.HttpClientName, client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                AllowAutoRedirect = false, // a 3xx is a failed delivery, never a request to another address
                UseCookies = false,
                MaxResponseHeadersLength = 16, // KiB
                ConnectTimeout = TimeSpan.FromMilliseconds(options.TimeoutMs),
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            })
            .RemoveAllLoggers() // the default handler logs the URL, which may carry a token
            .AddResilienceHandler("webhook", pipeline => pipeline.AddTimeout(TimeSpan.FromMilliseconds(options.TimeoutMs)));
        // A receiver's timeout is the sender's own Information line (with its retry), not an error of Polly's.
        services.Configure<Polly.Telemetry.TelemetryOptions>(o => o.SeverityProvider = e =>
            e.Event.EventName == "OnTimeout" ? Polly.Telemetry.ResilienceEventSeverity.Debug : e.Event.Severity);
        services.AddSingleton<WebhookMetrics>();
        AddSender(services);
        if (options.EventTypes.Contains(WebhookOutbox.MessageCreated))
        {
            // Counts message.created rows as their messages commit (the appenders write them without a call).
            services.AddSingleton<IPostCommitSink>(sp => sp.GetRequiredService<WebhookMetrics>());
        }

        var types = options.EventTypes;
        if (types.Contains(WebhookOutbox.UserOnline) || types.Contains(WebhookOutbox.UserOffline))
        {
            services.AddSingleton<WebhookPresence>();
            services.AddSingleton<IPostCommitSink>(sp => sp.GetRequiredService<WebhookPresence>());
            services.AddHostedService(sp => sp.GetRequiredService<WebhookPresence>());
        }

        if (options.BeforeSend)
        {
            services.AddSingleton<BeforeSendHook>();
        }

        return options;
    }

    /// <summary>The outbox's sender (webhook events and offline notifications' pushes alike).</summary>
    private static void AddSender(IServiceCollection services)
    {
        services.AddHttpClient(); // the factory WebhookClient takes (its named client is configured only when webhooks are on)
        services.AddSingleton<WebhookClient>();
        services.AddSingleton<WebhookSender>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookSender>());
    }

    /// <summary>The database with the outbox writing the configured event types (none when webhooks are off).</summary>
    public static Database WithOutbox(this Database database, WebhookOptions options)
    {
        database.Outbox = options.Enabled ? new WebhookOutbox(options.EventTypes) : WebhookOutbox.Off;
        return database;
    }
}
