using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Parley.Server.Cluster;

/// <summary>Ready (cluster mode) means the bus delivers: Redis reachable and this node's canary coming back.</summary>
public sealed class BusHealthCheck(ClusterBus bus) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(bus.Degraded is { } reason ? HealthCheckResult.Unhealthy("Cluster bus degraded: " + reason) : HealthCheckResult.Healthy());
}
