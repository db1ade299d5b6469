using MimeKit;

namespace Parley.Server.Email;

/// <summary>Settings section <c>Email</c> (docs/email.md). An empty <see cref="SmtpHost"/> (the default) switches email off.</summary>
public sealed class EmailOptions
{
    public const string Section = "Email";

    public string? SmtpHost { get; set; }

    public int SmtpPort { get; set; } = 587;

    /// <summary>The sender, e.g. <c>Parley &lt;no-reply@example.org&gt;</c>; required when email is on.</summary>
    public string? From { get; set; }

    /// <summary>SMTP login; none when empty.</summary>
    public string? Username { get; set; }

    public string? Password { get; set; }

    /// <summary>TLS to the relay: implicit TLS on port 465, STARTTLS (required) on any other port. False: plain SMTP
    /// (a relay on the same machine or a test sink only).</summary>
    public bool UseTls { get; set; } = true;

    /// <summary>How long a mailed code stays valid.</summary>
    public int CodeLifetimeMinutes { get; set; } = 15;

    /// <summary>Tries per code, right or wrong; then it is dead and a new one must be asked for.</summary>
    public int MaxTries { get; set; } = 5;

    /// <summary>Verification codes mailed to one address per sliding hour (reset mails are bounded per account and per client instead).</summary>
    public int CodesPerAddressPerHour { get; set; } = 5;

    /// <summary>Codes mailed for one account per sliding hour (verification and reset together).</summary>
    public int CodesPerAccountPerHour { get; set; } = 5;

    /// <summary>Failed password-reset confirmations per account in a 24-hour window (from its first failure); past it
    /// every confirmation fails with the wrong-code answer, the right code too.</summary>
    public int ResetFailuresPerDay { get; set; } = 10;

    /// <summary>Password-reset requests per client address (IPv6: per /64) per sliding hour, whatever the addresses asked about; 0 turns it off.</summary>
    public int ResetRequestsPerClientPerHour { get; set; } = 20;

    /// <summary>Password-reset confirmations per client address (IPv6: per /64) per sliding hour, right or wrong; 0 turns it off.</summary>
    public int ResetConfirmsPerClientPerHour { get; set; } = 30;

    /// <summary>How long one SMTP conversation may take.</summary>
    public int SmtpTimeoutSeconds { get; set; } = 30;

    /// <summary>Attempts per mail (with 2 s, 4 s, ... between them) before it is dropped and logged.</summary>
    public int SendAttempts { get; set; } = 3;

    /// <summary>Mails waiting to be sent at most; beyond it a verification request is 503 and a reset mail is dropped.</summary>
    public int QueueLength { get; set; } = 1000;

    public bool Enabled => !string.IsNullOrWhiteSpace(SmtpHost);

    /// <summary>Throws on settings the server cannot work with, so a bad one fails the start.</summary>
    public void Validate()
    {
        if (!Enabled)
        {
            return;
        }

        if (string.IsNullOrWhiteSpace(From) || !MailboxAddress.TryParse(From, out _))
        {
            throw new InvalidOperationException("Email:From must be a mail address (e.g. \"Parley <no-reply@example.org>\") when Email:SmtpHost is set.");
        }

        if (SmtpPort is < 1 or > 65535)
        {
            throw new InvalidOperationException("Email:SmtpPort must be 1-65535.");
        }

        if (CodeLifetimeMinutes < 1 || MaxTries < 1 || SmtpTimeoutSeconds < 1 || SendAttempts < 1 || QueueLength < 1 || ResetFailuresPerDay < 1)
        {
            throw new InvalidOperationException("Email:CodeLifetimeMinutes, MaxTries, ResetFailuresPerDay, SmtpTimeoutSeconds, SendAttempts and QueueLength must be at least 1.");
        }
    }
}
