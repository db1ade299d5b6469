using System.Globalization;
using System.Diagnostics;
using Parley.Client;

namespace Parley.Bench;

/// <summary>What every phase shares: the server under test, the prepared users and the socket factory.</summary>
public sealed class BenchContext(ServerProcess server, Population population, Connector connector, HttpMessageHandler http, string provider, TextWriter log, string placement = "cross")
{
    /// <summary>How users are spread over the nodes (<see cref="ServerProcess.NodeOf"/>).</summary>
    public string Placement { get; } = placement;

    public ServerProcess Server { get; } = server;

    public Population Population { get; } = population;

    public Connector Connector { get; } = connector;

    public HttpMessageHandler Http { get; } = http;

    public string Provider { get; } = provider;

    public TextWriter Log { get; } = log;

    /// <summary>--transport xmpp: the XMPP port and domain of the server (null: WebSocket devices).</summary>
    public (int Port, string Domain, string Password)? Xmpp { get; init; }

    /// <summary>Connects users 0..count-1, each with a <see cref="Device"/> whose pushes go to <paramref name="onEvent"/>.</summary>
    public async Task<(Device[] Devices, double Seconds)> ConnectAsync(int count, Action<Device, ServerEvent>? onEvent, CancellationToken cancellationToken)
    {
        var devices = Enumerable.Range(0, count).Select(i => new Device(i, Population.Users[i].Id)).ToArray();
        if (Xmpp is { } xmpp)
        {
            return (devices, await ConnectXmppAsync(devices, xmpp, onEvent, cancellationToken));
        }

        var tokens = new List<(int, string)>(count);
        for (var i = 0; i < count; i++)
        {
            using var client = Population.Client(Server.BaseUri, Http, i);
            tokens.Add((i, await client.AccessTokenAsync(cancellationToken)));
        }

        var started = Stopwatch.GetTimestamp();
        var sockets = await Connector.ConnectManyAsync(
            i => Server.Nodes[Server.NodeOf(i, Placement)],
            tokens,
            i => e =>
            {
                if (e is ClosedEvent closed)
                {
                    devices[i].Closed = closed;
                }

                onEvent?.Invoke(devices[i], e);
            },
            concurrency: 64,
            cancellationToken);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        for (var i = 0; i < count; i++)
        {
            devices[i].Socket = sockets[i];
        }

        return (devices, seconds);
    }

    /// <summary>
    /// --transport xmpp: each device logs in over XMPP c2s; a message stanza becomes the <see cref="MessageEvent"/>
    /// the phases already handle, its seq replaced by the sender's key (<see cref="Device.XmppKey"/>).
    /// </summary>
    private async Task<double> ConnectXmppAsync(Device[] devices, (int Port, string Domain, string Password) xmpp, Action<Device, ServerEvent>? onEvent, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        await Parallel.ForEachAsync(devices, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken }, async (device, ct) =>
        {
            var user = Population.Users[device.Index];
            var source = new System.Net.IPAddress([127, 0, 0, (byte)(2 + (device.Index % Connector.Addresses))]);
            device.Xmpp = await XmppLink.ConnectAsync(source, xmpp.Port, xmpp.Domain, user.Username.ToLowerInvariant(), xmpp.Password, (id, error) =>
            {
                if (error)
                {
                    device.XmppError();
                    return;
                }

                var (sender, _) = Device.ParseClientMsgId(id, out var n);
                var message = new Message(device.ConversationId, Device.XmppKey(sender, n), id, "", "text", null, null, [], 0, false);
                onEvent?.Invoke(device, new MessageEvent(message));
            }, e => device.Closed = new ClosedEvent(null, "xmpp stream ended", e), ct);
        });
        return Stopwatch.GetElapsedTime(started).TotalSeconds;
    }
}

