using System.Diagnostics;
using System.Text.Json;
using Parley.Protocol;
using Parley.Server.Accounts;
using Parley.Server.Http;
using Parley.Server.Messaging;
using Parley.Server.Operations;
using Parley.Storage.Messaging;

namespace Parley.Server.Realtime;

/// <summary>What the dispatcher keeps per connection: who it is, its upgrade's span, and its typing repeats.</summary>
public sealed class ClientSession(Connection connection, Caller caller, ActivityContext connectionSpan)
{
    public Connection Connection { get; } = connection;

    public Caller Caller { get; } = caller;

    public ActivityContext ConnectionSpan { get; } = connectionSpan;

    // Made on the first typing frame: an idle connection holds no dictionary.
    internal Dictionary<string, long> LastTyping => field ??= new(StringComparer.Ordinal);
}

/// <summary>
/// One complete text frame of a connection -> <see cref="FrameParser.TryParse"/> -> a switch on the frame -> the
/// messaging feature (SignalR's dispatcher beside its connection handler). Knows frames and features, never
/// sockets: the transport hands it bytes and it answers through <see cref="Connection.TrySend"/>.
/// </summary>
public sealed partial class FrameDispatcher(MessageSender sender, MessagingService messaging, Calls.CallService calls, TimeProvider time, Microsoft.Extensions.Options.IOptions<RealtimeOptions> options, ILogger<FrameDispatcher> logger)
{
    private readonly Calls.CallService _calls = calls;
    private readonly MessageSender _sender = sender;
    private readonly MessagingService _messaging = messaging;
    private readonly RealtimeOptions _options = options.Value;
    private readonly ILogger<FrameDispatcher> _logger = logger;

    /// <summary>
    /// Parses and handles one text frame; a bad frame is answered with an <c>error</c> frame. <paramref name="payload"/>
    /// is read only before this returns (the frame is parsed synchronously into values of its own), so the caller may
    /// reuse its buffer before awaiting the result.
    /// </summary>
    public ValueTask HandleTextAsync(ClientSession session, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        if (!FrameParser.TryParse(payload.Span, out var frame, out var error))
        {
            session.Connection.TrySend(ServerFrames.Error(error.RefJson, error.Code, error.Message));
            return ValueTask.CompletedTask;
        }

        if (frame is TypingFrame typing && !TypingAllowed(session.LastTyping, typing.ConversationId, time.GetTimestamp() * 1000 / time.TimestampFrequency))
        {
            return ValueTask.CompletedTask; // typing is a hint: at most one per conversation per second is passed on
        }

        // The hot frame gets a state machine of its own, much smaller than the general one's (boxed per send: it waits for the commit).
        return frame is SendFrame send && !Telemetry.Source.HasListeners()
            ? SendAsync(send, session.Connection, session.Caller, cancellationToken)
            : DispatchAsync(frame, session.Connection, session.Caller, session.ConnectionSpan, cancellationToken);
    }

