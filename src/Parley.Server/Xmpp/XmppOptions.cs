namespace Parley.Server.Xmpp;

/// <summary>The XMPP c2s gateway's settings (section <c>Xmpp</c>, docs/xmpp.md); checked once at start.</summary>
public sealed class XmppOptions
{
    public const string Section = "Xmpp";

    /// <summary>The c2s port; 0 (the default) leaves the gateway off. 5222 is the usual one.</summary>
    public int Port { get; set; }

    /// <summary>The address to listen on (any, by default).</summary>
    public string BindAddress { get; set; } = "0.0.0.0";

    /// <summary>The JID domain: user <c>alice</c> is <c>alice@Domain</c>. Required when the gateway is on.</summary>
    public string Domain { get; set; } = "";

    /// <summary>A PEM file (certificate and key) for STARTTLS; when set, TLS is offered and required.</summary>
    public string? Certificate { get; set; }

    /// <summary>SASL PLAIN without TLS: only for loopback tests.</summary>
    public bool AllowPlaintext { get; set; }

    /// <summary>The largest stanza a client may send (RFC 6120 13.12; the WebSocket's frame limit).</summary>
    public int MaxStanzaBytes { get; set; } = 128 * 1024;

    /// <summary>How deep elements may nest inside a stanza.</summary>
    public int MaxDepth { get; set; } = 32;

    /// <summary>Attributes per element at most.</summary>
    public int MaxAttributes { get; set; } = 64;

    /// <summary>The longest element or attribute name.</summary>
    public int MaxNameLength { get; set; } = 256;

    /// <summary>How long a client may take from connecting to binding a resource.</summary>
    public int NegotiationSeconds { get; set; } = 30;

    /// <summary>Failed SASL attempts on one stream before it is closed.</summary>
    public int MaxAuthFailures { get; set; } = 3;

    /// <summary>
    /// XEP-0198: how long a stream whose TCP connection dropped waits for a resume, its device session kept (still
    /// connected for Parley) and what it is sent kept for it; 0 turns resumption off (acks only). 0..3600.
    /// </summary>
    public int ResumeSeconds { get; set; } = 300;

    public bool Enabled => Port != 0;

    public XmlLimits Limits => new(MaxStanzaBytes, MaxDepth, MaxAttributes, MaxNameLength);

    /// <summary>A bad setting fails the start, with what to fix.</summary>
    public void Validate()
    {
        if (!Enabled)
        {
            return;
        }

        if (Port is < 0 or > 65535)
        {
            throw new InvalidOperationException($"{Section}:{nameof(Port)} must be 0 (off) or a TCP port, not {Port}.");
        }

        if (!System.Net.IPAddress.TryParse(BindAddress, out _))
        {
            throw new InvalidOperationException($"{Section}:{nameof(BindAddress)} must be an IP address, not '{BindAddress}'.");
        }

        if (string.IsNullOrWhiteSpace(Domain) || Jid.Escape(Domain) != Domain || Domain.Contains('@') || Domain.Contains('/'))
        {
            throw new InvalidOperationException($"{Section}:{nameof(Domain)} must be the JID domain (a host name) when {Section}:{nameof(Port)} is set.");
        }

        if (Certificate is { Length: > 0 } && !File.Exists(Certificate))
        {
            throw new InvalidOperationException($"{Section}:{nameof(Certificate)} names no file: '{Certificate}'.");
        }

        if (Certificate is not { Length: > 0 } && !AllowPlaintext)
        {
            throw new InvalidOperationException($"{Section}: set {nameof(Certificate)} (STARTTLS) or, for loopback tests only, {nameof(AllowPlaintext)}=true.");
        }

        if (ResumeSeconds is < 0 or > 3600)
        {
            throw new InvalidOperationException($"{Section}:{nameof(ResumeSeconds)} must be 0 (no resumption) to 3600, not {ResumeSeconds}.");
        }

        if (MaxStanzaBytes is < 4096 or > 16 * 1024 * 1024 || MaxDepth is < 4 or > 256 || MaxAttributes is < 8 or > 1024 || MaxNameLength is < 32 or > 4096 || NegotiationSeconds < 1 || MaxAuthFailures < 1)
        {
            throw new InvalidOperationException($"{Section}: a limit is out of range (MaxStanzaBytes 4096..16 MiB, MaxDepth 4..256, MaxAttributes 8..1024, MaxNameLength 32..4096, NegotiationSeconds >= 1, MaxAuthFailures >= 1).");
        }
    }
}
