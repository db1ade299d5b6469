using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Trace;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Operations;

public sealed class TelemetryTestsSqlite() : TelemetryTests(Backend.Sqlite);

public sealed class TelemetryTestsPostgres() : TelemetryTests(Backend.Postgres);

/// <summary>
/// Telemetry on OpenTelemetry: what /metrics shows (and that promtool accepts it), that refused sends cost no
/// exception, and what OTLP export carries (and never carries) to a collector of the test's own.
/// </summary>
public abstract class TelemetryTests(Backend backend) : OwnServerTests(backend)
{
    private static JsonObject SendFrame(string reference, string conversationId, string text, string? msgType = "text") => new()
    {
        ["type"] = "send",
        ["ref"] = reference,
        ["conversationId"] = conversationId,
        ["clientMsgId"] = Guid.NewGuid().ToString("N"),
        ["msgType"] = msgType,
        ["content"] = new JsonObject { ["text"] = text },
    };

    /// <summary>HTTP calls, a delivered WebSocket send, refused sends on both transports and a closed socket; returns the scrape taken after.</summary>
    private static async Task<string> DriveTrafficAsync(ParleyServer server)
    {
        var (a, b, conversationId) = await server.FriendsWithConversationAsync();
        var ws = await WsClient.ConnectAsync(server, a.AccessToken);
        await using (var peer = await WsClient.ConnectAsync(server, b.AccessToken))
        {
            await ws.SendAsync(SendFrame("ok", conversationId, "over the socket"));
            await ws.NextAsync("sent", where: f => (string?)f["ref"] == "ok");
            await peer.NextAsync("message");
            await server.SendTextAsync(b, conversationId, "over http");
            await ws.SendAsync(SendFrame("bad", conversationId, "x", msgType: "bogus"));
            Assert.Equal("invalid", (string?)(await ws.NextAsync("error", where: f => (string?)f["ref"] == "bad"))["code"]);
            await server.SendText(a, "123456789", "nowhere").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        }

        await ws.DisposeAsync(); // a client-initiated close, 1000

        // The socket's HTTP request ends after the gateway lets it go, and its TCP connection after that: once
        // Kestrel has recorded the connection's duration, anything the request would record is recorded too.
        var port = server.BaseUri.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return await server.ScrapeUntilAsync(m => m.Sum("kestrel_connection_duration_seconds_count", ("server_port", port)) >= 2, "the WebSocket connections' end");
    }

