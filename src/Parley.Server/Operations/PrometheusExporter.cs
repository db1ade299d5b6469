using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Numerics;
using System.Text;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging.Abstractions;

namespace Parley.Server.Operations;

/// <summary>
/// Exports in-box <see cref="System.Diagnostics.Metrics"/> instruments in the Prometheus text
/// exposition format (version 0.0.4). Listens only to meters whose name is in the configured set.
/// </summary>
/// <remarks>
/// Mapping: Counter/ObservableCounter -> counter (<c>_total</c>); UpDownCounter, ObservableUpDownCounter,
/// Gauge and ObservableGauge -> gauge; Histogram -> histogram. Observable instruments are polled on scrape
/// and only the series they report in that scrape are exported.
/// Register through <see cref="PrometheusEndpointExtensions.AddPrometheusExporter(IServiceCollection)"/>
/// rather than <c>AddSingleton&lt;PrometheusExporter&gt;()</c>: the container would otherwise pick the
/// <c>IEnumerable&lt;string&gt;</c> constructor and inject an empty meter list.
/// </remarks>
public sealed class PrometheusExporter : IDisposable
{
    /// <summary>Content type of the text exposition format produced by <see cref="Scrape"/>.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>
    /// Per-instrument cap on distinct tag sets; further tag sets are folded into one
    /// <c>otel_metric_overflow="true"</c> series so a high-cardinality tag cannot exhaust memory.
    /// </summary>
    internal const int MaxSeriesPerInstrument = 2000;

