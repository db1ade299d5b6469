using Parley.Storage.Messaging;

namespace Parley.Server.Messaging;

/// <summary>
/// What messaging tells the live side after a change has committed. Implemented by the WebSocket gateway;
/// messaging never touches a socket.
/// </summary>
public interface IMessageEvents
{
    /// <summary>A new message, to every member's connected devices except <paramref name="originConnectionId"/> (which got <c>sent</c>).</summary>
    void MessageCommitted(MessageDto message, IReadOnlyList<long> memberIds, long? originConnectionId);

    void Recalled(long conversationId, long seq, long by, IReadOnlyList<long> memberIds);

    /// <summary>A read marker moved: to <paramref name="recipients"/>'s devices, not the origin connection.</summary>
    void Read(long conversationId, long userId, long seq, IReadOnlyList<long> recipients, long? originConnectionId);

    void Typing(long conversationId, long userId, IReadOnlyList<long> recipients);
}
