using System.Diagnostics.Metrics;
using System.Text.Json;
using Parley.Protocol;
using Parley.Server.Events;
using Parley.Server.Http;
using Parley.Server.Messaging;
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
    private readonly Histogram<double> _latency;

    public Fanout(ConnectionRegistry connections, TimeProvider time, IMeterFactory meters)
    {
        _connections = connections;
        _time = time;
        _latency = meters.Create("Parley").CreateHistogram<double>(
            "parley.messages.delivery_latency",
            "s",
            "From a message's send timestamp (taken before commit) to its frame being queued on recipients' connections.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] });
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
            _latency.Record(Math.Max(0, _time.GetUtcNow().ToUnixTimeMilliseconds() - message.SentAt) / 1000.0);
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
