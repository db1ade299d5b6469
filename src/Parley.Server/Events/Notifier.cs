using System.Text.Json;

namespace Parley.Server.Events;

/// <summary>A <c>notify</c> event: what happened (<see cref="Kind"/>), its payload, and the users it concerns.</summary>
public sealed record Notification(string Kind, JsonElement Data, IReadOnlyList<long> UserIds);

/// <summary>Receives notifications after the change they describe has committed.</summary>
public interface INotificationSink
{
    void Publish(Notification notification);
}

/// <summary>The contract's <c>notify</c> kinds.</summary>
public static class NotifyKinds
{
    public const string FriendRequest = "friend.request";
    public const string FriendAccepted = "friend.accepted";
    public const string FriendRemoved = "friend.removed";
    public const string GroupInvited = "group.invited";
    public const string GroupJoined = "group.joined";
    public const string GroupLeft = "group.left";
    public const string GroupRemoved = "group.removed";
    public const string GroupUpdated = "group.updated";
    public const string GroupRole = "group.role";
    public const string GroupRequest = "group.request";
    public const string GroupDissolved = "group.dissolved";
    public const string UserUpdated = "user.updated";
}

/// <summary>
/// The in-process event interface: features publish here after commit, and every registered sink (the
/// WebSocket gateway, tests) receives the event. A failing sink never fails the request that caused it.
/// </summary>
public sealed partial class Notifier(IEnumerable<INotificationSink> sinks, ILogger<Notifier> logger)
{
    private readonly INotificationSink[] _sinks = sinks.ToArray();

    public void Publish(string kind, JsonElement data, IEnumerable<long> userIds)
    {
        var users = userIds.Distinct().ToArray();
        if (users.Length == 0)
        {
            return;
        }

        var notification = new Notification(kind, data, users);
        foreach (var sink in _sinks)
        {
            try
            {
                sink.Publish(notification);
            }
            catch (Exception e)
            {
                LogSinkFailed(logger, e, kind);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "A notification sink failed for {Kind}")]
    private static partial void LogSinkFailed(ILogger logger, Exception exception, string kind);
}