/// <summary>The benchmark phases. Each checks that every acknowledged message reached every intended device exactly once.</summary>
public static class Phases
{
    /// <summary>connect: N users online at once; server RSS per idle connection.</summary>
    public static async Task<PhaseResult> ConnectAsync(BenchContext context, int users, TimeSpan settle, CancellationToken cancellationToken)
    {
        var rssBefore = context.Server.Rss();
        var cpu = CpuMeter.Start(context.Server);
        var (devices, seconds) = await context.ConnectAsync(users, null, cancellationToken);
        try
        {
            await Task.Delay(settle, cancellationToken);
            var open = devices.Count(d => d.Socket.IsOpen);
            var rssAfter = context.Server.Rss();
            var (serverCpu, toolCpu) = cpu.Stop();
            return new PhaseResult
            {
                Phase = "connect",
                Provider = context.Provider,
                Users = open,
                Seconds = seconds,
                ConnectPerSecond = users / seconds,
                ServerRssBeforeBytes = rssBefore,
                ServerRssAfterBytes = rssAfter,
                RssPerConnectionKiB = rssBefore is { } before && rssAfter is { } after && open > 0 ? (after - before) / 1024.0 / open : null,
                ServerCpuSeconds = serverCpu,
                ToolCpuSeconds = toolCpu,
                Errors = users - open,
            };
        }
        finally
        {
            await Connector.CloseAllAsync(devices.Select(d => d.Socket));
        }
    }

    /// <summary>
    /// thru: users in pairs, each keeping <paramref name="inFlight"/> messages in flight to its partner (a message
    /// leaves flight when the partner receives it); delivered messages per second and send-to-deliver latency.
    /// </summary>
    public static async Task<PhaseResult> ThroughputAsync(BenchContext context, int users, int inFlight, TimeSpan warmup, TimeSpan measured, CancellationToken cancellationToken)
    {
        users -= users % 2;
        var window = new Window(warmup, measured);
        var stopping = false;
        var (devices, _) = await context.ConnectAsync(users, (device, e) =>
        {
            if (e is MessageEvent { Message: var message } && device.Receive(message, window, byStamp: false) is not null && !Volatile.Read(ref stopping))
            {
                _ = device.Partner!.SendAsync(Device.Now); // the partner's message arrived: it may send the next
            }
        }, cancellationToken);
        Pair(context, devices);

        var cpu = await window.RunAsync(context.Server, () =>
        {
            foreach (var device in devices)
            {
                for (var i = 0; i < inFlight; i++)
                {
                    _ = device.SendAsync(Device.Now);
                }
            }
        }, () => Volatile.Write(ref stopping, true), cancellationToken);

        return await FinishAsync(context, "thru", devices, window, cpu, inFlight, ExpectedPairs(devices), cancellationToken);
    }