    [Fact]
    public async Task Metrics_show_every_family_with_the_documented_names()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store);
        var text = await DriveTrafficAsync(server);
        var samples = PrometheusText.Parse(text);

        foreach (var family in new[]
        {
            "# TYPE parley_connections_open gauge",
            "# TYPE parley_messages_accepted_total counter",
            "# TYPE parley_messages_refused_total counter",
            "# TYPE parley_frames_delivered_total counter",
            "# TYPE parley_messages_delivery_latency_seconds histogram",
            "# TYPE parley_websocket_closes_total counter",
            "# TYPE parley_websocket_session_duration_seconds histogram",
            "# TYPE parley_commit_batch_size histogram",
            "# TYPE parley_commit_duration_seconds histogram",
            "# TYPE parley_build_info gauge",
            "# TYPE http_server_request_duration_seconds histogram",
            "# TYPE dotnet_gc_collections_total counter",
            "# TYPE dotnet_gc_heap_total_allocated_bytes_total counter",
            "# TYPE dotnet_process_cpu_time_seconds_total counter",
            "# TYPE dotnet_thread_pool_threads gauge",
            "# TYPE dotnet_thread_pool_queue_length gauge",
            "# TYPE process_cpu_time_seconds_total counter",
            "# TYPE process_memory_usage_bytes gauge",
            "# TYPE process_threads gauge",
        })
        {
            Assert.Contains(family, text, StringComparison.Ordinal);
        }

        // The runtime's own thread-pool instruments are monotonic counters; they are replaced, not exported.
        Assert.DoesNotContain("dotnet_thread_pool_thread_count", text, StringComparison.Ordinal);
        Assert.DoesNotContain("dotnet_thread_pool_queue_length_total", text, StringComparison.Ordinal);

        // Exactly this server's own: other servers in this test process have meters of their own.
        Assert.Equal(1, samples.Sum("parley_messages_refused_total", ("reason", "invalid")));
        Assert.Equal(1, samples.Sum("parley_messages_refused_total", ("reason", "not_found")));
        Assert.Equal(2, samples.Sum("parley_messages_accepted_total"));
        Assert.Equal(2, samples.Sum("parley_websocket_closes_total", ("code", "1000")));
        Assert.Equal(2, samples.Sum("parley_websocket_session_duration_seconds_count"));
        Assert.Equal(2, samples.Sum("parley_commit_batch_size_count"));
        Assert.Equal(2, samples.Sum("parley_commit_batch_size_sum"));
        Assert.Equal(2, samples.Sum("parley_messages_delivery_latency_seconds_count"));
        Assert.Equal(0, samples.Sum("parley_connections_open"));
        Assert.Contains("Open WebSocket connections.", text, StringComparison.Ordinal);
        Assert.Contains("recipients online on this node", text, StringComparison.Ordinal);
        var build = Assert.Single(samples, s => s.Name == "parley_build_info");
        Assert.False(string.IsNullOrEmpty(build.Labels["version"]));
        Assert.True(build.Labels.ContainsKey("commit"));

        // HTTP requests are timed, WebSocket sessions are not (they have their own instrument).
        Assert.Equal(2, samples.Sum("http_server_request_duration_seconds_count", ("http_route", "/api/conversations/{id}/messages")));
        Assert.DoesNotContain(samples, s => s.Name.StartsWith("http_server_request_duration_seconds", StringComparison.Ordinal) && s.Labels.GetValueOrDefault("http_route") == "/ws");

        if (Backend == Backend.Postgres)
        {
            // Npgsql's meter, with the pools named rather than labelled by connection string.
            Assert.Contains(samples, s => s.Name.StartsWith("db_client_", StringComparison.Ordinal) && s.Labels.Values.Contains("parley-writer"));
            Assert.DoesNotContain("Password", text, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task Metrics_pass_promtool_check()
    {
        var promtool = PrometheusText.Promtool();
        Assert.SkipWhen(promtool is null, "promtool is not on PATH (Debian package 'prometheus'; .ci/run installs it)");
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store);
        var text = await DriveTrafficAsync(server);

        var (exitCode, output) = await PrometheusText.CheckAsync(promtool!, text);
        Assert.True(exitCode == 0, $"promtool check metrics exited {exitCode}:\n{output}");
    }

    [Fact]
    public async Task Refused_websocket_frames_throw_no_exceptions_and_sends_are_counted_by_reason()
    {
        // A process of its own: dotnet_exceptions_total and the counters are then this server's alone.
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ChildServer.StartAsync(store, "--Messaging:SendBurst=4", "--Messaging:SendRatePerSecond=0.01", "--Messaging:MaxContentBytes=200");
        var (a, b, direct) = await server.FriendsWithConversationAsync();
        var (c, d, unfriended) = await server.FriendsWithConversationAsync();
        await server.Delete(c, $"/api/friends/{d.Id}").Expect(HttpStatusCode.NoContent);
        var (e, f, blocked) = await server.FriendsWithConversationAsync();
        await server.Put(f, $"/api/blocks/{e.Id}").Expect(HttpStatusCode.NoContent);
        var (g, h, others) = await server.FriendsWithConversationAsync();
        var owner = await server.RegisterAsync();
        var group = await server.CreateGroupAsync(owner, null, a);
        var until = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        await server.Patch(owner, $"/api/groups/{group.Id()}/members/{a.Id}", new JsonObject { ["mutedUntil"] = until }).Expect(HttpStatusCode.OK);
        var groupConversation = (string)group["conversationId"]!;

        await using var wsA = await WsClient.ConnectAsync(server, a.AccessToken);
        await using var wsC = await WsClient.ConnectAsync(server, c.AccessToken);
        await using var wsE = await WsClient.ConnectAsync(server, e.AccessToken);
        await using var wsG = await WsClient.ConnectAsync(server, g.AccessToken);
        var before = PrometheusText.Parse(await server.ScrapeAsync());

        var refusals = new (WsClient Socket, JsonObject Frame, string Code)[]
        {
            (wsA, SendFrame("invalid", direct, "x", msgType: "bogus"), "invalid"),
            (wsA, SendFrame("empty", direct, ""), "invalid"),
            (wsA, SendFrame("large", direct, new string('x', 300)), "too_large"),
            (wsA, SendFrame("nowhere", "123456789", "x"), "not_found"),
            (wsA, SendFrame("others", others, "x"), "forbidden"),
            (wsA, SendFrame("muted", groupConversation, "x"), "muted"),
            (wsC, SendFrame("unfriended", unfriended, "x"), "not_friends"),
            (wsE, SendFrame("blocked", blocked, "x"), "blocked"),
            (wsA, new JsonObject { ["type"] = "sync", ["ref"] = "sync", ["conversationId"] = others, ["afterSeq"] = 0 }, "forbidden"),
        };
        foreach (var (socket, frame, code) in refusals)
        {
            await socket.SendAsync(frame);
            var error = await socket.NextAsync("error", where: x => (string?)x["ref"] == (string)frame["ref"]!);
            Assert.Equal(code, (string?)error["code"]);
        }

        // Frames without a ref: an error frame answers each, in order, so the ping's pong follows them.
        await wsA.SendAsync(new JsonObject { ["type"] = "read", ["conversationId"] = others, ["seq"] = 1 });
        await wsA.SendAsync(new JsonObject { ["type"] = "ack", ["conversationId"] = "123456789", ["seq"] = 1 });
        await wsA.SendAsync(new JsonObject { ["type"] = "typing", ["conversationId"] = others });
        await wsA.SendAsync(new JsonObject { ["type"] = "ping" });
        await wsA.NextAsync("pong");
        Assert.Equal("forbidden", (string?)(await wsA.NextAsync("error"))["code"]);
        Assert.Equal("not_found", (string?)(await wsA.NextAsync("error"))["code"]);
        Assert.Equal("forbidden", (string?)(await wsA.NextAsync("error"))["code"]);

        // Four sends fit the burst of 4; the fifth is rate limited.
        for (var i = 0; i < 5; i++)
        {
            await wsG.SendAsync(SendFrame("g" + i, others, "x"));
        }

        var outcomes = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var reference = "g" + i;
            var reply = await wsG.NextAsync(i < 4 ? "sent" : "error", where: x => (string?)x["ref"] == reference);
            outcomes.Add((string?)reply["code"] ?? "sent");
        }

        Assert.Equal(["sent", "sent", "sent", "sent", "rate_limited"], outcomes);

        var after = PrometheusText.Parse(await server.ScrapeAsync());
        Assert.Equal(before.Sum("dotnet_exceptions_total"), after.Sum("dotnet_exceptions_total"));
        foreach (var (reason, count) in new[] { ("invalid", 2), ("too_large", 1), ("not_found", 1), ("forbidden", 1), ("muted", 1), ("not_friends", 1), ("blocked", 1), ("rate_limited", 1) })
        {
            Assert.Equal(count, after.Sum("parley_messages_refused_total", ("reason", reason)) - before.Sum("parley_messages_refused_total", ("reason", reason)));
        }

        // The measurement is live: a control-plane 401 still throws (the login path), and it shows.
        await server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = a.Username, ["password"] = "wrong password!" }).ExpectProblem(HttpStatusCode.Unauthorized, "invalid_credentials");
        Assert.True(PrometheusText.Parse(await server.ScrapeAsync()).Sum("dotnet_exceptions_total") > after.Sum("dotnet_exceptions_total"));
    }

    [Fact]
    public async Task Refused_http_sends_reads_and_history_pages_throw_no_exceptions()
    {
        // A process of its own, as above: dotnet_exceptions_total is then this server's alone.
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ChildServer.StartAsync(store, "--Messaging:MaxContentBytes=200");
        var (a, _, direct) = await server.FriendsWithConversationAsync();
        var (_, _, others) = await server.FriendsWithConversationAsync();
        var messages = $"/api/conversations/{direct}/messages";
        JsonObject Send(string type, JsonNode content) => new() { ["clientMsgId"] = Guid.NewGuid().ToString("N"), ["type"] = type, ["content"] = content };
        var before = PrometheusText.Parse(await server.ScrapeAsync());

        var refusals = new (Func<Task<HttpResponseMessage>> Call, HttpStatusCode Status, string Code)[]
        {
            (() => server.Post(a, messages, Send("bogus", new JsonObject())), HttpStatusCode.BadRequest, "invalid"),
            (() => server.Post(a, messages, Send("text", new JsonObject { ["text"] = "" })), HttpStatusCode.BadRequest, "invalid"),
            (() => server.Post(a, messages, Send("text", new JsonObject { ["text"] = new string('x', 300) })), HttpStatusCode.RequestEntityTooLarge, "too_large"),
            (() => server.Post(a, "/api/conversations/123456789/messages", Send("text", new JsonObject { ["text"] = "x" })), HttpStatusCode.NotFound, "not_found"),
            (() => server.Post(a, $"/api/conversations/{others}/messages", Send("text", new JsonObject { ["text"] = "x" })), HttpStatusCode.Forbidden, "forbidden"),
            (() => server.Get(a, $"{messages}?after=1&before=2"), HttpStatusCode.BadRequest, "invalid"),
            (() => server.Get(a, $"{messages}?after=-1"), HttpStatusCode.BadRequest, "invalid"),
            (() => server.Get(a, $"{messages}?before=x"), HttpStatusCode.BadRequest, "invalid"),
            (() => server.Get(a, $"{messages}?limit=0"), HttpStatusCode.BadRequest, "invalid"),
            (() => server.Get(a, $"/api/conversations/{others}/messages"), HttpStatusCode.Forbidden, "forbidden"),
            (() => server.Post(a, $"/api/conversations/{direct}/read", new JsonObject { ["seq"] = -1 }), HttpStatusCode.BadRequest, "invalid"),
            (() => server.Post(a, "/api/conversations/123456789/read", new JsonObject { ["seq"] = 1 }), HttpStatusCode.NotFound, "not_found"),
        };
        foreach (var (call, status, code) in refusals)
        {
            await call().ExpectProblem(status, code);
        }

        var after = PrometheusText.Parse(await server.ScrapeAsync());
        Assert.Equal(before.Sum("dotnet_exceptions_total"), after.Sum("dotnet_exceptions_total"));
    }

    [Fact]
    public async Task Refused_websocket_upgrades_throw_no_exceptions()
    {
        // A process of its own, as above. A refused upgrade is ordinary traffic on the socket path: a page of another
        // origin, a plain GET, a device whose session was revoked.
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ChildServer.StartAsync(store);
        var user = await server.RegisterAsync();
        var revoked = await server.LoginAsync(user.Username, user.Password);
        await server.Send(HttpMethod.Post, "/api/auth/logout", revoked.AccessToken, new JsonObject { ["refreshToken"] = revoked.RefreshToken }).Expect(HttpStatusCode.NoContent);
        static double Thrown(List<Sample> samples) =>
            samples.Where(s => s.Name == "dotnet_exceptions_total" && s.Labels.GetValueOrDefault("error_type") != "ConnectionResetException").Sum(s => s.Value);
        var before = PrometheusText.Parse(await server.ScrapeAsync());

        Assert.Equal(HttpStatusCode.Forbidden, await WsClient.RefusedAsync(server, user.AccessToken, origin: "https://elsewhere.example"));
        Assert.Equal(HttpStatusCode.Unauthorized, await WsClient.RefusedAsync(server, revoked.AccessToken));
        Assert.Equal(HttpStatusCode.Unauthorized, await WsClient.RefusedAsync(server, null));
        var plain = await server.Send(HttpMethod.Get, "/ws", user.AccessToken).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        Assert.NotNull(plain["errors"]?["upgrade"]);

        // (A client resetting its TCP connection shows as Kestrel's ConnectionResetException: the client's doing.)
        Assert.Equal(Thrown(before), Thrown(PrometheusText.Parse(await server.ScrapeAsync())));
    }

    [Fact]
    public async Task Otlp_export_carries_request_and_frame_spans_and_metrics_and_no_secrets()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        var logs = new LogRecorder();
        await using var store = await TestStore.CreateAsync(Backend);
        var server = await ParleyServer.StartAsync(
            store,
            null,
            services => services.AddSingleton<ILoggerProvider>(logs),
            $"--Telemetry:OtlpEndpoint={receiver.Endpoint}",
            "--Logging:LogLevel:Parley.Server.Realtime.FrameDispatcher=Debug",
            "--Logging:Console:LogLevel:Parley.Server.Realtime.FrameDispatcher=Warning");
        var password = "pw-" + Guid.NewGuid().ToString("N");
        var httpText = "http-text-" + Guid.NewGuid().ToString("N");
        var socketText = "socket-text-" + Guid.NewGuid().ToString("N");
        TestUser a, b;
        string conversationId;
        try
        {
            a = await server.RegisterAsync(password: password);
            b = await server.RegisterAsync(password: password);
            await server.MakeFriendsAsync(a, b);
            conversationId = await server.DirectAsync(a, b);
            await using var ws = await WsClient.ConnectAsync(server, a.AccessToken);
            await server.SendTextAsync(b, conversationId, httpText);
            await ws.SendAsync(SendFrame("ok", conversationId, socketText));
            await ws.NextAsync("sent", where: f => (string?)f["ref"] == "ok");
            await ws.SendAsync(SendFrame("nowhere", "123456789", socketText));
            await ws.NextAsync("error", where: f => (string?)f["ref"] == "nowhere");
        }
        finally
        {
            // A graceful stop flushes what is batched: every span and a last metrics export reach the receiver.
            await server.DisposeAsync();
        }

        var spans = receiver.Spans();
        var sends = spans.Where(s => s.Name == "ws send" && s.Attributes.GetValueOrDefault("parley.conversation.id") == conversationId).ToList();
        var socketSend = Assert.Single(sends, s => s.Attributes.ContainsKey("parley.message.seq"));
        var refused = Assert.Single(spans, s => s.Name == "ws send" && s.Attributes.GetValueOrDefault("parley.conversation.id") == "123456789" && s.TraceId != socketSend.TraceId && s.Attributes.GetValueOrDefault("parley.error.code") == "not_found" && logs.Has(s.TraceId));

        // The frame's span is a root, linked to the upgrade request's span; the commit is its child, linked to the batch.
        Assert.Equal("", socketSend.ParentSpanId);
        var upgrade = Assert.Single(spans, s => s.SpanId == Assert.Single(socketSend.Links).SpanId);
        Assert.Equal("/ws", upgrade.Attributes.GetValueOrDefault("url.path"));
        var commit = Assert.Single(spans, s => s.Name == "message commit" && s.ParentSpanId == socketSend.SpanId);
        Assert.Equal(socketSend.TraceId, commit.TraceId);
        var batch = Assert.Single(spans, s => s.Name == "commit batch" && s.SpanId == Assert.Single(commit.Links).SpanId);
        Assert.Contains((commit.TraceId, commit.SpanId), batch.Links);

        // The HTTP send: a request span with its commit as a child.
        var post = spans.Where(s => s.Name == "POST /api/conversations/{id}/messages" && s.Attributes.GetValueOrDefault("url.path") == $"/api/conversations/{conversationId}/messages").ToList();
        Assert.Contains(post, p => spans.Any(s => s.Name == "message commit" && s.ParentSpanId == p.SpanId));
        Assert.DoesNotContain(spans, s => s.Attributes.ContainsKey("url.query"));
        Assert.DoesNotContain(spans, s => s.Name.StartsWith("GET /metrics", StringComparison.Ordinal) || s.Name.StartsWith("GET /health", StringComparison.Ordinal));

        // The refused send's log line carries its span's ids.
        Assert.Contains(logs.Records, r => r.Message.Contains("refused: not_found", StringComparison.Ordinal) && r.TraceId == refused.TraceId && r.SpanId == refused.SpanId);

        var metrics = receiver.MetricNames();
        foreach (var name in new[] { "parley.messages.accepted", "parley.commit.duration", "parley.websocket.closes", "http.server.request.duration", "dotnet.gc.collections" })
        {
            Assert.Contains(name, metrics);
        }

        foreach (var secret in new[] { httpText, socketText, password, a.AccessToken, a.RefreshToken, b.AccessToken, b.RefreshToken, "access_token" })
        {
            var bytes = Encoding.UTF8.GetBytes(secret);
            Assert.DoesNotContain(receiver.Requests, r => r.Body.AsSpan().IndexOf(bytes) >= 0);
        }
    }

    [Fact]
    public async Task A_500_names_the_trace_its_log_lines_and_spans_carry()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        var logs = new LogRecorder();
        var server = await ParleyServer.StartAsync(store, null, services => services.AddSingleton<ILoggerProvider>(logs), $"--Telemetry:OtlpEndpoint={receiver.Endpoint}");
        var port = server.BaseUri.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string traceId;
        try
        {
            var user = await server.RegisterAsync();
            // A real fault, from outside the server: the table the next request reads is gone.
            await using (var db = Backend == Backend.Sqlite
                ? (System.Data.Common.DbConnection)new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(store.DataDir, "parley.db")}")
                : new Npgsql.NpgsqlConnection(store.ConnectionString))
            {
                await db.OpenAsync();
                await using var rename = db.CreateCommand();
                rename.CommandText = "ALTER TABLE blocks RENAME TO blocks_gone";
                await rename.ExecuteNonQueryAsync();
            }

            var problem = await server.Get(user, "/api/blocks").ExpectProblem(HttpStatusCode.InternalServerError, "internal");
            traceId = (string)problem["traceId"]!;
        }
        finally
        {
            await server.DisposeAsync(); // flushes every span
        }

        // What a user reports is what an operator looks up: the request's trace (its log lines end with the same id).
        // (Another host in this process may record into this receiver too: ActivitySources are process-wide.)
        var request = Assert.Single(receiver.Spans(), s => s.Name.StartsWith("GET /api/blocks", StringComparison.Ordinal) && s.Attributes.GetValueOrDefault("server.port") == port);
        Assert.Equal("500", request.Attributes.GetValueOrDefault("http.response.status_code"));
        Assert.Equal(request.TraceId, traceId);
        Assert.Contains(logs.Records, r => r.Message.StartsWith("Unhandled exception for GET /api/blocks", StringComparison.Ordinal) && r.TraceId == traceId);
    }

    [Fact]
    public async Task Without_an_endpoint_nothing_is_exported_and_no_tracer_runs()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        // The SDK's own settings point at the receiver: only Telemetry:OtlpEndpoint may turn export on.
        var server = await ParleyServer.StartAsync(
            store,
            null,
            $"--OTEL_EXPORTER_OTLP_ENDPOINT={receiver.Endpoint}",
            "--OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf");
        try
        {
            Assert.Null(server.App.Services.GetService<TracerProvider>());
            var (a, b, conversationId) = await server.FriendsWithConversationAsync();
            await using var ws = await WsClient.ConnectAsync(server, a.AccessToken);
            await server.SendTextAsync(b, conversationId, "not exported");
            await ws.SendAsync(SendFrame("ok", conversationId, "not exported either"));
            await ws.NextAsync("sent", where: f => (string?)f["ref"] == "ok");
        }
        finally
        {
            // The barrier: a graceful stop flushes every exporter there is (the test above relies on it).
            await server.DisposeAsync();
        }

        Assert.Empty(receiver.Requests);
    }

    [Fact]
    public async Task A_bad_telemetry_setting_stops_startup_with_a_clear_message()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var bad = await Assert.ThrowsAsync<InvalidOperationException>(() => ParleyServer.StartAsync(store, null, "--Telemetry:OtlpEndpoint=ftp://user:secret@collector"));
        Assert.Contains("Telemetry:OtlpEndpoint", bad.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", bad.Message, StringComparison.Ordinal);
        var protocol = await Assert.ThrowsAsync<InvalidOperationException>(() => ParleyServer.StartAsync(store, null, "--Telemetry:OtlpEndpoint=http://127.0.0.1:4318", "--Telemetry:OtlpProtocol=thrift"));
        Assert.Contains("Telemetry:OtlpProtocol", protocol.Message, StringComparison.Ordinal);

        // Headers usually carry a collector's API key: a malformed list is refused at startup, naming the setting, never the value.
        foreach (var headers in new[] { "secret-api-key", "x-api-key=secret,secret-tail", "=secret", "bad key=secret" })
        {
            var header = await Assert.ThrowsAsync<InvalidOperationException>(() => ParleyServer.StartAsync(store, null, "--Telemetry:OtlpEndpoint=http://127.0.0.1:4318", $"--Telemetry:OtlpHeaders={headers}"));
            Assert.Contains("Telemetry:OtlpHeaders", header.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("secret", header.Message, StringComparison.Ordinal);
        }

        // Well-formed lists start (percent-encoded and with a trailing comma, as the OTLP exporter reads them).
        await using var started = await ParleyServer.StartAsync(store, null, "--Telemetry:OtlpEndpoint=http://127.0.0.1:4318", "--Telemetry:OtlpHeaders=x-api-key=a%3Db, authorization=Bearer x,");
    }

    /// <summary>Keeps log lines with the trace and span ids of their scope (what ActivityTrackingOptions adds).</summary>
    private sealed class LogRecorder : ILoggerProvider, ISupportExternalScope
    {
        private readonly List<(string Message, string? TraceId, string? SpanId)> _records = [];
        private IExternalScopeProvider? _scopes;

        public IReadOnlyList<(string Message, string? TraceId, string? SpanId)> Records
        {
            get
            {
                lock (_records)
                {
                    return [.. _records];
                }
            }
        }

        public bool Has(string traceId) => Records.Any(r => r.TraceId == traceId);

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

        public void Dispose()
        {
        }

        private sealed class Logger(LogRecorder owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => owner._scopes?.Push(state);

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                string? traceId = null, spanId = null;
                owner._scopes?.ForEachScope(
                    (scope, _) =>
                    {
                        if (scope is IEnumerable<KeyValuePair<string, object?>> pairs)
                        {
                            foreach (var (key, value) in pairs)
                            {
                                if (key == "TraceId")
                                {
                                    traceId = value?.ToString();
                                }
                                else if (key == "SpanId")
                                {
                                    spanId = value?.ToString();
                                }
                            }
                        }
                    },
                    (object?)null);
                lock (owner._records)
                {
                    owner._records.Add((formatter(state, exception), traceId, spanId));
                }
            }
        }
    }
}
