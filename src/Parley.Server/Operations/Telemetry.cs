using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.Metrics;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Context.Propagation;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Parley.Server.Operations;

/// <summary>
/// Metrics, traces and log correlation on OpenTelemetry. Metrics: Parley's meter (<see cref="ParleyMetrics"/>),
/// ASP.NET Core's and Kestrel's, the runtime's (GC, thread pool, CPU), the process's and Npgsql's, scraped at
/// <c>GET /metrics</c> and, with <c>Telemetry:OtlpEndpoint</c>, pushed over OTLP. Traces (only with an OTLP
/// endpoint; otherwise no span is even created): one span per HTTP request and per WebSocket frame handled,
/// the commit of each send as a child span, and the group-commit batch as a span linked to the sends it
/// carried. No attribute holds a message body, a token or a password.
/// </summary>
public static class Telemetry
{
    public const string ActivitySourceName = "Parley";

    /// <summary>The name the OpenTelemetry SDK registers its <c>IMetricsListener</c> under.</summary>
    private const string OpenTelemetryListener = "OpenTelemetry";

    /// <summary>Spans of Parley's own work (WebSocket frames, commits). Without a listener StartActivity returns null.</summary>
    public static readonly ActivitySource Source = new(ActivitySourceName, ParleyMetrics.BuildVersion(typeof(Telemetry).Assembly).Version);

    public static void AddParleyTelemetry(this WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(TelemetryOptions.Section).Get<TelemetryOptions>() ?? new TelemetryOptions();
        var endpoint = options.Validate();
        var (version, commit) = ParleyMetrics.BuildVersion(typeof(Telemetry).Assembly);
        var nodeId = builder.Configuration.GetValue("Cluster:NodeId", 0);

        builder.Services.AddSingleton<ParleyMetrics>();
        builder.Services.AddSingleton(new MetricsAccess(options.MetricsAllowedNetworks));
        // Requests come from clients, not from services of ours: a traceparent they send would put the server's spans
        // into a trace of their choosing and, marked sampled, have them recorded past Telemetry:TraceSampleRatio;
        // their baggage would reach every span and log scope. Each request starts a trace of its own. Both
        // readers of incoming context are told so: ASP.NET Core's propagator and OpenTelemetry's (process-wide).
        builder.Services.AddSingleton<DistributedContextPropagator>(IgnoreIncomingContext.Instance);
        Sdk.SetDefaultTextMapPropagator(new CompositeTextMapPropagator([]));
        // Every log line written inside a span carries its ids (the JSON and simple console formatters print
        // scopes when Logging:Console:FormatterOptions:IncludeScopes is on), so a send's log lines are found from its trace.
        builder.Logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId | ActivityTrackingOptions.ParentId);