    /// <summary>lat: open loop at a fixed total rate over users in pairs; latency from each message's scheduled time.</summary>
    public static async Task<PhaseResult> LatencyAsync(BenchContext context, int users, int ratePerSecond, TimeSpan warmup, TimeSpan measured, CancellationToken cancellationToken)
    {
        users -= users % 2;
        var window = new Window(warmup, measured);
        var (devices, _) = await context.ConnectAsync(users, (device, e) =>
        {
            if (e is MessageEvent { Message: var message })
            {
                device.Receive(message, window, byStamp: true);
            }
        }, cancellationToken);
        Pair(context, devices);

        // Message i is due at start + i / rate; its latency counts from then (no coordinated omission). The scheduler
        // is a thread of its own that sleeps precisely until each due time (OpenLoopClock), and its own lateness is
        // measured and reported, so the figures are the server's and the network's, not the tool's timer.
        var lateness = new List<long>(capacity: (int)Math.Min(int.MaxValue, (long)ratePerSecond * (long)(warmup + measured).TotalSeconds + 1024));
        var scheduled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cpu = await window.RunAsync(context.Server, () =>
        {
            var thread = new Thread(() =>
            {
                try
                {
                    var start = Device.Now;
                    var end = start + window.TotalTicks;
                    for (long sent = 0; !cancellationToken.IsCancellationRequested; sent++)
                    {
                        var due = start + (sent * Stopwatch.Frequency / ratePerSecond);
                        if (due >= end)
                        {
                            break;
                        }

                        while (Device.Now < due)
                        {
                            OpenLoopClock.WaitUntil(due);
                        }

                        lateness.Add(Device.Now - due);
                        _ = devices[(int)(sent % devices.Length)].SendAsync(due);
                    }

                    scheduled.TrySetResult();
                }
                catch (Exception e)
                {
                    scheduled.TrySetException(e);
                }
            })
            {
                IsBackground = true,
                Name = "lat scheduler",
                Priority = ThreadPriority.AboveNormal,
            };
            thread.Start();
        }, () => { }, cancellationToken);
        await scheduled.Task;

        var result = await FinishAsync(context, "lat", devices, window, cpu, null, ExpectedPairs(devices), cancellationToken);
        lateness.Sort();
        var lateP50 = lateness.Count == 0 ? 0 : lateness[lateness.Count / 2] * 1_000_000 / Stopwatch.Frequency;
        var lateP99 = lateness.Count == 0 ? 0 : lateness[(int)(lateness.Count * 0.99)] * 1_000_000 / Stopwatch.Frequency;
        var acks = new Latencies();
        foreach (var (stamp, ticks) in devices.SelectMany(d => d.AckLatencies))
        {
            if (window.Contains(stamp))
            {
                acks.Add(ticks);
            }
        }

        var ack = acks.Percentiles();
        result.Note = $"open loop at {ratePerSecond} msg/s, the tool's scheduler late by p50 {lateP50} us, p99 {lateP99} us"
            + (ack is { } a ? string.Create(CultureInfo.InvariantCulture, $"; sender's ack p50 {a.P50:F2} ms, p99 {a.P99:F2} ms") : "")
            + (result.Note is null ? "" : "; " + result.Note);
        return result;
    }

