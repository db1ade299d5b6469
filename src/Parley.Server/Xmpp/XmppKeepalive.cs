using Microsoft.Extensions.Options;
using Parley.Server.Operations;
using Parley.Server.Realtime;

namespace Parley.Server.Xmpp;

/// <summary>
/// The WebSocket's heartbeat rule holds for XMPP streams (silent for 2 x heartbeatMs: closed, by the
/// <see cref="HeartbeatMonitor"/>), but XMPP clients are not told heartbeatMs: a stream silent for one heartbeat
/// gets a XEP-0199 ping from the server, whose answer counts as traffic.
/// </summary>
public sealed class XmppKeepalive(ConnectionRegistry connections, IOptions<RealtimeOptions> options, TimeProvider time, ILogger<XmppKeepalive> logger)
    : PeriodicWorker(TimeSpan.FromMilliseconds(Math.Max(50, options.Value.HeartbeatMs / 4)), time, logger)
{
    private readonly long _pingAfterMs = options.Value.HeartbeatMs;
    private long _next;

    public override Task RunOnceAsync(CancellationToken cancellationToken)
    {
        foreach (var connection in connections.All())
        {
            if (connection is not XmppConnection xmpp)
            {
                continue;
            }

            if (xmpp.Stream.Sm.Detached)
            {
                // XEP-0198: waiting for a resume, its window (not the heartbeat) bounds it; nobody to ping.
                xmpp.Touch();
                continue;
            }

            if (xmpp.Stream.Sm.Counting && xmpp.Stream.Sm.TakeRequest(1))
            {
                xmpp.TrySendXml($"<r xmlns='{StreamManagement.Namespace}'/>"); // stragglers below RequestEvery get acked too
            }

            if (xmpp.SilentForMs > _pingAfterMs && xmpp.SilentForMs <= 2 * _pingAfterMs)
            {
                var id = $"k{Interlocked.Increment(ref _next)}";
                // At most one per quarter heartbeat: a few pings of a silent stream, then the monitor closes it.
                xmpp.TrySendXml($"<iq type='get' id='{id}' from='{xmpp.Stream.Domain}' to='{XmppWriter.Esc(xmpp.Stream.FullJid)}'><ping xmlns='urn:xmpp:ping'/></iq>");
            }
        }

        return Task.CompletedTask;
    }
}
