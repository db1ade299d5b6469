namespace Parley.Server.Cluster;

/// <summary>
/// Who this node is on the bus: its configured <c>Cluster:NodeId</c> (the node bits of generated ids) and an
/// incarnation made fresh at every process start, so a restarted node is never taken for its previous life (its own
/// payloads are recognised by the incarnation, and what other nodes kept about the old one is keyed by the old one).
/// </summary>
public sealed class NodeIdentity(int nodeId)
{
    public int NodeId { get; } = nodeId;

    public Guid Incarnation { get; } = Guid.NewGuid();

    public override string ToString() => $"{NodeId}/{Incarnation:N}";
}
