using Parley.Storage.Webhooks;

namespace Parley.Server.Webhooks;

/// <summary>The <c>Webhooks</c> settings (README, docs/integration.md). An empty Url switches every webhook off.</summary>
public sealed class WebhookOptions
{
    public const string Section = "Webhooks";

    /// <summary>Where events (and before-send questions) are POSTed; empty = off.</summary>
    public string Url { get; set; } = "";

    /// <summary>The HMAC-SHA256 key of X-Parley-Signature.</summary>
    public string Secret { get; set; } = "";

    /// <summary>The event types sent (empty or absent = all).</summary>
    public string[]? Events { get; set; }

    public bool BeforeSend { get; set; }

    /// <summary>One attempt's bound (events and before-send alike).</summary>
    public int TimeoutMs { get; set; } = 2000;

    /// <summary>Before-send: a timeout or error accepts the message (false: 503 unavailable).</summary>
    public bool FailOpen { get; set; } = true;

    /// <summary>Attempts of an event before it is moved aside to the failed list.</summary>
    public int MaxAttempts { get; set; } = 12;

    /// <summary>The first retry's delay; each next one doubles, up to <see cref="RetryMaxSeconds"/>, with jitter.</summary>
    public int RetryBaseMs { get; set; } = 1000;

    public int RetryMaxSeconds { get; set; } = 600;

    /// <summary>How often the sender looks for due events when the outbox was empty.</summary>
    public int PollMs { get; set; } = 250;

    /// <summary>Streams (conversations, users) delivered at once; a stream's own events go one at a time, in order.</summary>
    public int Concurrency { get; set; } = 32;

    /// <summary>Events moved aside are deleted after this many days (0 = kept until replayed).</summary>
    public int FailedRetentionDays { get; set; } = 7;

    /// <summary>user.online / user.offline: at most one event per user in this time; the state at its end is written once (0 = every change).</summary>
    public int PresenceMinIntervalMs { get; set; } = 5000;

    /// <summary>Users whose presence window is tracked at once; a change of a user beyond it is written uncoalesced.</summary>
    public int PresenceMaxTracked { get; set; } = 100_000;

    public bool Enabled => !string.IsNullOrWhiteSpace(Url);

    /// <summary>The event types written to the outbox.</summary>
    public IReadOnlyList<string> EventTypes => !Enabled ? [] : Events is { Length: > 0 } e ? e.Select(t => t.Trim()).ToArray() : WebhookOutbox.AllTypes;

    /// <summary>A bad setting fails the start with a clear message.</summary>
    public void Validate()
    {
        if (!Enabled)
        {
            if (BeforeSend)
            {
                throw new InvalidOperationException("Webhooks:BeforeSend is true but Webhooks:Url is empty.");
            }

            return;
        }

        if (!Uri.TryCreate(Url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new InvalidOperationException("Webhooks:Url must be an absolute http:// or https:// URL.");
        }

        if (string.IsNullOrEmpty(Secret))
        {
            throw new InvalidOperationException("Webhooks:Secret must be set when Webhooks:Url is (receivers verify X-Parley-Signature with it).");
        }

        foreach (var type in EventTypes)
        {
            if (!WebhookOutbox.AllTypes.Contains(type))
            {
                throw new InvalidOperationException($"Webhooks:Events: unknown event type '{type}'. Known: {string.Join(", ", WebhookOutbox.AllTypes)}.");
            }
        }

        Check(TimeoutMs, 1, 60_000, nameof(TimeoutMs));
        Check(MaxAttempts, 1, 1000, nameof(MaxAttempts));
        Check(RetryBaseMs, 1, 3_600_000, nameof(RetryBaseMs));
        Check(RetryMaxSeconds, 1, 86_400, nameof(RetryMaxSeconds));
        Check(PollMs, 10, 60_000, nameof(PollMs));
        Check(Concurrency, 1, 256, nameof(Concurrency));
        Check(FailedRetentionDays, 0, 3650, nameof(FailedRetentionDays));
        Check(PresenceMinIntervalMs, 0, 3_600_000, nameof(PresenceMinIntervalMs));
        Check(PresenceMaxTracked, 1, 10_000_000, nameof(PresenceMaxTracked));
    }

    private static void Check(int value, int min, int max, string name)
    {
        if (value < min || value > max)
        {
            throw new InvalidOperationException($"Webhooks:{name} must be between {min} and {max}.");
        }
    }
}
