using Microsoft.Extensions.Options;
using Parley.Protocol;
using Parley.Server.Operations;

namespace Parley.Server.Realtime;

/// <summary>Closes connections that have been silent for twice the heartbeat (half-open TCP stays "online" otherwise).</summary>
public sealed class HeartbeatMonitor(ConnectionRegistry connections, IOptions<RealtimeOptions> options, TimeProvider time, ILogger<HeartbeatMonitor> logger)
    : PeriodicWorker(TimeSpan.FromMilliseconds(Math.Max(50, options.Value.HeartbeatMs / 4)), time, logger)
{
    private readonly long _limitMs = 2L * options.Value.HeartbeatMs;

    public override Task RunOnceAsync(CancellationToken cancellationToken)
    {
        foreach (var connection in connections.All())
        {
            if (connection.SilentForMs > _limitMs)
            {
                connection.Close(CloseCodes.HeartbeatTimeout, "heartbeat timeout");
            }
        }

        return Task.CompletedTask;
    }
}
