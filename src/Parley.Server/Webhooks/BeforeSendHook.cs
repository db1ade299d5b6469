using System.Buffers;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Parley.Server.Http;
using Parley.Server.Messaging;
using Parley.Storage;
using Parley.Storage.Messaging;

namespace Parley.Server.Webhooks;

/// <summary>What the before-send hook decided: the message to append (the original or, <paramref name="Replaced"/>, its replacement), or the refusal.</summary>
public readonly record struct HookDecision(NewMessage? Message, Refusal? Refusal, bool Replaced = false);

/// <summary>
/// The before-send hook (Webhooks:BeforeSend): each message, after the send checks and before it is appended, is
/// POSTed as <c>message.before_send</c> and waits up to Webhooks:TimeoutMs for accept, reject or replace. Runs in the
/// send's own task, concurrently with every other send and outside the pipeline's batch and the writer, so a slow
/// hook delays only the sends that wait for it. A timeout, an error status, a body that is not one of the three
/// answers, or a replacement that fails validation (its content rules here, the sender's right to its files in
/// <see cref="MessageSender"/> through <see cref="NoAnswer"/>) accepts the original when Webhooks:FailOpen, else
/// refuses with 503 unavailable. A text replacement goes through the blocked words like any text: rejected (403
/// <c>rejected</c>) or masked. Registered only when the setting is on.
/// </summary>
public sealed partial class BeforeSendHook(
    WebhookClient client,
    IdGenerator ids,
    IOptions<WebhookOptions> options,
    IOptions<MessagingOptions> messaging,
    Moderation.Moderator moderation,
    TimeProvider time,
    ILogger<BeforeSendHook> logger)
{
    private readonly WebhookOptions _options = options.Value;
    private readonly MessagingOptions _messaging = messaging.Value;

    public async ValueTask<HookDecision> DecideAsync(NewMessage message, CancellationToken cancellationToken)
    {
        var (answer, error) = await client.AskAsync(Body(message), cancellationToken);
        if (answer is not null)
        {
            var decision = Parse(message, answer, out error);
            if (decision is { } d)
            {
                return d;
            }
        }

        return NoAnswer(message, error ?? "unknown");
    }

    /// <summary>The FailOpen rule: the original <paramref name="message"/> when Webhooks:FailOpen, else 503 unavailable.</summary>
    public HookDecision NoAnswer(NewMessage message, string error)
    {
        LogHookFailed(logger, error, _options.FailOpen);
        return _options.FailOpen ? new HookDecision(message, null) : new HookDecision(null, Unavailable);
    }

    private byte[] Body(NewMessage message)
    {
        var buffer = new ArrayBufferWriter<byte>(message.Content.Length + 256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            Storage.Webhooks.WebhookOutbox.WriteId(w, "id", ids.Next());
            w.WriteString("type", "message.before_send");
            w.WriteNumber("createdAt", time.GetUtcNow().ToUnixTimeMilliseconds());
            w.WriteStartObject("data");
            Storage.Webhooks.WebhookOutbox.WriteId(w, "conversationId", message.ConversationId);
            Storage.Webhooks.WebhookOutbox.WriteId(w, "senderId", message.SenderId);
            w.WriteString("clientMsgId", message.ClientMsgId);
            w.WriteString("type", message.Type);
            w.WritePropertyName("content");
            w.WriteRawValue(message.Content, skipInputValidation: true);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The receiver's answer, or null (with why) when it is none of accept, reject, replace with valid content.</summary>
    private HookDecision? Parse(NewMessage message, byte[] answer, out string? error)
    {
        error = null;
        try
        {
            using var document = JsonDocument.Parse(answer, new JsonDocumentOptions { MaxDepth = 32 });
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("action", out var action) || action.ValueKind != JsonValueKind.String)
            {
                error = "answer without an action";
                return null;
            }

            switch (action.GetString())
            {
                case "accept":
                    return new HookDecision(message, null);
                case "reject":
                    var reason = root.TryGetProperty("reason", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
                    return new HookDecision(null, Rejected(reason));
                case "replace":
                    if (!root.TryGetProperty("content", out var content))
                    {
                        error = "replace without content";
                        return null;
                    }

                    if (!MessageValidator.Validate(message.Type, content, _messaging).TryGetValue(out var valid, out var invalid))
                    {
                        error = "replacement content refused: " + invalid.Detail;
                        return null;
                    }

                    // The app server's text is held to the blocked words as the sender's was.
                    if (moderation.Active && message.Type == "text")
                    {
                        if (MessageValidator.ModerateText(content, valid, moderation) is not { } moderated)
                        {
                            return new HookDecision(null, Moderation.Moderator.Rejected);
                        }

                        valid = moderated;
                    }

                    return new HookDecision(message with { Content = valid.Json, FileIds = valid.FileIds }, null, Replaced: true);
                default:
                    error = "unknown action";
                    return null;
            }
        }
        catch (JsonException)
        {
            error = "answer is not JSON";
            return null;
        }
    }

    private static Refusal Rejected(string? reason) =>
        Refusal.Forbidden(
            reason is { Length: > 0 and <= 500 } ? "The message was rejected: " + reason : "The message was rejected.",
            ErrorCodes.Rejected);

    internal static readonly Refusal Unavailable = new(503, ErrorCodes.Unavailable, "The message check is unavailable; try again later.") { RetryAfterSeconds = 1 };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Before-send hook gave no answer ({Error}); fail open: {FailOpen}")]
    private static partial void LogHookFailed(ILogger logger, string error, bool failOpen);
}