    /// <summary>
    /// A <c>send</c> frame without traces: what <see cref="DispatchAsync"/> does for it, answered alike. The checks
    /// complete synchronously in the steady state (the conversation's view is held), so they run here, outside any
    /// state machine; the only one boxed per send is <see cref="CommitAsync"/>'s, which keeps no more than it needs
    /// while the batch commits.
    /// </summary>
    private ValueTask SendAsync(SendFrame send, Connection connection, Caller caller, CancellationToken cancellationToken)
    {
        ValueTask<(NewMessage? Message, Result<SentMessage> Answer)> checking;
        try
        {
            checking = _sender.PrepareAsync(caller, send.Command, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Failed(send.RefJson, connection, e);
            return ValueTask.CompletedTask;
        }

        if (!checking.IsCompletedSuccessfully)
        {
            return SendAfterCheckAsync(send.RefJson, connection, checking, cancellationToken);
        }

        var (prepared, answer) = checking.Result;
        if (prepared is null)
        {
            Answer(send.RefJson, connection, answer);
            return ValueTask.CompletedTask;
        }

        return CommitAsync(send.RefJson, connection, prepared, cancellationToken);
    }

    private async ValueTask SendAfterCheckAsync(string? refJson, Connection connection, ValueTask<(NewMessage? Message, Result<SentMessage> Answer)> checking, CancellationToken cancellationToken)
    {
        (NewMessage? Message, Result<SentMessage> Answer) check;
        try
        {
            check = await checking;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Failed(refJson, connection, e);
            return;
        }

        if (check.Message is { } prepared)
        {
            await CommitAsync(refJson, connection, prepared, cancellationToken);
        }
        else
        {
            Answer(refJson, connection, check.Answer);
        }
    }

    private async ValueTask CommitAsync(string? refJson, Connection connection, NewMessage prepared, CancellationToken cancellationToken)
    {
        Result<SentMessage> sent;
        try
        {
            var appended = await _sender.AppendAsync(prepared, connection.Id, cancellationToken);
            // The recheck (cluster mode, a view older than the commit's) is rare: awaited as a Task, so this state
            // machine, boxed for every send, holds a one-reference awaiter for it instead of a ValueTask's.
            sent = MessageSender.IsStale(prepared, appended)
                ? await _sender.RecheckAsync(prepared, connection.Id, cancellationToken).AsTask()
                : _sender.Answer(prepared, appended);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Failed(refJson, connection, e);
            return;
        }

        Answer(refJson, connection, sent);
    }

    private void Answer(string? refJson, Connection connection, Result<SentMessage> sent)
    {
        if (sent.TryGetValue(out var message, out var refusal))
        {
            connection.TrySend(ServerFrames.Sent(refJson, message.Message.Json.Span));
        }
        else
        {
            LogFrameRefused(_logger, nameof(SendFrame), refusal.Code);
            connection.TrySend(ServerFrames.Error(refJson, refusal.Code, refusal.Detail));
        }
    }

    private void Failed(string? refJson, Connection connection, Exception e)
    {
        if (e is ApiException api)
        {
            connection.TrySend(ServerFrames.Error(refJson, api.Code, api.Message));
            return;
        }

        if (Unavailable(refJson, connection, e, nameof(SendFrame)))
        {
            return;
        }

        LogFrameFailed(_logger, e, nameof(SendFrame));
        connection.TrySend(ServerFrames.Error(refJson, ErrorCodes.Internal, "The frame could not be handled."));
    }

    /// <summary>
    /// The database is down or restarting: the frame is answered <c>unavailable</c> and the connection stays (the
    /// client retries the send with the same clientMsgId, which returns the original if it did commit).
    /// </summary>
    private bool Unavailable(string? refJson, Connection connection, Exception e, string frame)
    {
        if (!Parley.Storage.Database.IsUnavailable(e))
        {
            return false;
        }

        if (DatabaseOutage.ShouldLog(out var suppressed))
        {
            LogFrameUnavailable(_logger, frame, e.GetType().Name, e.Message, suppressed);
        }

        connection.TrySend(ServerFrames.Error(refJson, ErrorCodes.Unavailable, DatabaseOutage.Detail));
        return true;
    }

    /// <summary>
    /// Hands a frame to the messaging feature. Refusals (invalid, not a member, rate limited, muted...) come
    /// back as values and leave as <c>error</c> frames: a client's mistake costs no exception.
    /// </summary>
    private async ValueTask DispatchAsync(ClientFrame frame, Connection connection, Caller caller, ActivityContext connectionSpan, CancellationToken cancellationToken)
    {
        if (frame is PingFrame)
        {
            connection.TrySend(ServerFrames.Pong());
            return;
        }

        using var span = StartFrameSpan(frame, connectionSpan);
        string? refJson = null;
        try
        {
            Refusal? refusal;
            switch (frame)
            {
                case SendFrame send:
                    refJson = send.RefJson;
                    var sent = await _sender.SendAsync(caller, send.Command, connection.Id, cancellationToken);
                    if (sent.TryGetValue(out var message, out refusal))
                    {
                        span?.SetTag("parley.message.seq", message.Message.Row.Seq);
                        connection.TrySend(ServerFrames.Sent(send.RefJson, message.Message.Json.Span));
                    }

                    break;
                case SyncFrame sync:
                    refJson = sync.RefJson;
                    // Half the queue's budget at most, so the answer fits beside what is queued already.
                    var history = await _messaging.HistoryAsync(caller, sync.ConversationId, sync.AfterSeq, null, sync.Limit ?? ProtocolLimits.DefaultSyncLimit, cancellationToken, Math.Max(ProtocolLimits.MaxFrameBytes, _options.SendQueueBytes / 2));
                    if (history.TryGetValue(out var page, out refusal))
                    {
                        var items = page.Items.Select(m => (ReadOnlyMemory<byte>)JsonSerializer.SerializeToUtf8Bytes(m, ParleyJson.Default.MessageDto)).ToList();
                        connection.TrySend(ServerFrames.Messages(sync.RefJson, sync.ConversationId, items, page.HasMore, page.MaxSeq));
                    }

                    break;
                case AckFrame ack:
                    refusal = await _messaging.AckAsync(caller, Id(ack.ConversationId), ack.Seq, cancellationToken);
                    break;
                case ReadFrame read:
                    refusal = await _messaging.MarkReadAsync(caller, Id(read.ConversationId), read.Seq, cancellationToken, connection.Id);
                    break;
                case TypingFrame typing:
                    refusal = await _messaging.TypingAsync(caller, Id(typing.ConversationId), cancellationToken);
                    break;
                case CallSignalFrame signal:
                    refJson = signal.RefJson;
                    refusal = _calls.Signal(caller, connection.Id, signal);
                    break;
                case CallInviteFrame invite:
                    refJson = invite.RefJson;
                    refusal = await _calls.InviteAsync(caller, connection.Id, invite, cancellationToken);
                    break;
                case CallAcceptFrame accept:
                    refJson = accept.RefJson;
                    refusal = _calls.Accept(caller, connection.Id, accept);
                    break;
                case CallRejectFrame reject:
                    refJson = reject.RefJson;
                    refusal = _calls.Reject(caller, connection.Id, reject);
                    break;
                case CallHangupFrame hangup:
                    refJson = hangup.RefJson;
                    refusal = _calls.Hangup(caller, connection.Id, hangup);
                    break;
                default:
                    refusal = null;
                    break;
            }

            if (refusal is not null)
            {
                LogFrameRefused(_logger, frame.GetType().Name, refusal.Code);
                span?.SetTag("parley.error.code", refusal.Code);
                connection.TrySend(ServerFrames.Error(refJson, refusal.Code, refusal.Detail));
            }
        }
        catch (ApiException e)
        {
            // Nothing on the frame path throws these for a client's mistake any more; kept so one that does is still answered.
            span?.SetTag("parley.error.code", e.Code);
            connection.TrySend(ServerFrames.Error(refJson, e.Code, e.Message));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            span?.SetStatus(ActivityStatusCode.Error);
            if (Unavailable(refJson, connection, e, frame.GetType().Name))
            {
                return;
            }

            LogFrameFailed(_logger, e, frame.GetType().Name);
            connection.TrySend(ServerFrames.Error(refJson, ErrorCodes.Internal, "The frame could not be handled."));
        }
    }

    /// <summary>
    /// A span per frame handled (traces on only; typing hints get none). Each is the root of its own trace,
    /// linked to the connection's upgrade request: that request's span lasts as long as the socket (hours),
    /// and a trace holding every frame of a connection would be neither complete nor readable until it closed.
    /// </summary>
    private static Activity? StartFrameSpan(ClientFrame frame, ActivityContext connectionSpan)
    {
        if (!Telemetry.Source.HasListeners())
        {
            return null;
        }

        var (name, conversationId) = frame switch
        {
            SendFrame f => ("ws send", Parley.Storage.Ids.Format(f.Command.ConversationId)),
            SyncFrame f => ("ws sync", f.ConversationId),
            ReadFrame f => ("ws read", f.ConversationId),
            AckFrame f => ("ws ack", f.ConversationId),
            _ => (null, null),
        };
        if (name is null)
        {
            return null;
        }

        // Not the connection's span as parent (see above). The caller's async context is the frame's alone,
        // so this change ends with the frame.
        var previous = Activity.Current;
        Activity.Current = null;
        var span = Telemetry.Source.StartActivity(
            name,
            ActivityKind.Server,
            default(ActivityContext),
            links: connectionSpan == default ? null : [new ActivityLink(connectionSpan)]);
        if (span is null)
        {
            Activity.Current = previous; // not sampled: log lines keep the connection's ids
            return null;
        }

        span.SetTag("parley.conversation.id", conversationId);
        return span;
    }

    /// <summary>An id the parser has already checked (a positive decimal number that fits 64 bits).</summary>
    private static long Id(string conversationId) => long.Parse(conversationId, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture);

    /// <param name="now">Milliseconds on the injected clock's monotonic timestamp (so tests move it with the clock).</param>
    internal static bool TypingAllowed(Dictionary<string, long> lastTyping, string conversationId, long now)
    {
        if (lastTyping.TryGetValue(conversationId, out var last) && now - last < 1000)
        {
            return false;
        }

        if (lastTyping.Count > 1000)
        {
            lastTyping.Clear();
        }

        lastTyping[conversationId] = now;
        return true;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "A {Frame} frame was refused: {Code}")]
    private static partial void LogFrameRefused(ILogger logger, string frame, string code);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A {Frame} frame met an unavailable database ({Error}: {Reason}; {Suppressed} more since the last report); answered unavailable")]
    private static partial void LogFrameUnavailable(ILogger logger, string frame, string error, string reason, long suppressed);

    [LoggerMessage(Level = LogLevel.Error, Message = "Handling a {Frame} frame failed")]
    private static partial void LogFrameFailed(ILogger logger, Exception exception, string frame);
}