    private static readonly double[] SecondsBuckets =
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    // Written out rather than computed (x1000) so the bucket labels carry no floating-point noise.
    private static readonly double[] MillisecondsBuckets =
        [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

    private static readonly double[] GenericBuckets =
        [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

    private static readonly Action<ILogger, Exception?> LogObservableCallbackFailed = LoggerMessage.Define(
        LogLevel.Warning,
        new EventId(1, "PrometheusObservableCallbackFailed"),
        "An observable instrument callback threw during a Prometheus scrape; its series are omitted from this scrape.");

    private readonly FrozenSet<string> _meterNames;
    private readonly ILogger _logger;
    private readonly MeterListener _listener;
    private readonly ConcurrentDictionary<Instrument, InstrumentState> _instruments = new();

    // Serialises scrapes only: observable callbacks run inside RecordObservableInstruments and their series
    // are reset per scrape. Measurement callbacks of synchronous instruments never take this lock.
    private readonly Lock _scrapeLock = new();
    private long _nextInstrumentId;
    private bool _disposed;

    /// <summary>The meters exported by default: the app's own meter plus ASP.NET Core's HTTP and Kestrel meters.</summary>
    public static IReadOnlyList<string> DefaultMeterNames { get; } =
        ["Parley", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Runtime"];

    /// <summary>Creates an exporter listening to <see cref="DefaultMeterNames"/>.</summary>
    public PrometheusExporter()
        : this(DefaultMeterNames, null)
    {
    }

    /// <summary>Creates an exporter listening to the meters with exactly these (case-sensitive) names.</summary>
    public PrometheusExporter(IEnumerable<string> meterNames)
        : this(meterNames, null)
    {
    }

    /// <summary>Creates an exporter listening to the given meters, logging callback failures to <paramref name="logger"/>.</summary>
    public PrometheusExporter(IEnumerable<string> meterNames, ILogger<PrometheusExporter>? logger)
    {
        ArgumentNullException.ThrowIfNull(meterNames);
        _meterNames = meterNames.ToFrozenSet(StringComparer.Ordinal);
        _logger = logger ?? (ILogger)NullLogger.Instance;

        _listener = new MeterListener
        {
            InstrumentPublished = OnInstrumentPublished,
            MeasurementsCompleted = OnMeasurementsCompleted,
        };

        // The listener state is the InstrumentState itself, so the hot path needs no per-instrument lookup.
        _listener.SetMeasurementEventCallback<byte>(static (_, value, tags, state) => ((InstrumentState)state!).Record((long)value, tags));
        _listener.SetMeasurementEventCallback<short>(static (_, value, tags, state) => ((InstrumentState)state!).Record((long)value, tags));
        _listener.SetMeasurementEventCallback<int>(static (_, value, tags, state) => ((InstrumentState)state!).Record((long)value, tags));
        _listener.SetMeasurementEventCallback<long>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<float>(static (_, value, tags, state) => ((InstrumentState)state!).Record((double)value, tags));
        _listener.SetMeasurementEventCallback<double>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<decimal>(static (_, value, tags, state) => ((InstrumentState)state!).Record((double)value, tags));

        // Start last: it synchronously publishes already-existing instruments, which needs every field set.
        _listener.Start();
    }

    /// <summary>Polls observable instruments and returns the current exposition text.</summary>
    public string Scrape()
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        WriteTo(writer);
        return writer.ToString();
    }

    /// <summary>Polls observable instruments and writes the exposition text, sorted by metric name then label string.</summary>
    public void WriteTo(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var families = Collect();

        // Written outside the scrape lock so a slow writer cannot stall other scrapes.
        foreach (var family in families.Values)
        {
            family.WriteTo(writer);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_scrapeLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        _listener.Dispose();
        _instruments.Clear();
    }

    private SortedDictionary<string, Family> Collect()
    {
        lock (_scrapeLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);

            // Id order makes merging of same-named instruments deterministic (later gauges win).
            var states = _instruments.Values.OrderBy(static s => s.Id).ToArray();
            foreach (var state in states)
            {
                if (state.IsObservable)
                {
                    state.Reset();
                }
            }

            try
            {
                _listener.RecordObservableInstruments();
            }
            catch (AggregateException ex)
            {
                // The listener still polls every instrument before throwing; only the failing ones are missing.
                LogObservableCallbackFailed(_logger, ex);
            }

            var families = new SortedDictionary<string, Family>(StringComparer.Ordinal);
            foreach (var state in states)
            {
                if (!families.TryGetValue(state.MetricName, out var family))
                {
                    family = new Family(state.MetricName, state.Kind, state.Bounds);
                    families.Add(state.MetricName, family);
                }
                else if (!family.IsCompatibleWith(state.Kind, state.Bounds))
                {
                    // Same Prometheus name but a different type or bucket layout: it cannot share the family.
                    continue;
                }

                family.Help ??= state.Help;
                state.CollectInto(family);
            }

            return families;
        }
    }

    private void OnInstrumentPublished(Instrument instrument, MeterListener listener)
    {
        if (!_meterNames.Contains(instrument.Meter.Name))
        {
            return;
        }

        var state = CreateState(instrument, Interlocked.Increment(ref _nextInstrumentId));
        if (state is null)
        {
            return;
        }

        _instruments[instrument] = state;
        listener.EnableMeasurementEvents(instrument, state);
    }

    // Fires when the meter is disposed (or the listener stops): the instrument can no longer report.
    private void OnMeasurementsCompleted(Instrument instrument, object? state) => _instruments.TryRemove(instrument, out _);

    private static InstrumentState? CreateState(Instrument instrument, long id)
    {
        var type = instrument.GetType();
        if (!type.IsGenericType)
        {
            return null;
        }

        var definition = type.GetGenericTypeDefinition();
        if (definition == typeof(Counter<>))
        {
            return new SumState(instrument, id, MetricKind.Counter);
        }

        if (definition == typeof(UpDownCounter<>))
        {
            return new SumState(instrument, id, MetricKind.Gauge);
        }

        if (definition == typeof(ObservableCounter<>))
        {
            return new LastValueState(instrument, id, MetricKind.Counter, additive: true);
        }

        if (definition == typeof(ObservableUpDownCounter<>))
        {
            return new LastValueState(instrument, id, MetricKind.Gauge, additive: true);
        }

        if (definition == typeof(ObservableGauge<>) || definition == typeof(Gauge<>))
        {
            return new LastValueState(instrument, id, MetricKind.Gauge, additive: false);
        }

        if (definition == typeof(Histogram<>))
        {
            return new HistogramState(instrument, id, GetBucketBounds(instrument));
        }

        return null;
    }

    private static double[] GetBucketBounds(Instrument instrument)
    {
        var advised = instrument switch
        {
            Instrument<byte> i => ToDoubles(i.Advice?.HistogramBucketBoundaries),
            Instrument<short> i => ToDoubles(i.Advice?.HistogramBucketBoundaries),
            Instrument<int> i => ToDoubles(i.Advice?.HistogramBucketBoundaries),
            Instrument<long> i => ToDoubles(i.Advice?.HistogramBucketBoundaries),
            Instrument<float> i => ToDoubles(i.Advice?.HistogramBucketBoundaries),
            Instrument<double> i => ToDoubles(i.Advice?.HistogramBucketBoundaries),
            Instrument<decimal> i => ToDoubles(i.Advice?.HistogramBucketBoundaries),
            _ => null,
        };

        if (advised is not null)
        {
            // +Inf is always appended as the last bucket, and NaN is not a usable boundary.
            return [.. advised.Where(static b => !double.IsNaN(b) && !double.IsPositiveInfinity(b)).Distinct().Order()];
        }

        return instrument.Unit switch
        {
            "s" => SecondsBuckets,
            "ms" => MillisecondsBuckets,
            _ => GenericBuckets,
        };
    }

    private static double[]? ToDoubles<T>(IReadOnlyList<T>? values)
        where T : struct, INumberBase<T>
        => values is null ? null : [.. values.Select(static v => double.CreateChecked(v))];

    internal static string GetMetricName(string instrumentName, string? unit, MetricKind kind)
    {
        var name = SanitizeName(instrumentName);
        var isCounter = kind == MetricKind.Counter;

        // Strip an existing _total so the unit suffix lands before it and it is not doubled.
        if (isCounter && name.EndsWith("_total", StringComparison.Ordinal) && name.Length > "_total".Length)
        {
            name = name[..^"_total".Length];
        }

        var unitSuffix = unit switch
        {
            "s" => "_seconds",
            "By" => "_bytes",
            _ => null,
        };

        if (unitSuffix is not null && !name.EndsWith(unitSuffix, StringComparison.Ordinal))
        {
            name += unitSuffix;
        }

        return isCounter ? name + "_total" : name;
    }

    /// <summary>Maps any string to <c>[a-zA-Z_][a-zA-Z0-9_]*</c>, valid for both metric and label names.</summary>
    internal static string SanitizeName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "_";
        }

        var valid = !char.IsAsciiDigit(name[0]);
        foreach (var c in name)
        {
            if (!IsNameChar(c))
            {
                valid = false;
                break;
            }
        }

        if (valid)
        {
            return name;
        }

        var builder = new StringBuilder(name.Length + 1);
        if (char.IsAsciiDigit(name[0]))
        {
            builder.Append('_');
        }

        foreach (var c in name)
        {
            builder.Append(IsNameChar(c) ? c : '_');
        }

        return builder.ToString();

        static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';
    }

