using Parley.Server.Accounts;
using Parley.Server.Realtime;

namespace Parley.Server.Xmpp;

/// <summary>
/// One bound XMPP stream, as the stanza handlers and the outbound translation see it: who it is (JIDs, the
/// <see cref="Caller"/>), how to answer (<see cref="Send"/>, XML on the connection's one writer) and how to act
/// (<see cref="DispatchAsync"/>: a JSON client frame through the same <see cref="FrameDispatcher"/> a WebSocket's
/// frames go through, so XMPP adds no second copy of the messaging rules). Handlers of the next stages keep their
/// per-stream state in <see cref="Items"/> (carbons on, chat-state wishes, stream management counters...).
/// </summary>
public sealed class XmppStream(Caller caller, string username, string domain, string streamId)
{
    private readonly Dictionary<long, string> _peerConversations = [];
    private readonly Dictionary<string, long> _conversationPeers = new(StringComparer.Ordinal);

    public Caller Caller { get; } = caller;

    /// <summary>The user's username, lower-cased as the JID's local part.</summary>
    public string Username { get; } = username;

    public string Domain { get; } = domain;

    public string StreamId { get; } = streamId;

    /// <summary>The resource: the device session's id.</summary>
    public string Resource { get; } = Parley.Storage.Ids.Format(caller.SessionId);

    public string BareJid => $"{Username}@{Domain}";

    public string FullJid => $"{BareJid}/{Resource}";

    /// <summary>Set at bind; every write after it goes through the connection's queue.</summary>
    public XmppConnection Connection { get; internal set; } = null!;

    /// <summary>The dispatcher's per-connection state (set at bind, by <see cref="Gateway.OpenAsync"/>).</summary>
    public ClientSession Session { get; internal set; } = null!;

    internal FrameDispatcher Dispatcher { get; set; } = null!;

    /// <summary>XEP-0198 state and the session's life across TCP connections (set at bind).</summary>
    public StreamManagement Sm { get; internal set; } = null!;

    /// <summary>Per-stream state of handlers, by a key of their own (only the stream's receive loop and writer touch it).</summary>
    public Dictionary<string, object> Items { get; } = new(StringComparer.Ordinal);

    /// <summary>Queues XML (a stanza the handler built, values escaped) for the client.</summary>
    public bool Send(string xml) => Connection.TrySendXml(xml);

    /// <summary>Hands a JSON client frame to the dispatcher, answered through the connection like a socket's frame.</summary>
    public ValueTask DispatchAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken) =>
        Dispatcher.HandleTextAsync(Session, frame, cancellationToken);

    /// <summary>The direct conversation with a peer, once resolved (by the receive loop or the writer: locked).</summary>
    public bool TryGetConversation(long peerId, out string conversationId)
    {
        lock (_conversationPeers)
        {
            return _peerConversations.TryGetValue(peerId, out conversationId!);
        }
    }

    public void RememberConversation(long peerId, string conversationId)
    {
        lock (_conversationPeers)
        {
            if (_peerConversations.Count > 10_000)
            {
                _peerConversations.Clear();
                _conversationPeers.Clear();
            }

            _peerConversations[peerId] = conversationId;
            _conversationPeers[conversationId] = peerId;
        }
    }
}
