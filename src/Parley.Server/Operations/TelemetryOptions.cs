namespace Parley.Server.Operations;

/// <summary>Settings under <c>Telemetry:</c>. Prometheus' <c>/metrics</c> is always on; OTLP export only when an endpoint is named.</summary>
public sealed class TelemetryOptions
{
    public const string Section = "Telemetry";

    public const string Grpc = "grpc";
    public const string HttpProtobuf = "http/protobuf";

    /// <summary>
    /// The OpenTelemetry collector to push traces and metrics to, e.g. <c>http://collector:4318</c> (http/protobuf)
    /// or <c>http://collector:4317</c> (grpc). Empty (the default): nothing is exported and no span is recorded.
    /// </summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary><c>http/protobuf</c> (the OpenTelemetry specification's default; /v1/traces and /v1/metrics are appended) or <c>grpc</c>.</summary>
    public string OtlpProtocol { get; set; } = HttpProtobuf;

    /// <summary>Extra OTLP request headers, <c>key=value</c> pairs separated by commas (a collector's API key). Never logged.</summary>
    public string? OtlpHeaders { get; set; }

    /// <summary>How often metrics are pushed over OTLP.</summary>
    public int OtlpExportIntervalMs { get; set; } = 15_000;

    /// <summary>Share of new traces recorded (0 to 1); a span whose parent was recorded is always recorded.</summary>
    public double TraceSampleRatio { get; set; } = 1.0;

    /// <summary>The <c>service.name</c> resource attribute of everything exported.</summary>
    public string ServiceName { get; set; } = "parley";

    /// <summary>
    /// Networks besides loopback (always allowed) whose clients may read <c>GET /metrics</c>, in CIDR form such as
    /// <c>10.0.0.0/8</c>; everyone else gets 404. Empty (the default): loopback only.
    /// </summary>
    public string[] MetricsAllowedNetworks { get; set; } = [];

    public bool OtlpEnabled => !string.IsNullOrWhiteSpace(OtlpEndpoint);

    /// <summary>The endpoint as a URI; refuses a bad setting at startup with a message that names it.</summary>
    public Uri? Validate()
    {
        if (string.IsNullOrWhiteSpace(ServiceName))
        {
            throw new InvalidOperationException("Telemetry:ServiceName must not be empty.");
        }

        if (double.IsNaN(TraceSampleRatio) || TraceSampleRatio is < 0 or > 1)
        {
            throw new InvalidOperationException($"Telemetry:TraceSampleRatio must be from 0 to 1 (it is {TraceSampleRatio}).");
        }

        if (!OtlpEnabled)
        {
            return null;
        }

        if (!Uri.TryCreate(OtlpEndpoint!.Trim(), UriKind.Absolute, out var endpoint) || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
        {
            // The value is not echoed: a URL can carry credentials.
            throw new InvalidOperationException("Telemetry:OtlpEndpoint must be an absolute http or https URL such as http://collector:4318.");
        }

        if (OtlpProtocol is not (Grpc or HttpProtobuf))
        {
            throw new InvalidOperationException($"Telemetry:OtlpProtocol must be '{HttpProtobuf}' or '{Grpc}' (it is '{OtlpProtocol}').");
        }

        if (!string.IsNullOrWhiteSpace(OtlpHeaders) && !AreHeaders(OtlpHeaders))
        {
            // Not echoed either: the value is usually a collector's API key.
            throw new InvalidOperationException("Telemetry:OtlpHeaders must be key=value pairs separated by commas, each key an HTTP header name, such as x-api-key=abc123.");
        }

        if (OtlpExportIntervalMs < 100)
        {
            throw new InvalidOperationException($"Telemetry:OtlpExportIntervalMs must be at least 100 (it is {OtlpExportIntervalMs}).");
        }

        return endpoint;
    }

    /// <summary>
    /// Whether the OTLP exporter will read <paramref name="headers"/> as it reads them (percent-decoded, split at
    /// commas, then at the first '='), with names HttpClient accepts. Otherwise it throws at startup without naming
    /// the setting, or every export fails.
    /// </summary>
    private static bool AreHeaders(string headers)
    {
        var rest = Uri.UnescapeDataString(headers).AsSpan();
        while (!rest.IsEmpty)
        {
            var comma = rest.IndexOf(',');
            var pair = comma < 0 ? rest : rest[..comma];
            rest = comma < 0 ? [] : rest[(comma + 1)..];
            var equals = pair.IndexOf('=');
            if (equals < 0 || pair[..equals].Trim() is not { IsEmpty: false } name || name.ContainsAnyExcept(HeaderNameChars))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>RFC 9110's token characters, what a header name is made of.</summary>
    private static readonly System.Buffers.SearchValues<char> HeaderNameChars =
        System.Buffers.SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
}
