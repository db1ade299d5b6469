using System.Collections.Concurrent;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Parley.Tests.Infrastructure;

/// <summary>One exported span, as much of it as the tests look at.</summary>
public sealed record OtlpSpan(string Name, string TraceId, string SpanId, string ParentSpanId, IReadOnlyList<(string TraceId, string SpanId)> Links, IReadOnlyDictionary<string, string> Attributes);

/// <summary>
/// A minimal OTLP/HTTP (protobuf) collector on a loopback port: it keeps every request body it is sent and
/// reads spans and metric names out of them with a small protobuf walker (no generated classes).
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<(string Path, byte[] Body)> _requests = new();

    private OtlpReceiver(WebApplication app, Uri endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    public Uri Endpoint { get; }

    public IReadOnlyList<(string Path, byte[] Body)> Requests => [.. _requests];

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        OtlpReceiver? receiver = null;
        app.MapPost("/v1/{signal}", async (HttpContext context) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted);
            receiver!._requests.Enqueue((context.Request.Path.Value!, body.ToArray()));
            // An empty Export*ServiceResponse: full success.
            context.Response.ContentType = "application/x-protobuf";
            return Results.Empty;
        });
        await app.StartAsync();
        receiver = new OtlpReceiver(app, new Uri(app.Urls.First()));
        return receiver;
    }

    /// <summary>Every span received: ExportTraceServiceRequest(1: resource_spans) -> ResourceSpans(2: scope_spans) -> ScopeSpans(2: spans).</summary>
    public List<OtlpSpan> Spans()
    {
        var spans = new List<OtlpSpan>();
        foreach (var (path, body) in Requests.Where(r => r.Path == "/v1/traces"))
        {
            foreach (var resource in Fields(body).Where(f => f.Number == 1))
            {
                foreach (var scope in Fields(resource.Bytes).Where(f => f.Number == 2))
                {
                    foreach (var span in Fields(scope.Bytes).Where(f => f.Number == 2))
                    {
                        spans.Add(ReadSpan(span.Bytes));
                    }
                }
            }
        }

        return spans;
    }

    /// <summary>Every metric name received: ExportMetricsServiceRequest(1) -> ResourceMetrics(2) -> ScopeMetrics(2) -> Metric(1: name).</summary>
    public HashSet<string> MetricNames()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (_, body) in Requests.Where(r => r.Path == "/v1/metrics"))
        {
            foreach (var resource in Fields(body).Where(f => f.Number == 1))
            {
                foreach (var scope in Fields(resource.Bytes).Where(f => f.Number == 2))
                {
                    foreach (var metric in Fields(scope.Bytes).Where(f => f.Number == 2))
                    {
                        names.Add(Fields(metric.Bytes).First(f => f.Number == 1).Text);
                    }
                }
            }
        }

        return names;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    // Span: 1 trace_id, 2 span_id, 4 parent_span_id, 5 name, 9 attributes (KeyValue), 13 links (Link: 1 trace_id, 2 span_id).
    private static OtlpSpan ReadSpan(byte[] bytes)
    {
        string traceId = "", spanId = "", parent = "", name = "";
        var links = new List<(string, string)>();
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var field in Fields(bytes))
        {
            switch (field.Number)
            {
                case 1: traceId = Convert.ToHexStringLower(field.Bytes); break;
                case 2: spanId = Convert.ToHexStringLower(field.Bytes); break;
                case 4: parent = Convert.ToHexStringLower(field.Bytes); break;
                case 5: name = field.Text; break;
                case 9:
                    var (key, value) = ReadKeyValue(field.Bytes);
                    attributes[key] = value;
                    break;
                case 13:
                    var link = Fields(field.Bytes).ToList();
                    links.Add((Convert.ToHexStringLower(link.First(f => f.Number == 1).Bytes), Convert.ToHexStringLower(link.First(f => f.Number == 2).Bytes)));
                    break;
            }
        }

        return new OtlpSpan(name, traceId, spanId, parent, links, attributes);
    }

    // KeyValue: 1 key, 2 AnyValue (1 string, 2 bool, 3 int64, 4 double).
    private static (string Key, string Value) ReadKeyValue(byte[] bytes)
    {
        var key = "";
        var value = "";
        foreach (var field in Fields(bytes))
        {
            if (field.Number == 1)
            {
                key = field.Text;
            }
            else if (field.Number == 2)
            {
                foreach (var any in Fields(field.Bytes))
                {
                    value = any.Number switch
                    {
                        1 => any.Text,
                        2 or 3 => ((long)any.Varint).ToString(System.Globalization.CultureInfo.InvariantCulture),
                        _ => value,
                    };
                }
            }
        }

        return (key, value);
    }

    private readonly record struct Field(int Number, ulong Varint, byte[] Bytes)
    {
        public string Text => System.Text.Encoding.UTF8.GetString(Bytes);
    }

    private static List<Field> Fields(byte[] bytes)
    {
        var fields = new List<Field>();
        var input = new CodedInputStream(bytes);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            var number = WireFormat.GetTagFieldNumber(tag);
            switch (WireFormat.GetTagWireType(tag))
            {
                case WireFormat.WireType.Varint: fields.Add(new Field(number, input.ReadUInt64(), [])); break;
                case WireFormat.WireType.Fixed64: fields.Add(new Field(number, input.ReadFixed64(), [])); break;
                case WireFormat.WireType.Fixed32: fields.Add(new Field(number, input.ReadFixed32(), [])); break;
                case WireFormat.WireType.LengthDelimited: fields.Add(new Field(number, 0, input.ReadBytes().ToByteArray())); break;
                default: input.SkipLastField(); break;
            }
        }

        return fields;
    }
}