    internal static string FormatDouble(double value)
    {
        if (double.IsNaN(value))
        {
            return "NaN";
        }

        if (double.IsPositiveInfinity(value))
        {
            return "+Inf";
        }

        if (double.IsNegativeInfinity(value))
        {
            return "-Inf";
        }

        return value.ToString("R", CultureInfo.InvariantCulture);
    }

    private static string FormatLabelValue(object? value) => value switch
    {
        null => string.Empty,
        string s => s,
        bool b => b ? "true" : "false",
        double d => FormatDouble(d),
        float f => FormatDouble(f),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };

    private static void AppendEscapedLabelValue(StringBuilder builder, string value)
    {
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\':
                    builder.Append(@"\\");
                    break;
                case '"':
                    builder.Append("\\\"");
                    break;
                case '\n':
                    builder.Append(@"\n");
                    break;
                default:
                    builder.Append(c);
                    break;
            }
        }
    }

    private static string EscapeHelp(string help) =>
        help.Replace("\\", @"\\", StringComparison.Ordinal).Replace("\n", @"\n", StringComparison.Ordinal);

    internal enum MetricKind
    {
        Counter,
        Gauge,
        Histogram,
    }

    /// <summary>A scalar value kept as an exact integer part plus a floating-point part.</summary>
    private readonly record struct NumberValue(long Integer, double Fraction)
    {
        public NumberValue Add(NumberValue other) => new(Integer + other.Integer, Fraction + other.Fraction);

        // Integer-only values print exactly even beyond 2^53.
        public override string ToString() =>
            Fraction == 0 ? Integer.ToString(CultureInfo.InvariantCulture) : FormatDouble(Integer + Fraction);
    }

    /// <summary>An immutable copy of one measurement tag set, compared regardless of tag order.</summary>
    private sealed class TagSet
    {
        private TagSet(KeyValuePair<string, object?>[] tags, int hash)
        {
            Tags = tags;
            Hash = hash;
        }

        public KeyValuePair<string, object?>[] Tags { get; }

        public int Hash { get; }

        // Rendered lazily at scrape time (under the scrape lock), never on the measurement path.
        public string? Labels { get; set; }

        public static TagSet Create(ReadOnlySpan<KeyValuePair<string, object?>> tags) => new(tags.ToArray(), ComputeHash(tags));

        public static int ComputeHash(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            // Summing per-tag hashes makes the hash independent of tag order.
            var hash = tags.Length;
            foreach (var tag in tags)
            {
                hash = unchecked(hash + HashCode.Combine(tag.Key, tag.Value));
            }

            return hash;
        }

        public static bool SameTags(ReadOnlySpan<KeyValuePair<string, object?>> x, ReadOnlySpan<KeyValuePair<string, object?>> y)
        {
            if (x.Length != y.Length)
            {
                return false;
            }

            // Fast path: callers usually pass tags in the same order every time.
            var ordered = true;
            for (var i = 0; i < x.Length; i++)
            {
                if (!TagEquals(x[i], y[i]))
                {
                    ordered = false;
                    break;
                }
            }

            return ordered || (ContainsAll(x, y) && ContainsAll(y, x));
        }

        private static bool ContainsAll(ReadOnlySpan<KeyValuePair<string, object?>> items, ReadOnlySpan<KeyValuePair<string, object?>> pool)
        {
            foreach (var item in items)
            {
                var found = false;
                foreach (var candidate in pool)
                {
                    if (TagEquals(item, candidate))
                    {
                        found = true;
                        break;
                    }
                }

                if (!found)
                {
                    return false;
                }
            }

            return true;
        }

        private static bool TagEquals(KeyValuePair<string, object?> x, KeyValuePair<string, object?> y) =>
            string.Equals(x.Key, y.Key, StringComparison.Ordinal) && Equals(x.Value, y.Value);
    }

    /// <summary>Lets the series dictionary be probed with the callback's tag span, allocating only for new series.</summary>
    private sealed class TagSetComparer
        : IEqualityComparer<TagSet>, IAlternateEqualityComparer<ReadOnlySpan<KeyValuePair<string, object?>>, TagSet>
    {
        public static TagSetComparer Instance { get; } = new();

        public bool Equals(TagSet? x, TagSet? y) =>
            ReferenceEquals(x, y) || (x is not null && y is not null && x.Hash == y.Hash && TagSet.SameTags(x.Tags, y.Tags));

        public int GetHashCode(TagSet obj) => obj.Hash;

        public bool Equals(ReadOnlySpan<KeyValuePair<string, object?>> alternate, TagSet other) => TagSet.SameTags(alternate, other.Tags);

        public int GetHashCode(ReadOnlySpan<KeyValuePair<string, object?>> alternate) => TagSet.ComputeHash(alternate);

        public TagSet Create(ReadOnlySpan<KeyValuePair<string, object?>> alternate) => TagSet.Create(alternate);
    }

    private abstract class InstrumentState
    {
        private readonly KeyValuePair<string, object?>[] _constantTags;

        protected InstrumentState(Instrument instrument, long id, MetricKind kind, double[]? bounds)
        {
            Id = id;
            Kind = kind;
            Bounds = bounds;
            IsObservable = instrument.IsObservable;
            MetricName = GetMetricName(instrument.Name, instrument.Unit, kind);
            Help = string.IsNullOrEmpty(instrument.Description) ? null : instrument.Description;

            // Meter- and instrument-level tags (e.g. from IMeterFactory) become labels on every series.
            _constantTags = [.. instrument.Tags ?? [], .. instrument.Meter.Tags ?? []];
        }

        public long Id { get; }

        public MetricKind Kind { get; }

        public double[]? Bounds { get; }

        public bool IsObservable { get; }

        public string MetricName { get; }

        public string? Help { get; }

        public abstract void Record(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags);

        public abstract void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags);

        /// <summary>Drops all series; used for observable instruments before each poll.</summary>
        public abstract void Reset();

        public abstract void CollectInto(Family family);

        protected string GetLabels(TagSet key) => key.Labels ??= BuildLabels(key.Tags);

        private string BuildLabels(KeyValuePair<string, object?>[] tags)
        {
            if (tags.Length == 0 && _constantTags.Length == 0)
            {
                return string.Empty;
            }

            // Measurement tags win over constant tags; sanitising can collide two names, first one wins.
            var labels = new List<(string Name, string Value)>(tags.Length + _constantTags.Length);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var tag in tags.Concat(_constantTags))
            {
                var name = SanitizeName(tag.Key);
                if (seen.Add(name))
                {
                    labels.Add((name, FormatLabelValue(tag.Value)));
                }
            }

            labels.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
            var builder = new StringBuilder();
            foreach (var (name, value) in labels)
            {
                if (builder.Length > 0)
                {
                    builder.Append(',');
                }

                builder.Append(name).Append("=\"");
                AppendEscapedLabelValue(builder, value);
                builder.Append('"');
            }

            return builder.ToString();
        }
    }

    private abstract class InstrumentState<TCell> : InstrumentState
        where TCell : class
    {
        private readonly ConcurrentDictionary<TagSet, TCell> _series = new(TagSetComparer.Instance);
        private readonly ConcurrentDictionary<TagSet, TCell>.AlternateLookup<ReadOnlySpan<KeyValuePair<string, object?>>> _lookup;
        private readonly TagSet _overflowKey = TagSet.Create([new("otel_metric_overflow", "true")]);
        private int _seriesCount;

        protected InstrumentState(Instrument instrument, long id, MetricKind kind, double[]? bounds)
            : base(instrument, id, kind, bounds)
        {
            _lookup = _series.GetAlternateLookup<ReadOnlySpan<KeyValuePair<string, object?>>>();
        }

        public override void Reset()
        {
            _series.Clear();
            Volatile.Write(ref _seriesCount, 0);
        }

        protected IEnumerable<KeyValuePair<TagSet, TCell>> Series => _series;

        protected abstract TCell CreateCell();

        protected TCell GetCell(ReadOnlySpan<KeyValuePair<string, object?>> tags) =>
            _lookup.TryGetValue(tags, out var cell) ? cell : AddCell(tags);

        private TCell AddCell(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (Volatile.Read(ref _seriesCount) >= MaxSeriesPerInstrument)
            {
                return _series.TryGetValue(_overflowKey, out var overflow) ? overflow : _series.GetOrAdd(_overflowKey, CreateCell());
            }

            var created = CreateCell();
            var cell = _series.GetOrAdd(TagSet.Create(tags), created);
            if (ReferenceEquals(cell, created))
            {
                Interlocked.Increment(ref _seriesCount);
            }

            return cell;
        }
    }

    /// <summary>A lock-free scalar: integers accumulate exactly, floating-point values via a CAS loop.</summary>
    private sealed class NumberCell
    {
        private long _integer;
        private double _fraction;

        public void Add(long value) => Interlocked.Add(ref _integer, value);

        public void Add(double value)
        {
            var current = Volatile.Read(ref _fraction);
            while (true)
            {
                var observed = Interlocked.CompareExchange(ref _fraction, current + value, current);
                if (observed.Equals(current))
                {
                    return;
                }

                current = observed;
            }
        }

        public void Set(double value) => Interlocked.Exchange(ref _fraction, value);

        public NumberValue Read() => new(Interlocked.Read(ref _integer), Volatile.Read(ref _fraction));
    }

    /// <summary>Counter and UpDownCounter: measurements are deltas.</summary>
    private sealed class SumState(Instrument instrument, long id, MetricKind kind)
        : InstrumentState<NumberCell>(instrument, id, kind, null)
    {
        public override void Record(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags) => GetCell(tags).Add(value);

        public override void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags) => GetCell(tags).Add(value);

        public override void CollectInto(Family family)
        {
            foreach (var (key, cell) in Series)
            {
                family.AddScalar(GetLabels(key), cell.Read(), additive: true);
            }
        }

        protected override NumberCell CreateCell() => new();
    }

    /// <summary>Observable instruments and Gauge: measurements are absolute values.</summary>
    private sealed class LastValueState(Instrument instrument, long id, MetricKind kind, bool additive)
        : InstrumentState<NumberCell>(instrument, id, kind, null)
    {
        public override void Record(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags) => GetCell(tags).Set(value);

        public override void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags) => GetCell(tags).Set(value);

        public override void CollectInto(Family family)
        {
            foreach (var (key, cell) in Series)
            {
                // Observable (up-down) counters are sums, so same-named series add up; gauges cannot be summed.
                family.AddScalar(GetLabels(key), cell.Read(), additive);
            }
        }

        protected override NumberCell CreateCell() => new();
    }

    private sealed class HistogramCell(int bucketCount)
    {
        private readonly Lock _lock = new();
        private readonly long[] _buckets = new long[bucketCount];
        private double _sum;
        private long _count;

        public void Record(double value, double[] bounds)
        {
            var index = FindBucket(bounds, value);

            // A per-series lock keeps buckets, sum and count mutually consistent for scrapes.
            lock (_lock)
            {
                _buckets[index]++;
                _sum += value;
                _count++;
            }
        }

        public HistogramPoint Read()
        {
            lock (_lock)
            {
                return new HistogramPoint((long[])_buckets.Clone(), _sum, _count);
            }
        }

        // First bucket whose upper bound is >= value; NaN compares false everywhere and lands in +Inf.
        private static int FindBucket(double[] bounds, double value)
        {
            int low = 0, high = bounds.Length;
            while (low < high)
            {
                var mid = (low + high) >>> 1;
                if (value <= bounds[mid])
                {
                    high = mid;
                }
                else
                {
                    low = mid + 1;
                }
            }

            return double.IsNaN(value) ? bounds.Length : low;
        }
    }

    private sealed class HistogramState(Instrument instrument, long id, double[] bounds)
        : InstrumentState<HistogramCell>(instrument, id, MetricKind.Histogram, bounds)
    {
        private readonly double[] _bounds = bounds;

        public override void Record(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags) => GetCell(tags).Record(value, _bounds);

        public override void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags) => GetCell(tags).Record(value, _bounds);

        public override void CollectInto(Family family)
        {
            foreach (var (key, cell) in Series)
            {
                family.AddHistogram(GetLabels(key), cell.Read());
            }
        }

        protected override HistogramCell CreateCell() => new(_bounds.Length + 1);
    }

    /// <summary>Non-cumulative bucket counts (the last one is the +Inf overflow), sum and count.</summary>
    private sealed record HistogramPoint(long[] Buckets, double Sum, long Count)
    {
        public HistogramPoint Add(HistogramPoint other)
        {
            var buckets = new long[Buckets.Length];
            for (var i = 0; i < buckets.Length; i++)
            {
                buckets[i] = Buckets[i] + other.Buckets[i];
            }

            return new HistogramPoint(buckets, Sum + other.Sum, Count + other.Count);
        }
    }

    /// <summary>One metric family of a scrape; instruments sharing a Prometheus name are merged into it.</summary>
    private sealed class Family(string name, MetricKind kind, double[]? bounds)
    {
        private readonly SortedDictionary<string, NumberValue> _scalars = new(StringComparer.Ordinal);
        private readonly SortedDictionary<string, HistogramPoint> _histograms = new(StringComparer.Ordinal);

        public string? Help { get; set; }

        public bool IsCompatibleWith(MetricKind otherKind, double[]? otherBounds) =>
            otherKind == kind && (bounds is null ? otherBounds is null : otherBounds is not null && bounds.AsSpan().SequenceEqual(otherBounds));

        public void AddScalar(string labels, NumberValue value, bool additive) =>
            _scalars[labels] = additive && _scalars.TryGetValue(labels, out var existing) ? existing.Add(value) : value;

        public void AddHistogram(string labels, HistogramPoint point) =>
            _histograms[labels] = _histograms.TryGetValue(labels, out var existing) ? existing.Add(point) : point;

        public void WriteTo(TextWriter writer)
        {
            if (_scalars.Count == 0 && _histograms.Count == 0)
            {
                return;
            }

            if (Help is not null)
            {
                writer.Write("# HELP ");
                writer.Write(name);
                writer.Write(' ');
                writer.Write(EscapeHelp(Help));
                writer.Write('\n');
            }

            writer.Write("# TYPE ");
            writer.Write(name);
            writer.Write(kind switch
            {
                MetricKind.Counter => " counter\n",
                MetricKind.Gauge => " gauge\n",
                _ => " histogram\n",
            });

            foreach (var (labels, value) in _scalars)
            {
                WriteSample(writer, name, labels, null, value.ToString());
            }

            if (_histograms.Count == 0)
            {
                return;
            }

            var bucketName = name + "_bucket";
            var upperBounds = bounds!.Select(FormatDouble).Append("+Inf").ToArray();
            foreach (var (labels, point) in _histograms)
            {
                long cumulative = 0;
                for (var i = 0; i < point.Buckets.Length; i++)
                {
                    cumulative += point.Buckets[i];
                    WriteSample(writer, bucketName, labels, upperBounds[i], cumulative.ToString(CultureInfo.InvariantCulture));
                }

                WriteSample(writer, name + "_sum", labels, null, FormatDouble(point.Sum));
                WriteSample(writer, name + "_count", labels, null, point.Count.ToString(CultureInfo.InvariantCulture));
            }
        }

        private static void WriteSample(TextWriter writer, string metric, string labels, string? le, string value)
        {
            writer.Write(metric);
            if (labels.Length > 0 || le is not null)
            {
                writer.Write('{');
                writer.Write(labels);
                if (le is not null)
                {
                    writer.Write(labels.Length > 0 ? ",le=\"" : "le=\"");
                    writer.Write(le);
                    writer.Write('"');
                }

                writer.Write('}');
            }

            writer.Write(' ');
            writer.Write(value);
            writer.Write('\n');
        }
    }
}

