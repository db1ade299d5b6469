using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Operations;

/// <summary>
/// Alone in the process: a recording host records, and exports, the spans of every other host in it (an
/// ActivitySource is process-wide and one listener's "record" is every listener's), so a host sampling nothing
/// would export its neighbours' sampled requests.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TraceContextCollection
{
    public const string Name = "trace context";
}

/// <summary>Requests come from clients: the trace context they send is not trusted.</summary>
[Collection(TraceContextCollection.Name)]
public sealed class TraceContextTests
{
    // A client's own trace context, marked sampled. Trusted, it would put the server's spans into the client's trace
    // and have them recorded whatever Telemetry:TraceSampleRatio says.
    private const string ClientTrace = "0af7651916cd43dd8448eb211c80319c";
    private const string Traceparent = $"00-{ClientTrace}-b7ad6b7169203331-01";

    [Fact]
    public async Task A_client_can_neither_choose_a_trace_nor_force_its_recording()
    {
        await using var store = await TestStore.CreateAsync(Backend.Sqlite);

        // Recorded at a ratio of 1, as a root in a trace of the server's own.
        var recorded = Assert.Single(await SpansOfRequestAsync(store, "1"));
        Assert.Equal("", recorded.ParentSpanId);
        Assert.NotEqual(ClientTrace, recorded.TraceId);

        // Not recorded at a ratio of 0, however the client asks.
        Assert.Empty(await SpansOfRequestAsync(store, "0"));
    }

    /// <summary>The spans of one GET /api/users/me sent with the client's traceparent and baggage.</summary>
    private static async Task<List<OtlpSpan>> SpansOfRequestAsync(TestStore store, string sampleRatio)
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        var server = await ParleyServer.StartAsync(store, null, $"--Telemetry:OtlpEndpoint={receiver.Endpoint}", $"--Telemetry:TraceSampleRatio={sampleRatio}");
        var port = server.BaseUri.Port.ToString(CultureInfo.InvariantCulture);
        try
        {
            var user = await server.RegisterAsync();
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/users/me");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", user.AccessToken);
            request.Headers.Add("traceparent", Traceparent);
            request.Headers.Add("baggage", "user.id=someone-else");
            using var response = await server.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        finally
        {
            await server.DisposeAsync(); // flushes every span
        }

        Assert.DoesNotContain(receiver.Spans(), s => s.TraceId == ClientTrace);
        Assert.DoesNotContain(receiver.Requests, r => r.Body.AsSpan().IndexOf("someone-else"u8) >= 0);
        return receiver.Spans().Where(s => s.Name == "GET /api/users/me" && s.Attributes.GetValueOrDefault("server.port") == port).ToList();
    }
}
