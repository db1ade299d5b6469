using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Parley.Server.Accounts;
using Parley.Server.Admin;
using Parley.Server.Api;
using Parley.Server.Calls;
using Parley.Server.Cluster;
using Parley.Server.Email;
using Parley.Server.Events;
using Parley.Server.Files;
using Parley.Server.Groups;
using Parley.Server.Http;
using Parley.Server.LinkPreviews;
using Parley.Server.Messaging;
using Parley.Server.Moderation;
using Parley.Server.Operations;
using Parley.Server.Push;
using Parley.Server.Realtime;
using Parley.Server.Search;
using Parley.Server.Social;
using Parley.Server.WebClient;
using Parley.Server.Xmpp;
using Parley.Server.Webhooks;
using Parley.Storage;
using Parley.Storage.Accounts;
using Parley.Storage.Admin;
using Parley.Storage.Files;
using Parley.Storage.Groups;
using Parley.Storage.Messaging;
using Parley.Storage.Search;
using Parley.Storage.Social;
using Parley.Storage.Sqlite;
using Parley.Storage.Migrations;

namespace Parley.Server;

/// <summary>
/// Builds the Parley host. Program.cs and the integration tests both come through here, so tests run the
/// same wiring as production; <c>configure</c> lets a test swap a service (a TimeProvider) before build.
/// </summary>
public static partial class ParleyApp
{
    public static async Task<WebApplication> CreateAsync(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ApplicationName = typeof(ParleyApp).Assembly.GetName().Name,
            // appsettings.json ships next to the binary; ./data stays relative to where the server is started.
            ContentRootPath = AppContext.BaseDirectory,
        });
        // The hosting diagnostics log full request URLs at Information, and browsers put access tokens in
        // /ws?access_token=: keep that category at Warning whatever the configured default.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning);
        TextLogFormatter.Use(builder.Logging);
        AddServices(builder);
        configure?.Invoke(builder);

        var app = builder.Build();
        UsePipeline(app);

        var database = app.Services.GetRequiredService<Database>();
        var applied = await MigrationRunner.ApplyAsync(database);
        var paths = app.Services.GetRequiredService<ParleyPaths>();
        LogStorage(app.Logger, database.Provider, paths.DataDir, applied.Count);
        _ = app.Services.GetRequiredService<SigningKey>(); // generate (or fail on a bad setting) at startup, not on the first login
        _ = app.Services.GetRequiredService<PasswordHashing>(); // check the Argon2id settings and load libsodium at startup
        _ = app.Services.GetRequiredService<Xmpp.Sasl.ScramKeys>(); // a bad Auth:ScramIterations fails the start
        _ = app.Services.GetRequiredService<IImageProcessor>(); // set up libvips (or warn that it is missing) at startup
        _ = app.Services.GetRequiredService<IVideoProcessor>();
        _ = app.Services.GetRequiredService<MediaWorkers>(); // a bad Files:Processing* setting fails the start
        _ = app.Services.GetRequiredService<AdminKeys>(); // a too-short Admin:ApiKeys entry fails the start
        _ = app.Services.GetRequiredService<Moderator>(); // load the blocked words (and start watching them) now
        return app;
    }

    private static void AddServices(WebApplicationBuilder builder)
    {
        var config = builder.Configuration;
        var services = builder.Services;
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            if (config.GetValue($"{RealtimeOptions.Section}:{nameof(RealtimeOptions.LeanWebSockets)}", true))
            {
                LeanWebSockets.Use(k);
            }
        });

        var dataDir = Path.GetFullPath(config["DataDir"] is { Length: > 0 } dir ? dir : "data", Environment.CurrentDirectory);
        PrivateFiles.CreateDirectory(dataDir);
        services.AddSingleton(new ParleyPaths(dataDir));

        var storage = config.GetSection(StorageOptions.Section).Get<StorageOptions>() ?? new StorageOptions();
        var webhooks = services.AddWebhooks(config, PushEndpoints.Enabled(config)); // pushes share the webhooks' outbox and sender
        services.AddSingleton(sp => Database.Create(
            Database.ParseProvider(storage.Provider),
            storage.ConnectionString,
            dataDir,
            new SqliteCheckpointOptions(storage.CheckpointPages, storage.CheckpointMaxPages),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("Parley.Storage.Checkpoints")).WithOutbox(webhooks));
        var cluster = config.GetSection(ClusterOptions.Section).Get<ClusterOptions>() ?? new ClusterOptions();
        cluster.Validate(storage.Provider);
        services.AddSingleton(cluster);
        services.AddSingleton(new IdGenerator(cluster.NodeId));
        if (cluster.Enabled)
        {
            services.AddSingleton(_ => new ClusterRedis(cluster.Redis));
            services.AddSingleton(ClusterKeyspace.For(storage.ConnectionString));
            services.AddSingleton<SharedLimits>();
            services.AddSingleton<ClusterPresence>();
            services.AddSingleton<IPresenceDirectory>(sp => sp.GetRequiredService<ClusterPresence>());
            services.AddHostedService(sp => sp.GetRequiredService<ClusterPresence>());
            services.AddSingleton(sp => new WorkerLeadership(storage.ConnectionString!, sp.GetRequiredService<ILogger<WorkerLeadership>>()));
        }
        services.AddSingleton<UserStore>();
        services.AddSingleton<SessionStore>();
        services.AddSingleton<SocialStore>();
        services.AddSingleton<MembershipVersions>();
        services.AddSingleton<GroupStore>();
        services.AddSingleton(TimeProvider.System);

        services.Configure<AuthOptions>(config.GetSection(AuthOptions.Section));
        services.AddSingleton(sp => SigningKey.Load(sp.GetRequiredService<IOptions<AuthOptions>>().Value.SigningKey, dataDir));
        services.AddSingleton<PasswordHashing>();
        services.AddSingleton<Xmpp.Sasl.ScramKeys>();
        services.AddSingleton<Xmpp.Sasl.IScramCredentials, Xmpp.Sasl.StoredScramCredentials>();
        services.AddSingleton<Xmpp.Sasl.ScramSha256Mechanism>();
        services.AddSingleton<TokenService>();
        services.AddSingleton<AuthThrottle>();
        services.AddSingleton<SessionGuard>();
        services.AddSingleton<AccountService>();
        services.AddSingleton<ProfileUpdates>();
        services.AddHostedService<SessionSweeper>();
        services.AddEmail(config); // docs/email.md: nothing but the options while Email:SmtpHost is empty

        // The app-server API (issue 15): X-Api-Key, reports, the blocked-words filter.
        services.AddSingleton(new AdminKeys(config.GetSection(AdminOptions.Section).Get<AdminOptions>() ?? new AdminOptions()));
        services.AddSingleton<AdminKeyFilter>();
        services.AddSingleton<ReportStore>();
        services.AddSingleton<AdminCountsStore>();
        services.AddSingleton<AdminService>();
        services.AddSingleton<ReportService>();
        services.Configure<ModerationOptions>(config.GetSection(ModerationOptions.Section));
        services.AddSingleton<Moderator>();

        services.AddSingleton<Notifier>();
        services.AddSingleton<PresenceTracker>();
        services.AddSingleton<SocialService>();
        services.Configure<SocialOptions>(config.GetSection(SocialOptions.Section));
        services.AddSingleton<UserQuotas>();
        services.Configure<GroupOptions>(config.GetSection(GroupOptions.Section));
        services.AddSingleton<GroupService>();
        services.AddSingleton<LookupThrottle>();
        services.AddSingleton<TemporaryGroupSweeper>();

        services.Configure<MessagingOptions>(config.GetSection(MessagingOptions.Section));
        services.AddSingleton<MessageStore>();
        services.AddSingleton<ConversationViews>();
        services.AddSingleton<PostCommitRoute>();
        services.AddHostedService(sp => sp.GetRequiredService<PostCommitRoute>());
        services.AddSingleton<INotificationSink>(sp => sp.GetRequiredService<PostCommitRoute>());
        services.AddSingleton<MessagePipeline>();
        services.AddHostedService(sp => sp.GetRequiredService<MessagePipeline>());
        services.AddSingleton<SendRateLimiter>();
        services.Configure<FileUploadOptions>(config.GetSection(FileUploadOptions.Section));
        services.AddSingleton<FileStore>();
        services.AddSingleton<IBlobStore>(new LocalBlobStore(dataDir));
        services.TryAddSingleton<IContentHasher, Sha256ContentHasher>();
        services.AddSingleton<IImageProcessor, NetVipsImageProcessor>();
        services.AddSingleton<IVideoProcessor, FfmpegVideoProcessor>();
        services.AddSingleton<MediaWorkers>();
        services.AddSingleton<UploadGuard>();
        services.AddSingleton<FileService>();
        services.AddLinkPreviews(config); // docs/link-previews.md: nothing but the options while LinkPreviews:Enabled is false
        services.AddSingleton<IFileAccess>(sp => sp.GetRequiredService<FileService>());
        services.AddSingleton<FileSweeper>();
        services.AddHostedService(sp => sp.GetRequiredService<FileSweeper>());
        services.AddSingleton<MessageSender>();
        services.AddSingleton<MessagingService>();
        services.AddSingleton<RetentionSweeper>();
        services.AddHostedService(sp => sp.GetRequiredService<RetentionSweeper>());
        services.Configure<SearchOptions>(config.GetSection(SearchOptions.Section));
        services.AddSingleton<MessageSearchStore>();
        services.AddSingleton<SearchService>();

        services.Configure<RealtimeOptions>(config.GetSection(RealtimeOptions.Section));
        ApiCors.Add(services, config); // the HTTP API for the browser origins the WebSocket allows (the widget)
        services.AddSingleton<ConnectionRegistry>();
        services.AddSingleton<Fanout>();
        services.AddSingleton<IPostCommitSink>(sp => sp.GetRequiredService<Fanout>());
        if (cluster.Enabled)
        {
            // The cluster bus: the route's second sink (after the local fan-out), and a readiness check of its own.
            services.AddSingleton(new NodeIdentity(cluster.NodeId));
            services.AddSingleton<ClusterBus>();
            services.AddSingleton<IPostCommitSink>(sp => sp.GetRequiredService<ClusterBus>());
            services.AddHostedService(sp => sp.GetRequiredService<ClusterBus>());
            services.AddHealthChecks().AddCheck<BusHealthCheck>("bus", tags: ["ready"]);
        }

        services.AddPush(config); // docs/push.md: offline notifications; a sink after the fan-out's (and the bus's)

        services.Configure<CallOptions>(config.GetSection(CallOptions.Section));
        (config.GetSection(CallOptions.Section).Get<CallOptions>() ?? new CallOptions()).Validate(); // a bad setting stops the start, not the first call
        services.AddSingleton<CallService>();
        services.AddSingleton<FrameDispatcher>();
        services.AddSingleton<Gateway>();
        services.AddHostedService<HeartbeatMonitor>();
        services.AddXmpp(config); // docs/xmpp.md: the XMPP c2s gateway, off while Xmpp:Port is 0
        services.AddHostedService<ShutdownDrain>();
        services.AddHostedService(sp => sp.GetRequiredService<TemporaryGroupSweeper>());
        services.AddMemoryCache();
        // ASP.NET Core's own key ring (antiforgery, auth helpers) lives with the rest of Parley's keys, not in $HOME.
        services.AddDataProtection().PersistKeysToFileSystem(PrivateFiles.CreateDirectory(Path.Combine(dataDir, "keys", "data-protection")));

        services.AddAuthentication(BearerAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, BearerAuthenticationHandler>(BearerAuthenticationHandler.SchemeName, null);
        services.AddAuthorization();

        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, ParleyJson.Default);
            o.SerializerOptions.TypeInfoResolverChain.Insert(1, AdminJson.Default);
        });
        services.AddHealthChecks().AddCheck<StorageHealthCheck>("storage", tags: ["ready"]);
        builder.AddParleyTelemetry();
        services.AddParleyOpenApi(); // Api/OpenApiSetup.cs: /openapi/v1.json and its transformers (docs/api.md)
    }

    private static void UsePipeline(WebApplication app)
    {
        if (ProxyTrust.Options(app.Services.GetRequiredService<ClusterOptions>().TrustedProxies) is { } forwarded)
        {
            app.UseForwardedHeaders(forwarded); // first: everything after it sees the client's address
        }

        app.Use((context, next) =>
        {
            context.Response.Headers.XContentTypeOptions = "nosniff";
            if (context.Request.Path.StartsWithSegments("/api"))
            {
                // API answers are per-user (tokens, profiles): never stored by a browser or proxy.
                context.Response.Headers.CacheControl = "no-store";
            }

            return next(context);
        });
        app.UseMiddleware<ProblemMiddleware>();
        app.UseStatusCodePages(context => ProblemMiddleware.WriteBareStatusAsync(context.HttpContext));
        ApiCors.Use(app);
        WebClientHost.Use(app);
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.Zero });
        app.UseAuthentication();
        app.UseAuthorization();

        app.MapAccounts();
        app.MapEmail();
        app.MapSocial();
        app.MapGroups();
        app.MapConversations();
        app.MapSearch();
        app.MapFiles();
        app.MapLinkPreviews();
        app.MapAdmin();
        app.MapWebhooks();
        app.MapPush();
        app.MapCalls();
        // A WebSocket lives for hours: it has its own duration instrument instead of skewing HTTP request durations.
        app.Map("/ws", (HttpContext context, Gateway gateway) => gateway.HandleAsync(context)).RequireAuthorization().DisableHttpMetrics().ExcludeFromDescription();
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready"), ResponseWriter = HealthText.WriteAsync });
        app.MapParleyMetrics();
        app.MapOpenApi("/openapi/{documentName}.json");
        WebClientHost.UseApiDocsHeaders(app);
        app.UseSwaggerUI(o =>
        {
            o.RoutePrefix = "api/docs";
            o.SwaggerEndpoint("/openapi/v1.json", "Parley v1");
            o.DocumentTitle = "Parley API";
        });
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Storage: {Provider}; data directory {DataDir}; {Applied} new migrations applied")]
    private static partial void LogStorage(ILogger logger, StorageProvider provider, string dataDir, int applied);
}
