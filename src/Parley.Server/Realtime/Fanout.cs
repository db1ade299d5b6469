using Parley.Protocol;
using Parley.Server.Events;
using Parley.Server.Messaging;
using Parley.Server.Operations;
using Parley.Storage;

namespace Parley.Server.Realtime;

/// <summary>
/// Delivers committed changes to live sockets, as the post-commit route's local sink: each frame is serialized once
/// and the same bytes are queued on every recipient connection. Best effort by design: a device that misses a frame
/// catches up by after=.
/// </summary>
public sealed class Fanout : IPostCommitSink
{
    private readonly ConnectionRegistry _connections;
    private readonly TimeProvider _time;
    private readonly ParleyMetrics _metrics;

    public Fanout(ConnectionRegistry connections, TimeProvider time, ParleyMetrics metrics)
    {
        _connections = connections;
        _time = time;
        _metrics = metrics;
    }

    public void Message(CommittedMessage message, IReadOnlyList<(long UserId, long JoinedSeq)> members, long? originConnectionId)
    {
        var seq = message.Row.Seq;
        byte[]? frame = null;
        var queued = 0;
        for (var i = 0; i < members.Count; i++) // by index: foreach over the interface would box an enumerator per message
        {
            var (userId, joinedSeq) = members[i];
            if (joinedSeq >= seq)
            {
                continue; // joined after it: not theirs to see
            }

            foreach (var connection in _connections.ForUser(userId))
            {
                if (connection.Id != originConnectionId && connection.TrySend(frame ??= message.MessageFrame))
                {
                    queued++;
                }
            }
        }

        if (queued > 0)
        {
            _metrics.DeliveryLatency(Math.Max(0, _time.GetUtcNow().ToUnixTimeMilliseconds() - message.Row.SentAt) / 1000.0);
        }
    }

    public void Recalled(long conversationId, long seq, long by, IReadOnlyList<(long UserId, long JoinedSeq)> members)
    {
        byte[]? frame = null;
        foreach (var (userId, joinedSeq) in members)
        {
            if (joinedSeq < seq)
            {
                foreach (var connection in _connections.ForUser(userId))
                {
                    connection.TrySend(frame ??= ServerFrames.Recalled(Ids.Format(conversationId), seq, Ids.Format(by)));
                }
            }
        }
    }

    public void Read(long conversationId, long userId, long seq, IReadOnlyList<long> recipients, long? originConnectionId) =>
        SendToUsers(ServerFrames.Read(Ids.Format(conversationId), Ids.Format(userId), seq), recipients, originConnectionId);

    public void Typing(long conversationId, long userId, IReadOnlyList<long> recipients) =>
        SendToUsers(ServerFrames.Typing(Ids.Format(conversationId), Ids.Format(userId)), recipients, null);

    public void Notify(Notification notification) =>
        SendToUsers(ServerFrames.Notify(notification.Kind, notification.Data), notification.UserIds, null);

    public void Presence(long userId, bool online, long? lastSeenAt, IReadOnlyList<long> friends) =>
        SendToUsers(ServerFrames.Presence(Ids.Format(userId), online, lastSeenAt), friends, null);

    /// <summary>Closes the revoked sessions' sockets (a socket registered later is refused by the gateway's own check).</summary>
    public void SessionsRevoked(IReadOnlyList<long> sessionIds)
    {
        var revoked = sessionIds.ToHashSet();
        foreach (var connection in _connections.All())
        {
            if (revoked.Contains(connection.SessionId))
            {
                connection.Close(CloseCodes.SessionRevoked, "session revoked");
            }
        }
    }

    public void MembershipChanged(long conversationId)
    {
        // This node's views were invalidated when the change committed; nothing to send.
    }

    public void PairChanged(long userA, long userB)
    {
    }

    private void SendToUsers(byte[] frame, IReadOnlyList<long> userIds, long? exceptConnectionId)
    {
        foreach (var userId in userIds)
        {
            DeliverLocal(userId, frame, exceptConnectionId);
        }
    }

    /// <summary>
    /// Queues ready frame bytes on every local connection of <paramref name="userId"/> but <paramref name="exceptConnectionId"/>,
    /// without resolving recipients again: the entry point of frames that come from another node over the cluster bus.
    /// Never waits: a connection that cannot queue the frame is closed and catches up by after=. Returns how many queued it.
    /// </summary>
    public int DeliverLocal(long userId, byte[] frame, long? exceptConnectionId = null)
    {
        var queued = 0;
        foreach (var connection in _connections.ForUser(userId))
        {
            if (connection.Id != exceptConnectionId && connection.TrySend(frame))
            {
                queued++;
            }
        }

        return queued;
    }

    /// <summary>Queues a frame on every local connection (cluster mode: <c>resync</c> after a bus outage). Returns how many queued it.</summary>
    public int DeliverToAll(byte[] frame)
    {
        var queued = 0;
        foreach (var connection in _connections.All())
        {
            if (connection.TrySend(frame))
            {
                queued++;
            }
        }

        return queued;
    }
}
