using System.Text.Json;

namespace Parley.Server.Xmpp;

/// <summary>
/// Turns one JSON server frame of a <c>type</c> into XMPP (a stanza, several, or nothing). Register with
/// <c>services.AddSingleton&lt;IXmppFrameTranslator, MyTranslator&gt;()</c>; <see cref="XmppOutbound"/> finds it
/// by <see cref="FrameType"/>. It runs on the connection's writer: it may await (a username lookup) but must
/// not block, and it must not touch what the receive loop owns without a lock.
/// </summary>
public interface IXmppFrameTranslator
{
    /// <summary>The frame's <c>type</c> (<c>message</c>, <c>error</c>, <c>read</c>, <c>typing</c>, <c>presence</c>, <c>notify</c>...).</summary>
    string FrameType { get; }

    /// <summary>The XML for the client, or null to drop the frame.</summary>
    ValueTask<string?> TranslateAsync(XmppStream stream, JsonElement frame);
}

/// <summary>The one outbound translator: server frame -> stanza, by frame type; frames with no XMPP meaning are dropped.</summary>
public sealed partial class XmppOutbound(IEnumerable<IXmppFrameTranslator> translators, ILogger<XmppOutbound> logger)
{
    private readonly Dictionary<string, IXmppFrameTranslator> _byType = translators.ToDictionary(t => t.FrameType, StringComparer.Ordinal);

    public async ValueTask<string?> TranslateAsync(XmppStream stream, byte[] frame)
    {
        try
        {
            using var document = JsonDocument.Parse(frame);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var type) || type.GetString() is not { } name
                || !_byType.TryGetValue(name, out var translator))
            {
                return null; // hello, pong, sent, resync, calls...: nothing an XMPP client would understand
            }

            return await translator.TranslateAsync(stream, root);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            LogUntranslatable(logger, e, stream.Connection.Id);
            return null;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A server frame for XMPP connection {ConnectionId} could not be translated; dropped")]
    private static partial void LogUntranslatable(ILogger logger, Exception exception, long connectionId);
}
