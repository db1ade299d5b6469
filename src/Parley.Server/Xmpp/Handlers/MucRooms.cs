using System.Collections.Concurrent;
using System.Globalization;
using Parley.Server.Groups;
using Parley.Server.Http;
using Parley.Storage;
using Parley.Storage.Groups;

namespace Parley.Server.Xmpp.Handlers;

/// <summary>A room this stream joined: the room JID the client used, the group and its conversation, the user's nick.</summary>
public sealed record JoinedRoom(string RoomJid, long GroupId, long ConversationId, string Nick);

/// <summary>
/// The rooms one stream joined, by conversation id (the receive loop adds and removes, the writer reads: concurrent).
/// Gone with the stream; leaving a room here does not leave the Parley group.
/// </summary>
public sealed class MucStreamRooms
{
    // Not in XmppStream.Items: the writer reads this while the receive loop may be changing Items for other parts.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<XmppStream, MucStreamRooms> Streams = new();

    public ConcurrentDictionary<long, JoinedRoom> ByConversation { get; } = new();

    public static MucStreamRooms Of(XmppStream stream) => Streams.GetValue(stream, _ => new MucStreamRooms());

    public JoinedRoom? FindByJid(string roomJid) =>
        ByConversation.Values.FirstOrDefault(r => string.Equals(r.RoomJid, roomJid, StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// Room JIDs <-> groups. <c>&lt;groupId&gt;@conference.&lt;domain&gt;</c> is that group; any other local part is a room
/// name: the oldest public open group of exactly that name (case-insensitive), or, when there is none, a new public
/// open group of that name owned by the joiner (an instant room). Joining goes through <see cref="GroupService"/>,
/// so the REST API's rules (open groups joinable, private ones 404 to strangers, lookup throttling) are the only ones.
/// </summary>
public sealed class MucRooms(GroupService groups, GroupStore store)
{
    public const string MucNs = "http://jabber.org/protocol/muc";
    public const string MucUserNs = "http://jabber.org/protocol/muc#user";
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _creating = new(StringComparer.OrdinalIgnoreCase);

    public static string Service(XmppStream stream) => $"conference.{stream.Domain}";

    public static bool IsService(XmppStream stream, string? domain) =>
        string.Equals(domain, Service(stream), StringComparison.OrdinalIgnoreCase);

    public static string RoomJid(XmppStream stream, long groupId) => $"{Ids.Format(groupId)}@{Service(stream)}";

    /// <summary>The group behind a room JID's local part for a member, without joining anything; null = item-not-found.</summary>
    public async Task<GroupDto?> FindForMemberAsync(XmppStream stream, string local, CancellationToken cancellationToken)
    {
        try
        {
            if (IsId(local, out _))
            {
                return await groups.GetAsync(stream.Caller.UserId, local, cancellationToken);
            }

            return await FindNamedAsync(local, cancellationToken) is { } row ? await groups.GetAsync(stream.Caller.UserId, Ids.Format(row.Id), cancellationToken) : null;
        }
        catch (ApiException e) when (e.Status is 403 or 404)
        {
            return null;
        }
    }

    /// <summary>Joins (or creates) the room's group as the REST API would; returns the group, whether it was created, and the user's role.</summary>
    public async Task<(GroupDto Group, bool Created, string Role)> JoinAsync(XmppStream stream, string local, CancellationToken cancellationToken)
    {
        var caller = stream.Caller.UserId;
        if (IsId(local, out _))
        {
            return await JoinExistingAsync(caller, local, created: false, cancellationToken);
        }

        // One creation per name at a time on this node (two joiners of a new name meet in one group).
        var gate = _creating.GetOrAdd(local, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (await FindNamedAsync(local, cancellationToken) is { } row)
            {
                return await JoinExistingAsync(caller, Ids.Format(row.Id), created: false, cancellationToken);
            }

            var group = await groups.CreateAsync(caller, new CreateGroupBody(local, null, default, null, "open", "public", null, null, null, null, null), cancellationToken);
            return (group, true, "owner");
        }
        finally
        {
            gate.Release();
            if (_creating.Count > 1000)
            {
                _creating.Clear();
            }
        }
    }

    private async Task<(GroupDto, bool, string)> JoinExistingAsync(long caller, string groupId, bool created, CancellationToken cancellationToken)
    {
        var result = await groups.JoinAsync(caller, groupId, new JoinBody(null), cancellationToken);
        if (result.Status != "joined")
        {
            throw new ApiException(403, "pending", "Your request to join waits for the group's admins.");
        }

        var group = await groups.GetAsync(caller, groupId, cancellationToken);
        var member = await store.GetMemberAsync(long.Parse(group.Id, CultureInfo.InvariantCulture), caller, cancellationToken);
        return (group, created, member?.Role ?? "member");
    }

    private async Task<GroupRow?> FindNamedAsync(string name, CancellationToken cancellationToken)
    {
        var rows = await store.SearchPublicAsync(name, [], 0, 50, cancellationToken);
        return rows.FirstOrDefault(g => g.JoinPolicy == "open" && string.Equals(g.Name, name, StringComparison.OrdinalIgnoreCase));
    }

    private static bool IsId(string local, out long id) =>
        Ids.TryParse(local, out id) && local.All(char.IsAsciiDigit);

    /// <summary>XEP-0045 affiliation and role of a Parley group role.</summary>
    public static (string Affiliation, string Role) MucRole(string parleyRole) => parleyRole switch
    {
        "owner" => ("owner", "moderator"),
        "admin" => ("admin", "moderator"),
        _ => ("member", "participant"),
    };
}