    /// <summary>
    /// fanout: one group of <paramref name="members"/> online members; <paramref name="senders"/> of them each keep
    /// <paramref name="inFlight"/> messages in flight (a message leaves flight when every other member has it).
    /// </summary>
    public static async Task<PhaseResult> FanoutAsync(BenchContext context, int members, int senders, int inFlight, TimeSpan warmup, TimeSpan measured, CancellationToken cancellationToken)
    {
        var group = context.Population.Groups[members.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        long baseSeq;
        using (var owner = context.Population.Client(context.Server.BaseUri, context.Http, 0))
        {
            baseSeq = (await owner.ConversationAsync(group.ConversationId, cancellationToken)).MaxSeq;
        }

        const int Capacity = 1 << 20;
        var remaining = new int[Capacity];
        Array.Fill(remaining, members - 1);
        var window = new Window(warmup, measured);
        var stopping = false;
        Device[] all = [];
        var (devices, _) = await context.ConnectAsync(members, (device, e) =>
        {
            if (e is not MessageEvent { Message: var message } || message.ConversationId != group.ConversationId
                || device.Receive(message, window, byStamp: false) is not { } sender)
            {
                return;
            }

            var slot = message.Seq - baseSeq;
            if (slot is > 0 and < Capacity && Interlocked.Decrement(ref remaining[slot]) == 0 && !Volatile.Read(ref stopping) && sender >= 0)
            {
                _ = all[sender].SendAsync(Device.Now); // everyone has it: its sender may send the next
            }
        }, cancellationToken);
        all = devices;
        foreach (var device in devices)
        {
            device.ConversationId = group.ConversationId;
        }

        var cpu = await window.RunAsync(context.Server, () =>
        {
            foreach (var device in devices.Take(senders))
            {
                for (var i = 0; i < inFlight; i++)
                {
                    _ = device.SendAsync(Device.Now);
                }
            }
        }, () => Volatile.Write(ref stopping, true), cancellationToken);

        var result = await FinishAsync(context, $"fanout{members}", devices, window, cpu, inFlight, () =>
        {
            // every acknowledged message must reach every member except its sender
            long expected = 0, lost = 0;
            foreach (var sender in devices)
            {
                foreach (var seq in sender.Acked)
                {
                    foreach (var receiver in devices)
                    {
                        if (receiver != sender)
                        {
                            expected++;
                            lost += receiver.Delivered.Contains(seq) ? 0 : 1;
                        }
                    }
                }
            }

            return (expected, lost);
        }, cancellationToken);
        result.Note = $"{senders} senders x {inFlight} in flight" + (result.Note is null ? "" : "; " + result.Note);
        return result;
    }

    private static void Pair(BenchContext context, Device[] devices)
    {
        for (var i = 0; i < devices.Length; i += 2)
        {
            var conversation = context.Population.Pairs[i / 2];
            devices[i].ConversationId = devices[i + 1].ConversationId = conversation;
            devices[i].Partner = devices[i + 1];
            devices[i + 1].Partner = devices[i];
            if (context.Xmpp is { } xmpp)
            {
                devices[i].PeerJid = $"{context.Population.Users[devices[i + 1].Index].Username.ToLowerInvariant()}@{xmpp.Domain}";
                devices[i + 1].PeerJid = $"{context.Population.Users[devices[i].Index].Username.ToLowerInvariant()}@{xmpp.Domain}";
            }
        }
    }

    private static Func<(long Expected, long Lost)> ExpectedPairs(Device[] devices) => () =>
    {
        long expected = 0, lost = 0;
        foreach (var sender in devices)
        {
            foreach (var seq in sender.Acked)
            {
                expected++;
                lost += sender.Partner!.Delivered.Contains(seq) ? 0 : 1;
            }
        }

        return (expected, lost);
    };

    /// <summary>Waits for the deliveries still under way (up to 60 s), closes the sockets, then counts.</summary>
    internal static async Task<PhaseResult> FinishAsync(BenchContext context, string phase, Device[] devices, Window window, (double? Server, double Tool) cpu, int? inFlight, Func<(long Expected, long Lost)> check, CancellationToken cancellationToken)
    {
        // Sends and deliveries still under way when sending stopped may take a while on a loaded machine: wait
        // for every answer and every delivery (a message really lost costs the full 60 s).
        var deadline = Stopwatch.GetTimestamp() + (60 * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline && (devices.Sum(d => Interlocked.Read(ref d.Unanswered)) > 0 || Snapshot(devices, check).Lost > 0))
        {
            await Task.Delay(200, cancellationToken);
        }

        await Task.Delay(300, cancellationToken); // let straggling duplicates show
        await Connector.CloseAllAsync(devices.Select(d => d.Socket));
        await Parallel.ForEachAsync(devices.Where(d => d.Xmpp is not null), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (d, _) => await d.Xmpp!.DisposeAsync());
        var (expectedTotal, lostTotal) = check();

        var latencies = new Latencies();
        foreach (var sample in devices.SelectMany(d => d.Latencies))
        {
            latencies.Add(sample);
        }

        var percentiles = latencies.Percentiles();
        var problems = devices.Where(d => d.FirstError is not null).GroupBy(d => d.FirstError).Select(g => $"{g.Count()}x {g.Key}")
            .Concat(devices.Where(d => d.Closed is { Error: not null } or { CloseStatus: not null }).GroupBy(d => $"closed {d.Closed!.CloseStatus} {d.Closed.Error?.Message}").Select(g => $"{g.Count()}x {g.Key}"))
            .ToList();
        var inWindow = devices.Sum(d => d.DeliveredInWindow);
        var seconds = window.Measured.TotalSeconds;
        return new PhaseResult
        {
            Phase = phase,
            Provider = context.Provider,
            Users = devices.Length,
            InFlight = inFlight,
            Seconds = seconds,
            Sent = devices.Sum(d => (long)d.Acked.Count),
            Delivered = expectedTotal - lostTotal,
            DeliveredPerSecond = inWindow / seconds,
            LatencyP50Ms = percentiles?.P50,
            LatencyP90Ms = percentiles?.P90,
            LatencyP99Ms = percentiles?.P99,
            LatencyMaxMs = percentiles?.Max,
            Lost = lostTotal,
            Duplicated = devices.Sum(d => d.Duplicates),
            Errors = devices.Sum(d => Interlocked.Read(ref d.Errors)),
            ServerCpuSeconds = cpu.Server,
            ToolCpuSeconds = cpu.Tool,
            MessagesPerServerCpuSecond = cpu.Server is > 0 ? inWindow / cpu.Server : null,
            ServerAllocatedBytesPerMessage = window.Gc is { } gc && inWindow > 0 ? gc.AllocatedBytes / inWindow : null,
            ServerGcCollections = window.Gc?.Collections,
            Note = problems.Count > 0 ? string.Join("; ", problems.Take(5)) : null,
            Nodes = context.Server.Nodes.Count,
            Placement = context.Server.Nodes.Count > 1 ? context.Placement : null,
            NodeCpuSeconds = context.Server.Nodes.Count > 1 ? window.NodeCpu : null,
        };
    }

    private static (long Expected, long Lost) Snapshot(Device[] devices, Func<(long, long)> check)
    {
        try
        {
            return check();
        }
        catch (InvalidOperationException)
        {
            return (1, 1); // a set changed while counted: not settled yet
        }
    }
}

/// <summary>Warm-up, then the measured window; CPU is measured over the window only.</summary>
public sealed class Window(TimeSpan warmup, TimeSpan measured)
{
    private long _start = long.MaxValue;

