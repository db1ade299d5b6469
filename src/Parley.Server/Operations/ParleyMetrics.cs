using System.Diagnostics.Metrics;
using System.Net.WebSockets;
using System.Reflection;
using Parley.Server.Realtime;

namespace Parley.Server.Operations;

/// <summary>
/// Parley's own instruments on the "Parley" meter, all in one place (docs/operations.md lists them with
/// their Prometheus names). Every tag value is one of a fixed set of interned strings, so recording
/// allocates nothing and no tag can grow the number of series without bound.
/// </summary>
public sealed class ParleyMetrics
{
    public const string MeterName = "Parley";

    private readonly Counter<long> _accepted;
    private readonly Counter<long> _refused;
    private readonly Counter<long> _delivered;
    private readonly Histogram<double> _deliveryLatency;
    private readonly Counter<long> _slowConsumers;
    private readonly Counter<long> _closes;
    private readonly Histogram<double> _sessionDuration;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<double> _commitDuration;

    public ParleyMetrics(IMeterFactory meters, ConnectionRegistry connections)
    {
        var meter = meters.Create(MeterName);
        meter.CreateObservableGauge("parley.connections.open", () => connections.Count, "{connection}", "Open WebSocket connections.");
        _accepted = meter.CreateCounter<long>("parley.messages.accepted", "{message}", "Messages committed (retries of a stored message not counted).");
        _refused = meter.CreateCounter<long>(
            "parley.messages.refused",
            "{message}",
            "Sends refused, over HTTP and WebSocket, by reason (the contract's error code: rate_limited, muted, blocked, not_friends, forbidden, not_found, invalid, too_large, conflict).");
        _delivered = meter.CreateCounter<long>("parley.frames.delivered", "{frame}", "Frames written to WebSocket connections.");
        _deliveryLatency = meter.CreateHistogram(
            "parley.messages.delivery_latency",
            "s",
            "From a message's send timestamp (taken before commit) to its frame being queued on the connections of the recipients online on this node; a message with no recipient online on this node is not counted.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] });
        _slowConsumers = meter.CreateCounter<long>(
            "parley.connections.slow_consumer_disconnects",
            "{connection}",
            "WebSocket connections dropped because their send queue was full (the client catches up by after= when it returns).");
        _closes = meter.CreateCounter<long>(
            "parley.websocket.closes",
            "{connection}",
            "WebSocket connections ended, by close code: the server's when it closed first, the client's when it did, 1006 when no close handshake happened (lost, aborted, slow consumer).");
        _sessionDuration = meter.CreateHistogram(
            "parley.websocket.session.duration",
            "s",
            "How long WebSocket connections stayed open (they are excluded from http.server.request.duration).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 10, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400] });
        _batchSize = meter.CreateHistogram(
            "parley.commit.batch_size",
            "{message}",
            "Messages per group-commit transaction.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] });
        _commitDuration = meter.CreateHistogram(
            "parley.commit.duration",
            "s",
            "Time to commit one group-commit batch (its transaction, including retries of a failed batch one message at a time).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] });

        // Replacements for the runtime's dotnet.thread_pool.thread.count and .queue.length (dropped in Telemetry):
        // there they are monotonic counters, which a thread count is not.
        meter.CreateObservableUpDownCounter("dotnet.thread_pool.threads", static () => (long)ThreadPool.ThreadCount, "{thread}", "The number of thread pool threads that currently exist.");
        meter.CreateObservableUpDownCounter("dotnet.thread_pool.queue.length", static () => ThreadPool.PendingWorkItemCount, "{work_item}", "The number of work items that are currently queued to be processed by the thread pool.");

        var (version, commit) = BuildVersion(typeof(ParleyMetrics).Assembly);
        KeyValuePair<string, object?>[] build =
        [
            new("version", version),
            new("commit", commit),
            new("runtime", Environment.Version.ToString()),
        ];
        meter.CreateObservableGauge("parley.build.info", () => new Measurement<int>(1, build), null, "Always 1; the labels say which build of Parley runs (commit is \"unknown\" when it was built outside git).");
    }

    public void MessagesAccepted(int count)
    {
        if (count > 0)
        {
            _accepted.Add(count);
        }
    }

    /// <summary><paramref name="code"/> is one of the <see cref="Http.ErrorCodes"/> constants.</summary>
    public void SendRefused(string code) => _refused.Add(1, new KeyValuePair<string, object?>("reason", code));

    public void FrameDelivered() => _delivered.Add(1);

    public void FramesDelivered(int count) => _delivered.Add(count);

    public void DeliveryLatency(double seconds) => _deliveryLatency.Record(seconds);

    public void SlowConsumerDisconnected() => _slowConsumers.Add(1);

    /// <summary>
    /// A connection ended: <paramref name="clientCode"/> when the client closed first, else <paramref name="serverCode"/>
    /// (null: no close handshake).
    /// </summary>
    public void WebSocketClosed(WebSocketCloseStatus? serverCode, WebSocketCloseStatus? clientCode, TimeSpan duration)
    {
        _closes.Add(1, new KeyValuePair<string, object?>("code", clientCode is { } client ? ClientCloseCodeTag(client) : CloseCodeTag(serverCode)));
        _sessionDuration.Record(duration.TotalSeconds);
    }

    /// <summary>A client's close code; Parley's own (4000, 4001, 4008 say why the server closed) are "other" from a client.</summary>
    internal static string ClientCloseCodeTag(WebSocketCloseStatus code) =>
        (int)code is 4000 or 4001 or 4008 ? "other" : CloseCodeTag(code);

    public void Committed(int batchSize, TimeSpan duration)
    {
        _batchSize.Record(batchSize);
        _commitDuration.Record(duration.TotalSeconds);
    }

    /// <summary>The close codes Parley and ordinary clients use; anything else a client sends is "other" (bounded).</summary>
    internal static string CloseCodeTag(WebSocketCloseStatus? code) => (int?)code switch
    {
        null => "1006",
        1000 => "1000",
        1001 => "1001",
        1002 => "1002",
        1003 => "1003",
        1007 => "1007",
        1008 => "1008",
        1009 => "1009",
        1011 => "1011",
        4000 => "4000",
        4001 => "4001",
        4008 => "4008",
        _ => "other",
    };

    /// <summary>"1.2.3+commit" (the SDK adds the git commit to the informational version) split in two.</summary>
    internal static (string Version, string Commit) BuildVersion(Assembly assembly)
    {
        var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString()
            ?? "unknown";
        var plus = informational.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? (informational, "unknown") : (informational[..plus], informational[(plus + 1)..]);
    }
}
