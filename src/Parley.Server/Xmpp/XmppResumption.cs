using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Parley.Server.Accounts;
using Parley.Server.Realtime;

namespace Parley.Server.Xmpp;

/// <summary>
/// XEP-0198 resumption: the resumable streams by their (unguessable, 128-bit random) id, and the one end of a bound
/// stream's device session (unregistered, its connection slot given back, logged out), whether it ends with its TCP
/// connection, when a detached stream's window passes, or when it is closed while detached (revocation, shutdown,
/// too many unacknowledged stanzas).
/// </summary>
public sealed partial class XmppResumption(
    Gateway gateway,
    ConnectionRegistry connections,
    AccountService accounts,
    IOptions<XmppOptions> options,
    TimeProvider time,
    ILogger<XmppResumption> logger)
{
    private readonly ConcurrentDictionary<string, XmppStream> _byId = new(StringComparer.Ordinal);

    public TimeSpan Window => TimeSpan.FromSeconds(options.Value.ResumeSeconds);

    /// <summary>Streams waiting for a resume or attached, by id (for tests and metrics).</summary>
    public int Count => _byId.Count;

    /// <summary>A fresh resumption id for the stream, registered.</summary>
    public string Register(XmppStream stream)
    {
        var id = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        _byId[id] = stream;
        return id;
    }

    /// <summary>The stream of <paramref name="id"/> if it is the user's and not ended; otherwise null, the same for every reason.</summary>
    public XmppStream? Find(string id, long userId) =>
        _byId.TryGetValue(id, out var stream) && stream.Caller.UserId == userId && !stream.Sm.Ended ? stream : null;

    /// <summary>The TCP connection of <paramref name="generation"/> ended: the stream waits for a resume, or its session ends.</summary>
    public async ValueTask ConnectionEndedAsync(XmppStream stream, int generation, bool resumable)
    {
        var outcome = stream.Sm.Detach(generation, resumable, Window, time, stream.Connection.DetachTransport, () => _ = EndAsync(stream, "resumption window passed"));
        if (outcome == StreamManagement.Outcome.Kept)
        {
            LogDetached(logger, stream.Connection.Id, stream.Caller.UserId);
        }
        else if (outcome == StreamManagement.Outcome.End)
        {
            await EndAsync(stream, "stream ended");
        }
    }

    /// <summary>The stream's device session ends (once, whoever asks).</summary>
    public async Task EndAsync(XmppStream stream, string why)
    {
        if (!stream.Sm.TryEnd())
        {
            return;
        }

        if (stream.Sm.ResumeId is { } id)
        {
            _byId.TryRemove(new KeyValuePair<string, XmppStream>(id, stream));
        }

        LogEnded(logger, stream.Connection.Id, stream.Caller.UserId, why);
        try
        {
            await gateway.CloseAsync(stream.Connection, stream.Caller, null, stream.Sm.Opened);
        }
        finally
        {
            connections.Release(stream.Caller.UserId);
        }

        try
        {
            await accounts.LogoutAsync(new RefreshRequest(stream.Sm.Login.Tokens.RefreshToken), CancellationToken.None);
        }
        catch (Exception e)
        {
            LogLogoutFailed(logger, e);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "XMPP connection {ConnectionId} of user {UserId} detached: waiting for a resume")]
    private static partial void LogDetached(ILogger logger, long connectionId, long userId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "XMPP connection {ConnectionId} of user {UserId}: device session ended ({Why})")]
    private static partial void LogEnded(ILogger logger, long connectionId, long userId, string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "An XMPP stream's device session could not be ended")]
    private static partial void LogLogoutFailed(ILogger logger, Exception exception);
}
