using System.Text.Json;
using Parley.Protocol;
using Parley.Server.Events;
using Parley.Server.Http;
using Parley.Server.Messaging;
using Parley.Server.Operations;
using Parley.Storage;

namespace Parley.Server.Realtime;

/// <summary>
/// Delivers committed changes to live sockets: each frame is serialized once and the same bytes are queued
/// on every recipient connection. Best effort by design: a device that misses a frame catches up by after=.
/// </summary>
public sealed class Fanout : IMessageEvents, INotificationSink
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

    public void MessageCommitted(MessageDto message, IReadOnlyList<long> memberIds, long? originConnectionId)
    {
        var frame = ServerFrames.Message(JsonSerializer.SerializeToUtf8Bytes(message, ParleyJson.Default.MessageDto));
        var queued = 0;
        foreach (var userId in memberIds)
        {
            foreach (var connection in _connections.ForUser(userId))
            {
                if (connection.Id != originConnectionId && connection.TrySend(frame))
                {
                    queued++;
                }
            }
        }

        if (queued > 0)
        {
            _metrics.DeliveryLatency(Math.Max(0, _time.GetUtcNow().ToUnixTimeMilliseconds() - message.SentAt) / 1000.0);
        }
    }

    public void Recalled(long conversationId, long seq, long by, IReadOnlyList<long> memberIds) =>
        SendToUsers(ServerFrames.Recalled(Ids.Format(conversationId), seq, Ids.Format(by)), memberIds, null);

    public void Read(long conversationId, long userId, long seq, IReadOnlyList<long> recipients, long? originConnectionId) =>
        SendToUsers(ServerFrames.Read(Ids.Format(conversationId), Ids.Format(userId), seq), recipients, originConnectionId);

    public void Typing(long conversationId, long userId, IReadOnlyList<long> recipients) =>
        SendToUsers(ServerFrames.Typing(Ids.Format(conversationId), Ids.Format(userId)), recipients, null);

    public void Publish(Notification notification) =>
        SendToUsers(ServerFrames.Notify(notification.Kind, notification.Data), notification.UserIds, null);

    public void Presence(long userId, bool online, long? lastSeenAt, IReadOnlyList<long> friends) =>
        SendToUsers(ServerFrames.Presence(Ids.Format(userId), online, lastSeenAt), friends, null);

    private void SendToUsers(byte[] frame, IReadOnlyList<long> userIds, long? exceptConnectionId)
    {
        foreach (var userId in userIds)
        {
            foreach (var connection in _connections.ForUser(userId))
            {
                if (connection.Id != exceptConnectionId)
                {
                    connection.TrySend(frame);
                }
            }
        }
    }
}