        // Parley's meter and ASP.NET Core's (hosting, Kestrel, routing...) are created through this host's
        // IMeterFactory: enabled for this host's listener only (MeterScope.Local), a provider sees its own host's
        // instruments, never those of another host in the same process (the tests run many), whose disposal
        // would otherwise end the shared metric streams. The runtime's, the process's and Npgsql's meters are
        // process-wide statics, subscribed by name below.
        builder.Services.AddMetrics(m => m
            .EnableMetrics(ParleyMetrics.MeterName, scopes: MeterScope.Local, listenerName: OpenTelemetryListener)
            .EnableMetrics("Microsoft.AspNetCore", scopes: MeterScope.Local, listenerName: OpenTelemetryListener));

        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r
                .AddService(options.ServiceName, serviceVersion: version)
                .AddAttributes([new("parley.commit", commit), new("parley.node.id", nodeId)]))
            .WithMetrics(metrics =>
            {
                metrics
                    .AddRuntimeInstrumentation()
                    .AddProcessInstrumentation()
                    .AddNpgsqlInstrumentation()
                    .AddView(View)
                    .AddPrometheusExporter(o =>
                    {
                        // Scrapes always collect afresh: a scrape straight after traffic shows it.
                        o.ScrapeResponseCacheDurationMilliseconds = 0;
                        // No otel_scope_name label on every series: no two meters here share a metric name, and the
                        // series keep the plain shapes documented in docs/operations.md.
                        o.ScopeInfoEnabled = false;
                    });
                if (endpoint is not null)
                {
                    metrics.AddOtlpExporter((exporter, reader) =>
                    {
                        ConfigureOtlp(exporter, options, endpoint, "v1/metrics");
                        reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = options.OtlpExportIntervalMs;
                    });
                }
            });

        if (endpoint is null)
        {
            return;
        }

        otel.WithTracing(tracing => tracing
            .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(options.TraceSampleRatio)))
            .AddSource(ActivitySourceName)
            .AddAspNetCoreInstrumentation(o =>
            {
                // Scrapes and probes arrive every few seconds and say nothing about users' requests.
                o.Filter = context => !context.Request.Path.StartsWithSegments("/metrics") && !context.Request.Path.StartsWithSegments("/health");
                // The instrumentation redacts query values (access_token=Redacted); drop the query altogether,
                // the route and path say what the request was.
                o.EnrichWithHttpRequest = static (activity, _) => activity.SetTag("url.query", null);
            })
            .AddNpgsql()
            .AddOtlpExporter(exporter => ConfigureOtlp(exporter, options, endpoint, "v1/traces")));
    }

    /// <summary>
    /// Gauges whose semantic-convention names end in ".count": promtool refuses a non-histogram *_count series
    /// (the suffix belongs to histograms), so they are exported under plain plurals.
    /// </summary>
    private static readonly Dictionary<string, string> CountGauges = new(StringComparer.Ordinal)
    {
        ["dotnet.assembly.count"] = "dotnet.assemblies",
        ["dotnet.process.cpu.count"] = "dotnet.process.cpus",
        ["dotnet.timer.count"] = "dotnet.timers",
        ["process.thread.count"] = "process.threads",
        ["process.unix.file_descriptor.count"] = "process.unix.file_descriptors",
        ["db.client.connection.count"] = "db.client.connections",
    };

    private static MetricStreamConfiguration? View(Instrument instrument)
    {
        // .NET 10's runtime publishes these two as monotonic counters though they go down (a counter that goes
        // down reads as a reset to rate()); ParleyMetrics publishes them again as the gauges they are.
        if (instrument.Meter.Name == "System.Runtime" && instrument.Name is "dotnet.thread_pool.thread.count" or "dotnet.thread_pool.queue.length")
        {
            return MetricStreamConfiguration.Drop;
        }

        return CountGauges.TryGetValue(instrument.Name, out var name) ? new MetricStreamConfiguration { Name = name } : null;
    }

    /// <summary>Reads no trace context or baggage from requests, and writes none (Parley makes no outgoing calls that would need it).</summary>
    private sealed class IgnoreIncomingContext : DistributedContextPropagator
    {
        public static readonly IgnoreIncomingContext Instance = new();

        public override IReadOnlyCollection<string> Fields { get; } = [];

        public override void Inject(Activity? activity, object? carrier, PropagatorSetterCallback? setter)
        {
        }

        public override void ExtractTraceIdAndState(object? carrier, PropagatorGetterCallback? getter, out string? traceId, out string? traceState)
        {
            traceId = null;
            traceState = null;
        }

        public override IEnumerable<KeyValuePair<string, string?>>? ExtractBaggage(object? carrier, PropagatorGetterCallback? getter) => null;
    }

    /// <summary>Serves the Prometheus text format at <c>GET /metrics</c>, to loopback and the allowed networks only (<see cref="MetricsAccess"/>).</summary>
    public static void MapParleyMetrics(this IEndpointRouteBuilder endpoints)
    {
        var access = endpoints.ServiceProvider.GetRequiredService<MetricsAccess>();
        endpoints.MapPrometheusScrapingEndpoint("/metrics", meterProvider: null, configureBranchedPipeline: access.Use, optionsName: null).ExcludeFromDescription();
    }

    private static void ConfigureOtlp(OtlpExporterOptions exporter, TelemetryOptions options, Uri endpoint, string signalPath)
    {
        if (options.OtlpProtocol == TelemetryOptions.Grpc)
        {
            exporter.Protocol = OtlpExportProtocol.Grpc;
            exporter.Endpoint = endpoint;
        }
        else
        {
            // Set in code, the endpoint is used as is: the signal's path is ours to append.
            exporter.Protocol = OtlpExportProtocol.HttpProtobuf;
            var root = endpoint.AbsoluteUri.EndsWith('/') ? endpoint : new Uri(endpoint.AbsoluteUri + "/");
            exporter.Endpoint = new Uri(root, signalPath);
        }

        if (!string.IsNullOrWhiteSpace(options.OtlpHeaders))
        {
            exporter.Headers = options.OtlpHeaders;
        }
    }
}
