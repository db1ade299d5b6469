using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Parley.Server.Operations;
using Xunit;

namespace Parley.Tests.Operations;

public sealed class PrometheusExporterTests
{
    // Each test owns a uniquely named meter so exporters never see another test's instruments.
    private static string UniqueMeterName() => "Parley.Tests.Prometheus." + Guid.NewGuid().ToString("N");

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Returns the value of the single sample line whose series (name + labels) matches exactly.</summary>
    private static string SampleValue(string text, string series)
    {
        var line = Assert.Single(Lines(text), l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return line[(series.Length + 1)..];
    }

    [Fact]
    public void Counter_WithTwoTagSets_EmitsOneSeriesPerTagSet()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        var counter = meter.CreateCounter<long>("parley.messages.sent", description: "Messages sent.");

        counter.Add(3, new KeyValuePair<string, object?>("room", "a"), new KeyValuePair<string, object?>("kind", "text"));
        counter.Add(4, new KeyValuePair<string, object?>("kind", "text"), new KeyValuePair<string, object?>("room", "a"));
        counter.Add(5, new KeyValuePair<string, object?>("room", "b"), new KeyValuePair<string, object?>("kind", "text"));

        var text = exporter.Scrape();

        // Tag order does not split a series; labels are rendered sorted by name.
        Assert.Equal("7", SampleValue(text, "parley_messages_sent_total{kind=\"text\",room=\"a\"}"));
        Assert.Equal("5", SampleValue(text, "parley_messages_sent_total{kind=\"text\",room=\"b\"}"));
        Assert.Equal(2, Lines(text).Count(l => l.StartsWith("parley_messages_sent_total{", StringComparison.Ordinal)));
        Assert.Contains("# HELP parley_messages_sent_total Messages sent.\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE parley_messages_sent_total counter\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Counter_WithoutTags_HasNoLabelBraces()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        var counter = meter.CreateCounter<int>("logins");

        counter.Add(2);
        counter.Add(40);

        Assert.Equal("42", SampleValue(exporter.Scrape(), "logins_total"));
    }

    [Fact]
    public void Histogram_BucketsAreCumulative_AndSumAndCountAreCorrect()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        var histogram = meter.CreateHistogram<double>(
            "parley.fanout.size",
            unit: null,
            description: null,
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 5, 10] });
        var tag = new KeyValuePair<string, object?>("room", "r1");

        // 0.5 and 1 (boundary is inclusive) -> le=1; 3 -> le=5; 10 -> le=10; 50 and 100 -> +Inf.
        foreach (var value in new[] { 0.5, 1, 3, 10, 50, 100 })
        {
            histogram.Record(value, tag);
        }

        var text = exporter.Scrape();

        Assert.Contains("# TYPE parley_fanout_size histogram\n", text, StringComparison.Ordinal);
        Assert.Equal("2", SampleValue(text, "parley_fanout_size_bucket{room=\"r1\",le=\"1\"}"));
        Assert.Equal("3", SampleValue(text, "parley_fanout_size_bucket{room=\"r1\",le=\"5\"}"));
        Assert.Equal("4", SampleValue(text, "parley_fanout_size_bucket{room=\"r1\",le=\"10\"}"));
        Assert.Equal("6", SampleValue(text, "parley_fanout_size_bucket{room=\"r1\",le=\"+Inf\"}"));
        Assert.Equal("6", SampleValue(text, "parley_fanout_size_count{room=\"r1\"}"));
        Assert.Equal(164.5, double.Parse(SampleValue(text, "parley_fanout_size_sum{room=\"r1\"}"), CultureInfo.InvariantCulture));

        // Buckets are emitted in ascending le order, +Inf last, then _sum and _count.
        var seriesLines = Lines(text).Where(l => !l.StartsWith('#')).Select(l => l[..l.LastIndexOf(' ')]).ToArray();
        Assert.Equal(
            [
                "parley_fanout_size_bucket{room=\"r1\",le=\"1\"}",
                "parley_fanout_size_bucket{room=\"r1\",le=\"5\"}",
                "parley_fanout_size_bucket{room=\"r1\",le=\"10\"}",
                "parley_fanout_size_bucket{room=\"r1\",le=\"+Inf\"}",
                "parley_fanout_size_sum{room=\"r1\"}",
                "parley_fanout_size_count{room=\"r1\"}",
            ],
            seriesLines);
    }

    [Fact]
    public void Histogram_WithoutTags_RendersOnlyLeLabel()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        var histogram = meter.CreateHistogram<int>("batch.size");

        histogram.Record(3);
        histogram.Record(20_000);

        var text = exporter.Scrape();

        Assert.Equal("0", SampleValue(text, "batch_size_bucket{le=\"2\"}"));
        Assert.Equal("1", SampleValue(text, "batch_size_bucket{le=\"5\"}"));
        Assert.Equal("1", SampleValue(text, "batch_size_bucket{le=\"10000\"}"));
        Assert.Equal("2", SampleValue(text, "batch_size_bucket{le=\"+Inf\"}"));
        Assert.Equal("20003", SampleValue(text, "batch_size_sum"));
        Assert.Equal("2", SampleValue(text, "batch_size_count"));
    }

    [Theory]
    [InlineData("s", "0.0005,0.001,0.0025,0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10")]
    [InlineData("ms", "0.5,1,2.5,5,10,25,50,100,250,500,1000,2500,5000,10000")]
    [InlineData("{message}", "1,2,5,10,25,50,100,250,500,1000,2500,5000,10000")]
    public void Histogram_WithoutAdvice_UsesDefaultBucketsForUnit(string unit, string expectedBounds)
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        var histogram = meter.CreateHistogram<double>("work", unit);

        histogram.Record(1);

        var bounds = Lines(exporter.Scrape())
            .Where(l => l.Contains("_bucket{", StringComparison.Ordinal))
            .Select(l => l[(l.IndexOf("le=\"", StringComparison.Ordinal) + 4)..l.IndexOf("\"}", StringComparison.Ordinal)])
            .ToArray();
        Assert.Equal([.. expectedBounds.Split(','), "+Inf"], bounds);
    }

    [Fact]
    public void Histogram_UsesInstrumentAdviceOverUnitDefaults()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        var histogram = meter.CreateHistogram<long>(
            "payload.size",
            unit: "By",
            description: null,
            tags: null,
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1024, 65536] });

        histogram.Record(2048);

        var text = exporter.Scrape();

        Assert.Equal(3, Lines(text).Count(l => l.StartsWith("payload_size_bytes_bucket{", StringComparison.Ordinal)));
        Assert.Equal("0", SampleValue(text, "payload_size_bytes_bucket{le=\"1024\"}"));
        Assert.Equal("1", SampleValue(text, "payload_size_bytes_bucket{le=\"65536\"}"));
        Assert.Equal("1", SampleValue(text, "payload_size_bytes_bucket{le=\"+Inf\"}"));
    }

    [Fact]
    public void ObservableGauge_IsPolledAtEachScrape()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        var connections = 5;
        var polls = 0;
        meter.CreateObservableGauge("parley.connections", () =>
        {
            polls++;
            return new Measurement<int>(connections, new KeyValuePair<string, object?>("transport", "ws"));
        });

        var first = exporter.Scrape();
        connections = 9;
        var second = exporter.Scrape();

        Assert.Equal(2, polls);
        Assert.Contains("# TYPE parley_connections gauge\n", first, StringComparison.Ordinal);
        Assert.Equal("5", SampleValue(first, "parley_connections{transport=\"ws\"}"));
        Assert.Equal("9", SampleValue(second, "parley_connections{transport=\"ws\"}"));
    }

    [Fact]
    public void ObservableGauge_SeriesNotReportedAnyMore_IsDropped()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        string[] rooms = ["a", "b"];
        meter.CreateObservableGauge(
            "room.members",
            () => rooms.Select(r => new Measurement<double>(1.5, new KeyValuePair<string, object?>("room", r))));

        var first = exporter.Scrape();
        rooms = ["b"];
        var second = exporter.Scrape();

        Assert.Equal("1.5", SampleValue(first, "room_members{room=\"a\"}"));
        Assert.DoesNotContain("room_members{room=\"a\"}", second, StringComparison.Ordinal);
        Assert.Equal("1.5", SampleValue(second, "room_members{room=\"b\"}"));
    }

    [Fact]
    public void ObservableCounter_IsCounter_AndObservableUpDownCounter_IsGauge()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        meter.CreateObservableCounter("gc.collections", () => 12L);
        meter.CreateObservableUpDownCounter("queue.depth", () => -3);

        var text = exporter.Scrape();

        Assert.Contains("# TYPE gc_collections_total counter\n", text, StringComparison.Ordinal);
        Assert.Equal("12", SampleValue(text, "gc_collections_total"));
        Assert.Contains("# TYPE queue_depth gauge\n", text, StringComparison.Ordinal);
        Assert.Equal("-3", SampleValue(text, "queue_depth"));
    }

    [Fact]
    public void UpDownCounter_IsGaugeOfTheRunningSum()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        var active = meter.CreateUpDownCounter<long>("parley.sessions.active");

        active.Add(5);
        active.Add(-2);

        var text = exporter.Scrape();

        Assert.Contains("# TYPE parley_sessions_active gauge\n", text, StringComparison.Ordinal);
        Assert.Equal("3", SampleValue(text, "parley_sessions_active"));
    }

    [Fact]
    public void Gauge_KeepsLastRecordedValue()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        var gauge = meter.CreateGauge<double>("cache.fill.ratio");

        gauge.Record(0.25);
        gauge.Record(0.75);

        var text = exporter.Scrape();

        Assert.Contains("# TYPE cache_fill_ratio gauge\n", text, StringComparison.Ordinal);
        Assert.Equal("0.75", SampleValue(text, "cache_fill_ratio"));
    }

    [Fact]
    public void AllSupportedMeasurementTypes_AreAggregated()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);

        meter.CreateCounter<byte>("c.byte").Add(2);
        meter.CreateCounter<short>("c.short").Add(300);
        meter.CreateCounter<int>("c.int").Add(70_000);
        meter.CreateCounter<long>("c.long").Add(long.MaxValue);
        meter.CreateCounter<float>("c.float").Add(0.5f);
        meter.CreateCounter<double>("c.double").Add(0.125);
        meter.CreateCounter<decimal>("c.decimal").Add(1.25m);

        var text = exporter.Scrape();

        Assert.Equal("2", SampleValue(text, "c_byte_total"));
        Assert.Equal("300", SampleValue(text, "c_short_total"));
        Assert.Equal("70000", SampleValue(text, "c_int_total"));
        Assert.Equal("9223372036854775807", SampleValue(text, "c_long_total"));
        Assert.Equal("0.5", SampleValue(text, "c_float_total"));
        Assert.Equal("0.125", SampleValue(text, "c_double_total"));
        Assert.Equal("1.25", SampleValue(text, "c_decimal_total"));
    }

    [Fact]
    public void Names_AreSanitised_AndGetUnitSuffixes()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);

        meter.CreateHistogram<double>("http.server.request.duration", "s").Record(0.2);
        meter.CreateCounter<long>("my-app.bytes.sent", "By").Add(10);
        meter.CreateUpDownCounter<int>("cache/size:now", "By").Add(1);
        meter.CreateGauge<int>("uptime_seconds", "s").Record(7);
        meter.CreateCounter<int>("requests.total").Add(1);
        meter.CreateGauge<int>("2xx.rate", "{request}").Record(4);

        var text = exporter.Scrape();

        Assert.Contains("# TYPE http_server_request_duration_seconds histogram\n", text, StringComparison.Ordinal);
        Assert.Equal("1", SampleValue(text, "http_server_request_duration_seconds_bucket{le=\"0.25\"}"));
        Assert.Equal("10", SampleValue(text, "my_app_bytes_sent_bytes_total"));
        Assert.Equal("1", SampleValue(text, "cache_size_now_bytes"));

        // The suffix is not doubled, and an existing _total is not repeated.
        Assert.Equal("7", SampleValue(text, "uptime_seconds"));
        Assert.Equal("1", SampleValue(text, "requests_total"));
        Assert.DoesNotContain("requests_total_total", text, StringComparison.Ordinal);

        // Names may not start with a digit; unknown units add no suffix.
        Assert.Equal("4", SampleValue(text, "_2xx_rate"));
    }

    [Fact]
    public void LabelNames_AreSanitised_AndLabelValues_AreEscaped()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        var counter = meter.CreateCounter<int>("escapes");

        counter.Add(
            1,
            new KeyValuePair<string, object?>("http.route", "/rooms/{id}"),
            new KeyValuePair<string, object?>("user-agent", "a\\b\"c\nd"),
            new KeyValuePair<string, object?>("status", 200),
            new KeyValuePair<string, object?>("ok", true),
            new KeyValuePair<string, object?>("none", null));

        var text = exporter.Scrape();

        Assert.Equal(
            "1",
            SampleValue(text, "escapes_total{http_route=\"/rooms/{id}\",none=\"\",ok=\"true\",status=\"200\",user_agent=\"a\\\\b\\\"c\\nd\"}"));

        // The escaped newline must not break the sample onto a second line.
        Assert.Single(Lines(text), l => !l.StartsWith('#'));
    }

    [Fact]
    public void Help_IsEscaped_AndHelpAndTypeAppearOncePerFamily()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        var counter = meter.CreateCounter<int>("jobs", description: "Line one\nback\\slash \"quoted\"");

        counter.Add(1, new KeyValuePair<string, object?>("q", "a"));
        counter.Add(1, new KeyValuePair<string, object?>("q", "b"));
        counter.Add(1, new KeyValuePair<string, object?>("q", "c"));

        var lines = Lines(exporter.Scrape());

        Assert.Equal("# HELP jobs_total Line one\\nback\\\\slash \"quoted\"", Assert.Single(lines, l => l.StartsWith("# HELP", StringComparison.Ordinal)));
        Assert.Equal("# TYPE jobs_total counter", Assert.Single(lines, l => l.StartsWith("# TYPE", StringComparison.Ordinal)));
        Assert.Equal(5, lines.Length);
    }

    [Fact]
    public void Output_IsSortedByMetricName_ThenByLabels()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        var zeta = meter.CreateCounter<int>("zeta");
        var alpha = meter.CreateUpDownCounter<int>("alpha");

        zeta.Add(1, new KeyValuePair<string, object?>("k", "b"));
        zeta.Add(1, new KeyValuePair<string, object?>("k", "a"));
        alpha.Add(1, new KeyValuePair<string, object?>("k", "c"));

        var text = exporter.Scrape();

        Assert.Equal(
            "# TYPE alpha gauge\nalpha{k=\"c\"} 1\n# TYPE zeta_total counter\nzeta_total{k=\"a\"} 1\nzeta_total{k=\"b\"} 1\n",
            text);
        Assert.Equal(text, exporter.Scrape());
    }

    [Fact]
    public void SpecialFloatingPointValues_UsePrometheusSpelling()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        var gauge = meter.CreateGauge<double>("special");

        gauge.Record(double.NaN, new KeyValuePair<string, object?>("v", "nan"));
        gauge.Record(double.PositiveInfinity, new KeyValuePair<string, object?>("v", "pinf"));
        gauge.Record(double.NegativeInfinity, new KeyValuePair<string, object?>("v", "ninf"));
        gauge.Record(1e-7, new KeyValuePair<string, object?>("v", "tiny"));

        var text = exporter.Scrape();

        Assert.Equal("NaN", SampleValue(text, "special{v=\"nan\"}"));
        Assert.Equal("+Inf", SampleValue(text, "special{v=\"pinf\"}"));
        Assert.Equal("-Inf", SampleValue(text, "special{v=\"ninf\"}"));
        Assert.Equal(1e-7, double.Parse(SampleValue(text, "special{v=\"tiny\"}"), CultureInfo.InvariantCulture));
    }

    [Fact]
    public void MetersNotInTheConfiguredSet_AreIgnored()
    {
        var watchedName = UniqueMeterName();
        using var watched = new Meter(watchedName);
        using var other = new Meter(UniqueMeterName());
        using var exporter = new PrometheusExporter([watchedName]);

        watched.CreateCounter<int>("seen").Add(1);
        other.CreateCounter<int>("unseen").Add(1);

        var text = exporter.Scrape();

        Assert.Equal("1", SampleValue(text, "seen_total"));
        Assert.DoesNotContain("unseen", text, StringComparison.Ordinal);
    }

    [Fact]
    public void InstrumentsCreatedBeforeTheExporter_AreExported()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        var counter = meter.CreateCounter<int>("early");
        using var exporter = new PrometheusExporter([meterName]);

        counter.Add(6);

        Assert.Equal("6", SampleValue(exporter.Scrape(), "early_total"));
    }

    [Fact]
    public void MeterTags_BecomeLabels()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName, version: null, tags: [new KeyValuePair<string, object?>("node", "n1")]);
        using var exporter = new PrometheusExporter([meterName]);

        meter.CreateCounter<int>("tagged").Add(1, new KeyValuePair<string, object?>("room", "r"));

        Assert.Equal("1", SampleValue(exporter.Scrape(), "tagged_total{node=\"n1\",room=\"r\"}"));
    }

    [Fact]
    public void DisposedMeter_IsRemovedFromOutput()
    {
        var meterName = UniqueMeterName();
        using var exporter = new PrometheusExporter([meterName]);
        var meter = new Meter(meterName);
        meter.CreateCounter<int>("transient").Add(1);
        Assert.Contains("transient_total 1\n", exporter.Scrape(), StringComparison.Ordinal);

        meter.Dispose();

        Assert.Equal(string.Empty, exporter.Scrape());
    }

    [Fact]
    public void SameNamedInstrumentsOnTwoMeterInstances_AreMerged()
    {
        var meterName = UniqueMeterName();
        using var first = new Meter(meterName);
        using var second = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);

        first.CreateCounter<int>("requests").Add(2);
        second.CreateCounter<long>("requests").Add(3);

        var text = exporter.Scrape();

        Assert.Equal("5", SampleValue(text, "requests_total"));
        Assert.Single(Lines(text), l => l.StartsWith("# TYPE", StringComparison.Ordinal));
    }

    [Fact]
    public void ConcurrentMeasurements_AreNotLost()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        var counter = meter.CreateCounter<long>("hits");
        var doubles = meter.CreateCounter<double>("weight");
        var histogram = meter.CreateHistogram<double>("latency", "ms");

        Parallel.For(0, 8, worker =>
        {
            var tag = new KeyValuePair<string, object?>("shard", worker % 2);
            for (var i = 0; i < 10_000; i++)
            {
                counter.Add(1, tag);
                doubles.Add(0.5, tag);
                histogram.Record(3, tag);
                if (i % 1000 == 0)
                {
                    _ = exporter.Scrape();
                }
            }
        });

        var text = exporter.Scrape();

        Assert.Equal("40000", SampleValue(text, "hits_total{shard=\"0\"}"));
        Assert.Equal("40000", SampleValue(text, "hits_total{shard=\"1\"}"));
        Assert.Equal("20000", SampleValue(text, "weight_total{shard=\"0\"}"));
        Assert.Equal("40000", SampleValue(text, "latency_count{shard=\"1\"}"));
        Assert.Equal("40000", SampleValue(text, "latency_bucket{shard=\"1\",le=\"5\"}"));
        Assert.Equal("0", SampleValue(text, "latency_bucket{shard=\"1\",le=\"2.5\"}"));
    }

    [Fact]
    public void TooManyTagSets_AreFoldedIntoAnOverflowSeries()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        var counter = meter.CreateCounter<int>("by.user");

        for (var i = 0; i < PrometheusExporter.MaxSeriesPerInstrument + 5; i++)
        {
            counter.Add(1, new KeyValuePair<string, object?>("user", i));
        }

        var text = exporter.Scrape();

        Assert.Equal("5", SampleValue(text, "by_user_total{otel_metric_overflow=\"true\"}"));
        Assert.Equal(
            PrometheusExporter.MaxSeriesPerInstrument + 1,
            Lines(text).Count(l => l.StartsWith("by_user_total{", StringComparison.Ordinal)));
    }

    [Fact]
    public void TagOrder_DoesNotCreateExtraSeries()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        var counter = meter.CreateCounter<int>("by.zone");
        var zone = new KeyValuePair<string, object?>("zone", "z");

        // If reordered tags mapped to separate series, this would hit the series cap and overflow.
        for (var i = 0; i < PrometheusExporter.MaxSeriesPerInstrument; i++)
        {
            var user = new KeyValuePair<string, object?>("user", i);
            counter.Add(1, user, zone);
            counter.Add(1, zone, user);
        }

        var text = exporter.Scrape();

        Assert.DoesNotContain("otel_metric_overflow", text, StringComparison.Ordinal);
        Assert.Equal("2", SampleValue(text, "by_zone_total{user=\"1999\",zone=\"z\"}"));
    }

    [Fact]
    public void WriteTo_MatchesScrape()
    {
        var meterName = UniqueMeterName();
        using var meter = new Meter(meterName);
        using var exporter = new PrometheusExporter([meterName]);
        meter.CreateCounter<int>("written").Add(1);
        using var writer = new StringWriter(CultureInfo.InvariantCulture);

        exporter.WriteTo(writer);

        Assert.Equal("# TYPE written_total counter\nwritten_total 1\n", writer.ToString());
        Assert.Equal(writer.ToString(), exporter.Scrape());
    }

    [Fact]
    public void Scrape_AfterDispose_Throws()
    {
        var exporter = new PrometheusExporter([UniqueMeterName()]);

        exporter.Dispose();
        exporter.Dispose();

        Assert.Throws<ObjectDisposedException>(() => exporter.Scrape());
    }

    [Fact]
    public void DefaultConstructor_ListensToTheDefaultMeters()
    {
        Assert.Equal(
            ["Parley", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Runtime"],
            PrometheusExporter.DefaultMeterNames);

        // A meter whose name is not in the defaults must not show up.
        var otherName = UniqueMeterName();
        using var other = new Meter(otherName);
        using var exporter = new PrometheusExporter();
        other.CreateCounter<int>("not.default").Add(1);

        Assert.DoesNotContain("not_default", exporter.Scrape(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MetricsEndpoint_ServesTextFormat_IncludingHttpServerMetrics()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddPrometheusExporter();
        await using var app = builder.Build();
        // A unique route keeps the assertion exact even if other test hosts in this process record HTTP metrics.
        var route = "/ping-" + Guid.NewGuid().ToString("N");
        app.MapGet(route, () => "pong");
        app.MapPrometheusMetrics();
        await app.StartAsync(cancellationToken);

        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
        using var ping = await client.GetAsync(new Uri(route, UriKind.Relative), cancellationToken);
        Assert.Equal(HttpStatusCode.OK, ping.StatusCode);

        // The request-duration measurement is recorded as the request completes, which can trail
        // the client seeing the response, so poll briefly.
        string body = string.Empty;
        HttpResponseMessage? response = null;
        for (var attempt = 0; attempt < 50; attempt++)
        {
            response?.Dispose();
            response = await client.GetAsync(new Uri("/metrics", UriKind.Relative), cancellationToken);
            body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (body.Contains($"http_route=\"{route}\"", StringComparison.Ordinal))
            {
                break;
            }

            await Task.Delay(100, cancellationToken);
        }

        using (response)
        {
            Assert.NotNull(response);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        }

        Assert.Contains("# TYPE http_server_request_duration_seconds histogram\n", body, StringComparison.Ordinal);
        var pingCount = Assert.Single(
            Lines(body),
            l => l.StartsWith("http_server_request_duration_seconds_count{", StringComparison.Ordinal)
                && l.Contains($"http_route=\"{route}\"", StringComparison.Ordinal));
        Assert.EndsWith(" 1", pingCount, StringComparison.Ordinal);
        Assert.Contains("http_response_status_code=\"200\"", pingCount, StringComparison.Ordinal);
        Assert.Same(app.Services.GetRequiredService<PrometheusExporter>(), app.Services.GetRequiredService<PrometheusExporter>());

        await app.StopAsync(cancellationToken);
    }
}
