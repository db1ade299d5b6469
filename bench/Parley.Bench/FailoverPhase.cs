using System.Diagnostics;
using System.Globalization;
using Parley.Client;

namespace Parley.Bench;

/// <summary>
/// failover (several nodes, PIDs known): the lat phase's open loop over pairs spread across the nodes, and after the
/// warm-up one node is killed with SIGKILL. Every device it held reconnects to the next node and catches up its
/// conversation by after= from the last seq it holds without a gap (as a client does); the figure is the time from
/// the kill until the last of them is back (socket open) and caught up (its sync answered with nothing more). The
/// delivery check covers it: every acknowledged message reached its partner, live or by the catch-up, exactly once.
/// The killed node stays dead: run this phase last, then restart the cluster.
/// </summary>
public static class FailoverPhase
{
    public static async Task<PhaseResult> RunAsync(BenchContext context, int users, int ratePerSecond, int victim, TimeSpan warmup, TimeSpan measured, CancellationToken cancellationToken)
    {
        var server = context.Server;
        if (server.Nodes.Count < 2 || server.Pids[victim] is not { } victimPid)
        {
            throw new ArgumentException("--phases failover needs at least two nodes (--server) and their PIDs (--pid)");
        }

        users -= users % 2;
        var window = new Window(warmup, measured);
        Action<Device, ServerEvent> onEvent = (device, e) =>
        {
            if (e is MessageEvent { Message: var message })
            {
                lock (device)
                {
                    // A push of what the catch-up already brought is the client's dedupe, not a duplicate push.
                    if (device.Synced.Remove(message.Seq) && device.Delivered.Contains(message.Seq))
                    {
                        return;
                    }

                    device.Receive(message, window, byStamp: true);
                }
            }
        };
        var (devices, _) = await context.ConnectAsync(users, onEvent, cancellationToken);
        for (var i = 0; i < devices.Length; i += 2)
        {
            devices[i].ConversationId = devices[i + 1].ConversationId = context.Population.Pairs[i / 2];
            devices[i].Partner = devices[i + 1];
            devices[i + 1].Partner = devices[i];
        }

        var victims = devices.Where(d => server.NodeOf(d.Index, context.Placement) == victim).ToList();
        var next = (victim + 1) % server.Nodes.Count;
        var back = new double[victims.Count];
        var caughtUp = new double[victims.Count];
        long killedAt = 0;
        var recovered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var cpu = await window.RunAsync(server, () =>
        {
            var thread = new Thread(() =>
            {
                var start = Device.Now;
                var end = start + window.TotalTicks;
                var killAt = start + (long)(warmup.TotalSeconds * Stopwatch.Frequency);
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

                    if (killedAt == 0 && due >= killAt)
                    {
                        killedAt = Device.Now;
                        Process.GetProcessById(victimPid).Kill(); // SIGKILL: nothing of the node's shutdown runs
                        _ = Task.Run(() => RecoverAllAsync(context, victims, next, onEvent, killedAt, back, caughtUp, recovered, cancellationToken));
                    }

                    var device = devices[(int)(sent % devices.Length)];
                    if (device.Socket.IsOpen)
                    {
                        _ = device.SendAsync(due);
                    }
                }
            })
            {
                IsBackground = true,
                Name = "failover scheduler",
                Priority = ThreadPriority.AboveNormal,
            };
            thread.Start();
        }, () => { }, cancellationToken);

        await recovered.Task.WaitAsync(TimeSpan.FromMinutes(5), cancellationToken);
        var result = await Phases.FinishAsync(context, "failover", devices, window, cpu, null, () =>
        {
            long expected = 0, lost = 0;
            foreach (var sender in devices)
            {
                lock (sender.Partner!)
                {
                    foreach (var seq in sender.Acked)
                    {
                        expected++;
                        lost += sender.Partner.Delivered.Contains(seq) ? 0 : 1;
                    }
                }
            }

            return (expected, lost);
        }, cancellationToken);
        Array.Sort(back);
        Array.Sort(caughtUp);
        result.FailoverClients = victims.Count;
        result.FailoverBackSeconds = back.Length > 0 ? back[^1] : null;
        result.FailoverCaughtUpSeconds = caughtUp.Length > 0 ? caughtUp[^1] : null;
        result.FailoverCaughtUpP50Seconds = caughtUp.Length > 0 ? caughtUp[caughtUp.Length / 2] : null;
        result.Note = string.Create(CultureInfo.InvariantCulture, $"open loop at {ratePerSecond} msg/s; node {victim + 1} (pid {victimPid}) killed after the warm-up; its {victims.Count} devices back on node {next + 1} within {result.FailoverBackSeconds:0.000} s, caught up within {result.FailoverCaughtUpSeconds:0.000} s (p50 {result.FailoverCaughtUpP50Seconds:0.000} s); sends refused or unanswered on the dead sockets count as errors")
            + (result.Note is null ? "" : "; " + result.Note);
        return result;
    }

    /// <summary>Every device of the dead node: wait for its close, reconnect to <paramref name="next"/>, catch up by after=.</summary>
    private static async Task RecoverAllAsync(BenchContext context, List<Device> victims, int next, Action<Device, ServerEvent> onEvent, long killedAt, double[] back, double[] caughtUp, TaskCompletionSource done, CancellationToken cancellationToken)
    {
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, victims.Count), new ParallelOptions { MaxDegreeOfParallelism = 64, CancellationToken = cancellationToken }, async (k, ct) =>
            {
                var device = victims[k];
                await device.Socket.Closed.WaitAsync(TimeSpan.FromMinutes(2), ct);
                var old = device.Socket;
                string token;
                using (var client = context.Population.Client(context.Server.BaseUri, context.Http, device.Index))
                {
                    token = await client.AccessTokenAsync(ct);
                }

                for (var attempt = 0; ; attempt++)
                {
                    try
                    {
                        device.Socket = await context.Connector.ConnectAsync(context.Server.Nodes[next], token, device.Index, e => onEvent(device, e), ct);
                        break;
                    }
                    catch (Exception e) when (attempt < 20 && e is System.Net.WebSockets.WebSocketException or HttpRequestException or IOException)
                    {
                        await Task.Delay(100 * (attempt + 1), ct); // a client's reconnect backoff
                    }
                }

                back[k] = Stopwatch.GetElapsedTime(killedAt).TotalSeconds;
                await old.DisposeAsync();

                HashSet<long> have;
                lock (device)
                {
                    have = [.. device.Delivered];
                }

                lock (device.Acked)
                {
                    have.UnionWith(device.Acked);
                }

                long after = 0;
                while (have.Contains(after + 1))
                {
                    after++;
                }

                while (true)
                {
                    var page = await device.Socket.SyncAsync(device.ConversationId, after, 200, ct);
                    lock (device)
                    {
                        foreach (var message in page.Items)
                        {
                            if (device.Delivered.Add(message.Seq))
                            {
                                device.Synced.Add(message.Seq);
                            }
                        }
                    }

                    if (!page.HasMore || page.Items.Count == 0)
                    {
                        break;
                    }

                    after = page.Items[^1].Seq;
                }

                caughtUp[k] = Stopwatch.GetElapsedTime(killedAt).TotalSeconds;
            });
            done.TrySetResult();
        }
        catch (Exception e)
        {
            done.TrySetException(e);
        }
    }
}
