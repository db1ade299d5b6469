using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Xml.Linq;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;
using Parley.Protocol;
using Parley.Server.Accounts;
using Parley.Server.Http;
using Parley.Server.Realtime;

namespace Parley.Server.Xmpp;

/// <summary>
/// One c2s TCP connection from its first byte to its end: RFC 6120 stream negotiation (header, features, SASL PLAIN,
/// restart, bind), then the bound stream, whose stanzas go to the <see cref="XmppRouter"/> one after another (so a
/// stream's sends keep their order, as a socket's frames do). Before bind it writes to the pipe itself (nothing
/// else knows the connection); from bind on, every write goes through the <see cref="XmppConnection"/>'s queue,
/// and the connection's life is the WebSocket's (<see cref="Gateway.OpenAsync"/> / <see cref="Gateway.CloseAsync"/>).
/// Any XML violation is answered with its stream error and ends this stream only.
/// </summary>
public sealed partial class XmppStreamHandler(
    XmppRouter router,
    XmppOutbound outbound,
    AccountService accounts,
    Gateway gateway,
    ConnectionRegistry connections,
    XmppResumption resumption,
    IOptions<XmppOptions> options,
    IOptions<RealtimeOptions> realtime,
    TimeProvider time,
    ILogger<XmppStreamHandler> logger,
    Sasl.ScramSha256Mechanism scram,
    XmppTls? tls = null)
{
    private readonly XmppOptions _options = options.Value;

    private enum Phase
    {
        Connected, // before SASL
        Authenticated, // after SASL success and the restart
        Bound,
    }

    private sealed class State
    {
        public Phase Phase;
        public bool Tls;
        public bool TlsPending; // <proceed/> written: the handshake starts once the read buffer is given back
        public int AuthFailures;
        public AuthResponse? Login;
        public Sasl.ScramSha256Server? Scram; // a SCRAM-SHA-256 exchange between its first and its last message
        public string Username = "";
        public XmppStream? Stream;
        public string StreamId = "";
        public bool HeaderSent;
        public long Opened;
        public int Generation; // XEP-0198: which attachment of the stream this TCP connection is
        public readonly TaskCompletionSource LoopDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public async Task OnConnectedAsync(ConnectionContext context)
    {
        var input = context.Transport.Input; // swapped for the TLS pipes by STARTTLS
        var reader = new XmlStanzaReader(_options.Limits);
        var state = new State();
        state.Opened = time.GetTimestamp();
        var frames = new FrameBucket(gateway.Shared);
        using var negotiation = new CancellationTokenSource(TimeSpan.FromSeconds(_options.NegotiationSeconds), time);
        try
        {
            while (true)
            {
                ReadResult result;
                try
                {
                    result = state.Phase == Phase.Bound ? await input.ReadAsync() : await input.ReadAsync(negotiation.Token);
                }
                catch (OperationCanceledException) when (negotiation.IsCancellationRequested)
                {
                    await FailAsync(context, state, "connection-timeout", "negotiation took too long");
                    return;
                }

                var buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    state.Stream?.Connection.Touch(); // whitespace keepalives and every stanza count as traffic
                }

                var stop = false;
                var ended = false;
                while (!stop && !ended && !state.TlsPending)
                {
                    var ev = reader.Read(buffer, out var consumed);
                    buffer = buffer.Slice(consumed);
                    switch (ev)
                    {
                        case XmlStanzaEvent.NeedMore:
                            stop = true;
                            break;
                        case XmlStanzaEvent.Error:
                            LogStreamError(logger, context.ConnectionId, reader.Error!);
                            await FailAsync(context, state, reader.Error!, null);
                            ended = true;
                            break;
                        case XmlStanzaEvent.StreamClosed:
                            await CloseAsync(context, state, "</stream:stream>");
                            ended = true;
                            break;
                        case XmlStanzaEvent.StreamOpened:
                            ended = !await OpenStreamAsync(context, state, reader);
                            break;
                        case XmlStanzaEvent.Stanza:
                            var stanza = reader.Stanza!;
                            if (state.Phase == Phase.Bound)
                            {
                                var connection = state.Stream!.Connection;
                                if (connection.CloseStatus is not null)
                                {
                                    break; // closing: what still arrives is read and dropped
                                }

                                if (!frames.TryTake())
                                {
                                    connection.Close(CloseCodes.RateLimited, "too many stanzas");
                                    break;
                                }

                                if (!await router.RouteAsync(state.Stream, stanza, context.ConnectionClosed))
                                {
                                    connection.CloseWithStreamError("unsupported-stanza-type", null);
                                }
                                else if (stanza.Name.NamespaceName == XmlStanzaReader.ClientNamespace)
                                {
                                    state.Stream.Sm.Count(); // XEP-0198 h: handled (dispatched; its answer, if any, is queued)
                                }

                                break;
                            }

                            var next = await NegotiateAsync(context, state, reader, stanza);
                            if (next is null)
                            {
                                ended = true;
                            }
                            else if (next == true)
                            {
                                // A stream restart (after SASL): what follows the element is a new stream.
                                reader.Restart();
                            }

                            break;
                    }
                }

                input.AdvanceTo(buffer.Start, buffer.End);
                if (ended || result.IsCompleted || result.IsCanceled)
                {
                    return;
                }

                if (state.TlsPending)
                {
                    state.TlsPending = false;
                    if (tls is null || !await tls.UpgradeAsync(context, TimeSpan.FromSeconds(_options.NegotiationSeconds), negotiation.Token))
                    {
                        return;
                    }

                    state.Tls = true;
                    input = context.Transport.Input;
                    reader.Restart(); // RFC 6120 5.4.3.3: a new stream over TLS
                }
            }
        }
        catch (Exception e) when (e is IOException or ConnectionResetException or ConnectionAbortedException or OperationCanceledException or InvalidOperationException)
        {
            // The client went away.
        }
        finally
        {
            try
            {
                await EndAsync(context, state);
            }
            finally
            {
                state.LoopDone.TrySetResult();
            }
        }
    }

    private async ValueTask<bool> OpenStreamAsync(ConnectionContext context, State state, XmlStanzaReader reader)
    {
        state.StreamId = Guid.NewGuid().ToString("N");
        var header = reader.Header;
        string? error = null;
        if (!header.TryGetValue("xmlns", out var ns) || ns != XmlStanzaReader.ClientNamespace)
        {
            error = "invalid-namespace";
        }
        else if (!header.TryGetValue("to", out var to) || !string.Equals(to, _options.Domain, StringComparison.OrdinalIgnoreCase))
        {
            error = "host-unknown";
        }
        else if (!header.TryGetValue("version", out var version) || !version.StartsWith("1.", StringComparison.Ordinal))
        {
            error = "unsupported-version";
        }

        if (error is not null)
        {
            await FailAsync(context, state, error, null);
            return false;
        }

        var features = state.Phase switch
        {
            Phase.Connected => PreAuthFeatures(state),
            _ => $"<bind xmlns='{XmppWriter.BindNamespace}'/><session xmlns='{XmppWriter.SessionNamespace}'><optional/></session>{router.StreamFeatures}",
        };
        state.HeaderSent = true;
        await WriteAsync(context, XmppWriter.StreamHeader(_options.Domain, state.StreamId) + $"<stream:features>{features}</stream:features>");
        return true;
    }

    private string PreAuthFeatures(State state)
    {
        var tlsOffered = tls is not null && !state.Tls;
        var starttls = tlsOffered ? $"<starttls xmlns='{XmppWriter.TlsNamespace}'>{(_options.AllowPlaintext ? "" : "<required/>")}</starttls>" : "";
        var sasl = state.Tls || _options.AllowPlaintext
            ? $"<mechanisms xmlns='{XmppWriter.SaslNamespace}'><mechanism>{Sasl.ScramSha256Mechanism.Name}</mechanism><mechanism>PLAIN</mechanism></mechanisms>"
            : "";
        return starttls + sasl;
    }

    /// <summary>A stanza before bind. True: restart the stream; false: go on; null: the stream has ended.</summary>
    private async ValueTask<bool?> NegotiateAsync(ConnectionContext context, State state, XmlStanzaReader reader, XElement element)
    {
        var name = element.Name;
        if (state.Phase == Phase.Connected && state.Scram is null && name == XName.Get("auth", XmppWriter.SaslNamespace))
        {
            return (string?)element.Attribute("mechanism") == Sasl.ScramSha256Mechanism.Name && (state.Tls || _options.AllowPlaintext)
                ? await ScramFirstAsync(context, state, element)
                : await AuthenticateAsync(context, state, element);
        }

        if (state.Scram is not null && name == XName.Get("response", XmppWriter.SaslNamespace))
        {
            return await ScramFinalAsync(context, state, element);
        }

        if (state.Scram is not null && name == XName.Get("abort", XmppWriter.SaslNamespace))
        {
            await AbortScramAsync(state);
            return await SaslFailedAsync(context, state, "aborted"); // counted too: each start read the store
        }

        if (state.Phase == Phase.Connected && name == XName.Get("starttls", XmppWriter.TlsNamespace))
        {
            if (tls is not null && !state.Tls)
            {
                await WriteAsync(context, $"<proceed xmlns='{XmppWriter.TlsNamespace}'/>");
                state.TlsPending = true;
                return false;
            }

            await WriteAsync(context, $"<failure xmlns='{XmppWriter.TlsNamespace}'/></stream:stream>");
            return null;
        }

        if (state.Phase == Phase.Authenticated && name == XName.Get("iq", XmlStanzaReader.ClientNamespace))
        {
            var payload = element.Elements().FirstOrDefault();
            var id = (string?)element.Attribute("id");
            if (payload?.Name == XName.Get("bind", XmppWriter.BindNamespace) && (string?)element.Attribute("type") == "set" && id is not null)
            {
                return await BindAsync(context, state, id) ? false : null;
            }

            if (payload?.Name == XName.Get("session", XmppWriter.SessionNamespace) && id is not null)
            {
                await WriteAsync(context, XmppWriter.IqResult(id, null, null));
                return false;
            }

            await WriteAsync(context, XmppWriter.IqError(id, null, null, "auth", "not-authorized"));
            return false;
        }

        if (state.Phase == Phase.Authenticated && name.NamespaceName == StreamManagement.Namespace)
        {
            // XEP-0198 before bind: a resume (instead of bind), or an enable too early.
            if (name.LocalName == "resume")
            {
                await ResumeAsync(context, state, element);
            }
            else
            {
                await WriteAsync(context, SmFailed("unexpected-request"));
            }

            return false;
        }

        await FailAsync(context, state, "not-authorized", null);
        return null;
    }

    private async ValueTask<bool?> AuthenticateAsync(ConnectionContext context, State state, XElement auth)
    {
        if ((string?)auth.Attribute("mechanism") != "PLAIN" || !(state.Tls || _options.AllowPlaintext))
        {
            await WriteAsync(context, $"<failure xmlns='{XmppWriter.SaslNamespace}'><invalid-mechanism/></failure>");
            return false;
        }

        if (!TryDecodePlain(auth.Value, out var authzid, out var username, out var password))
        {
            await WriteAsync(context, $"<failure xmlns='{XmppWriter.SaslNamespace}'><malformed-request/></failure>");
            return false;
        }

        string? failure = null;
        try
        {
            var address = (context.RemoteEndPoint as IPEndPoint)?.Address.ToString() ?? "unknown";
            state.Login = await accounts.LoginAsync(new LoginRequest(username, password, "xmpp"), address, context.ConnectionClosed);
            state.Username = state.Login.User.Username.ToLowerInvariant();
            if (authzid.Length > 0 && !string.Equals(authzid, $"{state.Username}@{_options.Domain}", StringComparison.OrdinalIgnoreCase))
            {
                await accounts.LogoutAsync(new RefreshRequest(state.Login.Tokens.RefreshToken), CancellationToken.None);
                state.Login = null;
                failure = "invalid-authzid";
            }
        }
        catch (ApiException e)
        {
            failure = e.Code switch
            {
                ErrorCodes.RateLimited => "temporary-auth-failure",
                ErrorCodes.Disabled => "account-disabled",
                ErrorCodes.Invalid => "malformed-request",
                _ => "not-authorized",
            };
        }

        if (failure is not null)
        {
            await WriteAsync(context, $"<failure xmlns='{XmppWriter.SaslNamespace}'><{failure}/></failure>");
            if (++state.AuthFailures >= _options.MaxAuthFailures)
            {
                await FailAsync(context, state, "policy-violation", "too many failed authentications");
                return null;
            }

            return false;
        }

        await WriteAsync(context, $"<success xmlns='{XmppWriter.SaslNamespace}'/>");
        state.Phase = Phase.Authenticated;
        return true;
    }

    /// <summary>SCRAM-SHA-256's client-first message (in <c>&lt;auth/&gt;</c>): the challenge, or a failure.</summary>
    private async ValueTask<bool?> ScramFirstAsync(ConnectionContext context, State state, XElement auth)
    {
        if (!TryDecodeSasl(auth.Value, out var first))
        {
            return await SaslFailedAsync(context, state, "incorrect-encoding");
        }

        if (first.Length == 0)
        {
            return await SaslFailedAsync(context, state, "malformed-request"); // SCRAM has no empty initial response
        }

        var address = (context.RemoteEndPoint as IPEndPoint)?.Address.ToString() ?? "unknown";
        var exchange = scram.Start(address, _options.Domain);
        Sasl.SaslStep step;
        try
        {
            step = await exchange.StartAsync(first, context.ConnectionClosed);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogScramFailed(logger, e); // the store is away: the attempt was taken back
            return await SaslFailedAsync(context, state, "temporary-auth-failure");
        }

        if (step.Failed)
        {
            return await SaslFailedAsync(context, state, Sasl.SaslFailures.Condition(step.Failure));
        }

        state.Scram = exchange;
        await WriteAsync(context, $"<challenge xmlns='{XmppWriter.SaslNamespace}'>{Convert.ToBase64String(step.Data!)}</challenge>");
        return false;
    }

    /// <summary>SCRAM-SHA-256's client-final message (in <c>&lt;response/&gt;</c>): the proof checked, then the device session.</summary>
    private async ValueTask<bool?> ScramFinalAsync(ConnectionContext context, State state, XElement response)
    {
        var exchange = state.Scram!;
        state.Scram = null;
        if (!TryDecodeSasl(response.Value, out var final))
        {
            await exchange.AbortAsync();
            return await SaslFailedAsync(context, state, "incorrect-encoding");
        }

        var step = await exchange.FinishAsync(final);
        if (step.Failed)
        {
            return await SaslFailedAsync(context, state, Sasl.SaslFailures.Condition(step.Failure));
        }

        var account = exchange.Authenticated!;
        try
        {
            state.Login = await accounts.LoginWithScramAsync(account.UserId, account.Credential!.Format(), "xmpp", context.ConnectionClosed);
        }
        catch (ApiException e)
        {
            // The password changed between the keys' read and now, or the account was disabled meanwhile.
            return await SaslFailedAsync(context, state, e.Code == ErrorCodes.Disabled ? "account-disabled" : "not-authorized");
        }

        state.Username = state.Login.User.Username.ToLowerInvariant();
        await WriteAsync(context, $"<success xmlns='{XmppWriter.SaslNamespace}'>{Convert.ToBase64String(step.Data!)}</success>");
        state.Phase = Phase.Authenticated;
        return true;
    }

    private static async ValueTask AbortScramAsync(State state)
    {
        if (state.Scram is { } exchange)
        {
            state.Scram = null;
            await exchange.AbortAsync();
        }
    }

    /// <summary>
    /// A SASL <c>&lt;failure/&gt;</c>; past <c>Xmpp:MaxAuthFailures</c> the stream ends. Every failure counts, an abort and
    /// a throttle refusal included: else one stream could start and abort (each start a read of the store and the
    /// throttle) for as long as negotiation lasts.
    /// </summary>
    private async ValueTask<bool?> SaslFailedAsync(ConnectionContext context, State state, string condition)
    {
        await WriteAsync(context, $"<failure xmlns='{XmppWriter.SaslNamespace}'><{condition}/></failure>");
        if (++state.AuthFailures >= _options.MaxAuthFailures)
        {
            await FailAsync(context, state, "policy-violation", "too many failed authentications");
            return null;
        }

        return false;
    }

    /// <summary>SASL data: base64, or <c>=</c> for empty (RFC 6120 6.4.2); null when it is not base64.</summary>
    private static bool TryDecodeSasl(string text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? data)
    {
        text = text.Trim();
        if (text is "=" or "")
        {
            data = [];
            return true;
        }

        data = new byte[(text.Length * 3 / 4) + 3];
        if (Convert.TryFromBase64String(text, data, out var written))
        {
            data = data[..written];
            return true;
        }

        data = null;
        return false;
    }

    /// <summary>RFC 4616: <c>[authzid] NUL authcid NUL passwd</c>, base64.</summary>
    internal static bool TryDecodePlain(string base64, out string authzid, out string authcid, out string password)
    {
        authzid = authcid = password = "";
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(base64.Trim());
        }
        catch (FormatException)
        {
            return false;
        }

        var parts = Encoding.UTF8.GetString(bytes).Split('\0');
        if (parts.Length != 3 || parts[1].Length == 0 || parts[2].Length == 0)
        {
            return false;
        }

        (authzid, authcid, password) = (parts[0], parts[1], parts[2]);
        return true;
    }

    /// <summary>
    /// Resource binding: the device session SASL made becomes a real-time connection, registered like a socket. The
    /// server picks the resource (the device id; RFC 6120 7.6.2.1 lets it ignore the client's wish).
    /// </summary>
    private async ValueTask<bool> BindAsync(ConnectionContext context, State state, string id)
    {
        var login = state.Login!;
        var caller = new Caller(long.Parse(login.User.Id, System.Globalization.CultureInfo.InvariantCulture), long.Parse(login.DeviceId, System.Globalization.CultureInfo.InvariantCulture));
        if (!connections.TryReserve(caller.UserId, realtime.Value.MaxConnectionsPerUser))
        {
            await WriteAsync(context, XmppWriter.IqError(id, null, null, "wait", "resource-constraint", $"at most {realtime.Value.MaxConnectionsPerUser} connections per user"));
            return true;
        }

        var stream = new XmppStream(caller, state.Username, _options.Domain, state.StreamId) { Dispatcher = gateway.Dispatcher };
        stream.Sm = new StreamManagement(login, state.Opened, gateway.Shared.MaxQueuedFrames, gateway.Shared.MaxQueuedBytes);
        state.Login = null; // the stream's now: it ends with the stream (XmppResumption.EndAsync)
        state.Generation = stream.Sm.Attach(context, state.LoopDone.Task);
        var connection = new XmppConnection(context, gateway.Shared, outbound, stream, resumption);
        stream.Connection = connection;
        state.Stream = stream;
        state.Phase = Phase.Bound;
        // Queued first: the bind result leaves before anything the registration lets in.
        connection.TrySendXml(XmppWriter.IqResult(id, null, null, $"<bind xmlns='{XmppWriter.BindNamespace}'><jid>{XmppWriter.Esc(stream.FullJid)}</jid></bind>"));
        stream.Session = await gateway.OpenAsync(connection, caller, default, "xmpp", context.ConnectionClosed);
        return true;
    }

    /// <summary>The client closed its stream: ours is closed after what is queued.</summary>
    private async ValueTask CloseAsync(ConnectionContext context, State state, string closing)
    {
        if (state.Stream is { } stream)
        {
            stream.Connection.Close(WebSocketCloseStatus.NormalClosure, "");
            return; // the writer ends the stream (see EndAsync)
        }

        await WriteAsync(context, closing);
    }

    /// <summary>A stream error, then the end of the stream; the server's header first when none was sent yet (RFC 6120 4.9.1.1).</summary>
    private async ValueTask FailAsync(ConnectionContext context, State state, string condition, string? text)
    {
        if (state.Stream is { } stream)
        {
            stream.Connection.CloseWithStreamError(condition, text);
            return;
        }

        var head = state.HeaderSent ? "" : XmppWriter.StreamHeader(_options.Domain, Guid.NewGuid().ToString("N"));
        try
        {
            await WriteAsync(context, head + XmppWriter.StreamError(condition, text));
            await context.Transport.Output.CompleteAsync();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ConnectionResetException)
        {
            // The client is gone already.
        }
    }

    private async ValueTask EndAsync(ConnectionContext context, State state)
    {
        await AbortScramAsync(state); // a stream that ends mid-exchange takes its attempt back

        if (state.Tls)
        {
            // The TLS pipes (and the SslStream under them) are this handler's; Kestrel disposes only its own.
            await context.Transport.Input.CompleteAsync();
            await context.Transport.Output.CompleteAsync();
        }

        if (state.Stream is { } stream)
        {
            // XEP-0198: a TCP connection that dropped (no close by either side, nothing aborted) leaves a resumable stream
            // waiting for its window; otherwise the device session ends with it (XmppResumption).
            var connection = stream.Connection;
            var resumable = connection.CloseStatus is null && !connection.Dead;
            await resumption.ConnectionEndedAsync(stream, state.Generation, resumable);
        }

        if (state.Login is { } login)
        {
            // Authenticated, never bound (or a resume's own login left over): the device session ends here.
            await LogoutAsync(login);
        }
    }

    private async ValueTask LogoutAsync(AuthResponse login)
    {
        try
        {
            await accounts.LogoutAsync(new RefreshRequest(login.Tokens.RefreshToken), CancellationToken.None);
        }
        catch (Exception e)
        {
            LogLogoutFailed(logger, e);
        }
    }

    /// <summary>
    /// XEP-0198 resume (after SASL, instead of bind): the user's own detached (or half-open) stream is attached to this
    /// TCP connection; the stanzas the client did not acknowledge are resent after <c>&lt;resumed/&gt;</c> by the
    /// connection's writer. An unknown id, another user's, an ended one: the same <c>item-not-found</c>.
    /// </summary>
    private async ValueTask ResumeAsync(ConnectionContext context, State state, XElement resume)
    {
        var previd = (string?)resume.Attribute("previd");
        if (previd is null || !uint.TryParse((string?)resume.Attribute("h"), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var h))
        {
            await WriteAsync(context, SmFailed("bad-request"));
            return;
        }

        var userId = long.Parse(state.Login!.User.Id, System.Globalization.CultureInfo.InvariantCulture);
        var stream = resumption.Find(previd, userId);
        var generation = stream is null ? null : await stream.Sm.TakeOverAsync(context, state.LoopDone.Task);
        if (stream is null || generation is null)
        {
            await WriteAsync(context, SmFailed("item-not-found"));
            return;
        }

        stream.Sm.Ack(h, clamp: true, out _);
        if (!stream.Connection.TrySendControl(StreamManagement.ControlResume, $"<resumed xmlns='{StreamManagement.Namespace}' h='{stream.Sm.Handled}' previd='{XmppWriter.Esc(previd)}'/>"))
        {
            await WriteAsync(context, SmFailed("item-not-found")); // closing meanwhile: it ends by itself
            return;
        }

        state.Stream = stream;
        state.Generation = generation.Value;
        state.Phase = Phase.Bound;
        var own = state.Login;
        state.Login = null;
        await LogoutAsync(own); // the device session this SASL made: the resumed stream has its own
    }

    internal static string SmFailed(string condition) =>
        $"<failed xmlns='{StreamManagement.Namespace}'><{condition} xmlns='{XmppWriter.StanzasNamespace}'/></failed>";

    private static async ValueTask WriteAsync(ConnectionContext context, string xml)
    {
        var result = await context.Transport.Output.WriteAsync(Encoding.UTF8.GetBytes(xml));
        if (result.IsCompleted || result.IsCanceled)
        {
            throw new IOException("The connection is closed.");
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "XMPP connection {ConnectionId}: stream error {Condition}")]
    private static partial void LogStreamError(ILogger logger, string connectionId, string condition);

    [LoggerMessage(Level = LogLevel.Warning, Message = "An XMPP SCRAM-SHA-256 exchange could not read the credentials")]
    private static partial void LogScramFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "An XMPP stream's device session could not be ended")]
    private static partial void LogLogoutFailed(ILogger logger, Exception exception);
}