    public TimeSpan Measured { get; } = measured;

    public long TotalTicks => (long)((warmup + Measured).TotalSeconds * Stopwatch.Frequency);

    private long MeasureStart => _start + (long)(warmup.TotalSeconds * Stopwatch.Frequency);

    private long MeasureEnd => MeasureStart + (long)(Measured.TotalSeconds * Stopwatch.Frequency);

    public bool Contains(long timestamp) => timestamp >= MeasureStart && timestamp < MeasureEnd;

    /// <summary>Starts the load, waits out warm-up and the window (measuring CPU over the window), then stops the load.</summary>
    public async Task<(double? Server, double Tool)> RunAsync(ServerProcess server, Action start, Action stop, CancellationToken cancellationToken)
    {
        Volatile.Write(ref _start, Stopwatch.GetTimestamp());
        start();
        await Task.Delay(warmup, cancellationToken);
        var gcBefore = await server.GcAsync();
        var cpu = CpuMeter.Start(server);
        await Task.Delay(Measured, cancellationToken);
        var used = cpu.Stop();
        NodeCpu = cpu.PerNode;
        var gcAfter = await server.GcAsync();
        stop();
        if (gcBefore is { } before && gcAfter is { } after)
        {
            Gc = (after.AllocatedBytes - before.AllocatedBytes, after.Collections - before.Collections);
        }

        return used;
    }

    /// <summary>Each node's CPU seconds over the measured window (null without PIDs).</summary>
    public double[]? NodeCpu { get; private set; }

    /// <summary>The server's allocations and collections over the measured window (the scrapes themselves included).</summary>
    public (double AllocatedBytes, double Collections)? Gc { get; private set; }
}

/// <summary>CPU seconds of the server process (every node's) and of this tool between two points.</summary>
public sealed class CpuMeter
{
    private readonly ServerProcess _server;
    private readonly double[]? _serverStart;
    private readonly double _toolStart;

    private CpuMeter(ServerProcess server)
    {
        _server = server;
        _serverStart = server.NodeCpuSeconds();
        _toolStart = ProcStat.SelfCpuSeconds();
    }

    public static CpuMeter Start(ServerProcess server) => new(server);

    /// <summary>Each node's CPU seconds between start and the last <see cref="Stop"/> (null without PIDs).</summary>
    public double[]? PerNode { get; private set; }

    public (double? Server, double Tool) Stop()
    {
        var end = _server.NodeCpuSeconds();
        PerNode = end is not null && _serverStart is { } start ? end.Select((e, i) => e - start[i]).ToArray() : null;
        return (PerNode?.Sum(), ProcStat.SelfCpuSeconds() - _toolStart);
    }
}