/// <summary>Registration and endpoint mapping for <see cref="PrometheusExporter"/>.</summary>
public static class PrometheusEndpointExtensions
{
    /// <summary>Registers a singleton exporter for <see cref="PrometheusExporter.DefaultMeterNames"/>, created at host start.</summary>
    public static IServiceCollection AddPrometheusExporter(this IServiceCollection services) =>
        services.AddPrometheusExporter(PrometheusExporter.DefaultMeterNames);

    /// <summary>Registers a singleton exporter for the given meter names, created at host start.</summary>
    public static IServiceCollection AddPrometheusExporter(this IServiceCollection services, IEnumerable<string> meterNames)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(meterNames);

        string[] names = [.. meterNames];

        // A factory, because the container would otherwise satisfy IEnumerable<string> with an empty list.
        services.TryAddSingleton(sp => new PrometheusExporter(names, sp.GetService<ILogger<PrometheusExporter>>()));
        services.AddHostedService<PrometheusExporterActivator>();
        return services;
    }

    /// <summary>Maps a GET endpoint serving the Prometheus text exposition format.</summary>
    public static IEndpointConventionBuilder MapPrometheusMetrics(this IEndpointRouteBuilder endpoints, string pattern = "/metrics")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(pattern);

        // Resolved now so a missing AddPrometheusExporter() fails at startup rather than on the first scrape.
        var exporter = endpoints.ServiceProvider.GetRequiredService<PrometheusExporter>();
        return endpoints.MapGet(pattern, async context =>
        {
            var payload = exporter.Scrape();
            context.Response.ContentType = PrometheusExporter.ContentType;
            context.Response.Headers.CacheControl = "no-store";
            await context.Response.WriteAsync(payload, context.RequestAborted);
        }).ExcludeFromDescription();
    }
}

/// <summary>
/// Resolves the exporter while the host builds its hosted services, i.e. before the server accepts
/// requests, so measurements are captured from application start rather than from the first scrape.
/// </summary>
internal sealed class PrometheusExporterActivator : IHostedService
{
    public PrometheusExporterActivator(PrometheusExporter exporter) => ArgumentNullException.ThrowIfNull(exporter);

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
