using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Parley.Server.Accounts;
using Parley.Server.Cluster;
using Parley.Server.Http;
using Parley.Storage.Accounts;

namespace Parley.Server.Email;

/// <summary>
/// Email verification and password reset (docs/email.md). Codes are 6 random digits (<see cref="RandomNumberGenerator"/>),
/// stored only as an HMAC under a key derived from <c>Auth:SigningKey</c>, valid for <c>Email:CodeLifetimeMinutes</c>
/// and <c>Email:MaxTries</c> tries; codes mailed are limited per address and per account per hour. A reset request
/// answers 202 and does the same work for any address (the lookup happens on the mail sender's thread), and a
/// reset confirmation gives one answer for an unknown address, a wrong, expired or used-up code, or an account past
/// its daily failures (<c>Email:ResetFailuresPerDay</c>). A live reset code is kept, with its tries, until it expires
/// or its tries are used up (a new request mails nothing meanwhile), and both reset calls are limited per client
/// address, so one client can neither spend an account's codes nor guess for long.
/// </summary>
public sealed partial class EmailService : IDisposable
{
    /// <summary>The window of <c>Email:ResetFailuresPerDay</c>: 24 hours from an account's first failure in it.</summary>
    private const long FailureWindowMs = 24 * 3600 * 1000L;

    private readonly EmailCodeStore _codes;
    private readonly UserStore _users;
    private readonly MailOutbox _outbox;
    private readonly PasswordHashing _passwords;
    private readonly Xmpp.Sasl.ScramKeys _scramKeys;
    private readonly SessionGuard _guard;
    private readonly EmailOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<EmailService> _logger;
    private readonly byte[] _codeKey;
    private readonly HourlyQuota _perAddress;
    private readonly HourlyQuota _perAccount;
    private readonly HourlyQuota _resetRequestsPerClient;
    private readonly HourlyQuota _resetConfirmsPerClient;

    public EmailService(
        EmailCodeStore codes,
        UserStore users,
        MailOutbox outbox,
        PasswordHashing passwords,
        Xmpp.Sasl.ScramKeys scramKeys,
        SessionGuard guard,
        SigningKey signingKey,
        IOptions<EmailOptions> options,
        TimeProvider time,
        ILogger<EmailService> logger,
        SharedLimits? shared = null)
    {
        _codes = codes;
        _users = users;
        _outbox = outbox;
        _passwords = passwords;
        _scramKeys = scramKeys;
        _guard = guard;
        _options = options.Value;
        _time = time;
        _logger = logger;
        // A key of its own (derived), so a code's HMAC can never be mistaken for a token signature.
        _codeKey = HMACSHA256.HashData(signingKey.Bytes, "parley email codes"u8);
        _perAddress = new HourlyQuota(_options.CodesPerAddressPerHour, time, shared, "email-address");
        _perAccount = new HourlyQuota(_options.CodesPerAccountPerHour, time, shared, "email-account");
        _resetRequestsPerClient = new HourlyQuota(_options.ResetRequestsPerClientPerHour, time, shared, "email-reset-client");
        _resetConfirmsPerClient = new HourlyQuota(_options.ResetConfirmsPerClientPerHour, time, shared, "email-confirm-client");
    }

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>POST /api/users/me/email: mails a verification code to the address (it becomes the account's once verified).</summary>
    public async Task RequestVerificationAsync(Caller caller, EmailRequest request, CancellationToken cancellationToken)
    {
        var email = RequireEmail(request.Email);
        if (await _perAccount.TryTakeAsync(caller.UserId) is { } wait)
        {
            throw UserQuotas.Limited("Too many codes were mailed for this account; try again later.", wait);
        }

        if (await _perAddress.TryTakeAsync(AddressKey(email)) is { } addressWait)
        {
            await _perAccount.RefundAsync(caller.UserId);
            throw UserQuotas.Limited("Too many codes were mailed to this address; try again later.", addressWait);
        }

        var code = NewCode();
        await _codes.PutAsync(caller.UserId, EmailCodeStore.Verify, email, Hash(caller.UserId, EmailCodeStore.Verify, code), Now, ExpiresAt(), null, cancellationToken);
        var mail = new Mail(email, "Your Parley verification code", Body(code, "confirm this address for your Parley account"));
        if (!_outbox.TryQueue(new MailJob(_ => Task.FromResult<Mail?>(mail))))
        {
            throw new ApiException(503, ErrorCodes.Unavailable, "Mail cannot be sent right now; try again later.") { RetryAfterSeconds = 60 };
        }

        LogVerificationMailed(_logger, caller.UserId);
    }

    /// <summary>POST /api/users/me/email/verify: the mailed code; the address becomes the account's, verified.</summary>
    public async Task<UserRow> VerifyAsync(Caller caller, EmailCodeRequest request, CancellationToken cancellationToken)
    {
        var code = RequireCode(request.Code);
        var row = await _codes.CountTryAsync(caller.UserId, EmailCodeStore.Verify, cancellationToken)
            ?? throw ApiException.Invalid("code", "no code is pending; ask for a new one");
        if (row.ExpiresAt <= Now)
        {
            throw ApiException.Invalid("code", "has expired; ask for a new one");
        }

        if (row.Attempts > _options.MaxTries)
        {
            throw ApiException.Invalid("code", "was tried too often; ask for a new one");
        }

        if (!Same(Hash(caller.UserId, EmailCodeStore.Verify, code), row.CodeHash))
        {
            throw ApiException.Invalid("code", "is wrong");
        }

        switch (await _codes.CompleteVerificationAsync(caller.UserId, row.CodeHash, row.Email, Now, cancellationToken))
        {
            case VerifyOutcome.Gone:
                throw ApiException.Invalid("code", "was used or replaced meanwhile; ask for a new one");
            case VerifyOutcome.AddressTaken:
                throw new ApiException(409, ErrorCodes.Conflict, "Another account has verified this address.");
        }

        LogVerified(_logger, caller.UserId);
        return await _users.GetAsync(caller.UserId, cancellationToken) ?? throw ApiException.Unauthorized("The account no longer exists.");
    }

    /// <summary>
    /// POST /api/auth/password-reset: 202 whatever the address; a code goes out only to an account's verified address.
    /// Limited per client address (429, whatever the address asked about, so it tells nothing about accounts), not per
    /// address asked about: a count per address would let anyone spend the owner's requests.
    /// </summary>
    public async Task RequestResetAsync(EmailRequest request, string clientAddress)
    {
        var email = RequireEmail(request.Email);
        var key = EmailCodeStore.EmailKey(email);
        if (await _resetRequestsPerClient.TryTakeAsync(ClientKey(clientAddress)) is not null)
        {
            return; // dropped, still 202 (the contract: always): the client asked too often, whatever the address
        }

        if (!_outbox.TryQueue(new MailJob(cancellationToken => PrepareResetAsync(key, cancellationToken))))
        {
            LogQueueFull(_logger);
        }
    }

    private async Task<Mail?> PrepareResetAsync(string key, CancellationToken cancellationToken)
    {
        if (await _codes.FindVerifiedAsync(key, cancellationToken) is not { } userId
            || await _users.GetAsync(userId, cancellationToken) is not { Email: { } email }
            || await _perAccount.TryTakeAsync(userId) is not null)
        {
            return null;
        }

        // A live code (unexpired, tries left) is kept with its tries: a new request neither resets the tries nor mails
        // anything (the code is stored hashed, so it cannot be mailed again; the owner has it in the earlier mail).
        var code = NewCode();
        if (!await _codes.PutAsync(userId, EmailCodeStore.Reset, email, Hash(userId, EmailCodeStore.Reset, code), Now, ExpiresAt(), _options.MaxTries, cancellationToken))
        {
            await _perAccount.RefundAsync(userId);
            LogResetCodeLive(_logger, userId);
            return null;
        }

        LogResetMailed(_logger, userId);
        return new Mail(email, "Your Parley password reset code", Body(code, "set a new password for your Parley account"));
    }

    /// <summary>POST /api/auth/password-reset/confirm: the new password, and every session of the account revoked.</summary>
    public async Task ConfirmResetAsync(PasswordResetConfirmRequest request, string clientAddress, CancellationToken cancellationToken)
    {
        var v = new Validation();
        var email = AccountRules.CheckEmail(v, request.Email);
        if (request.Email is null)
        {
            v.Add("email", "is required");
        }
        else if (email is not null)
        {
            email = Normalize(email);
            if (email is null)
            {
                v.Add("email", "must be an email address");
            }
        }

        var code = CheckCode(v, request.Code);
        AccountRules.CheckPassword(v, "newPassword", request.NewPassword);
        v.ThrowIfInvalid();

        // Per client, right or wrong, whatever the address: a 429 here is about the client, never about an account.
        if (await _resetConfirmsPerClient.TryTakeAsync(ClientKey(clientAddress)) is { } wait)
        {
            throw UserQuotas.Limited("Too many password reset codes were tried from this address; try again later.", wait);
        }

        // The same statements run for an unknown address (user 0 has no code and no failure window), and every
        // failure is the same answer: past the account's daily failures even the right code is "wrong".
        var userId = await _codes.FindVerifiedAsync(EmailCodeStore.EmailKey(email!), cancellationToken) ?? 0;
        var (row, failures) = await _codes.CountResetTryAsync(userId, Now, FailureWindowMs, cancellationToken);
        var hash = Hash(userId, EmailCodeStore.Reset, code!);
        if (row is null || row.ExpiresAt <= Now || row.Attempts > _options.MaxTries || failures > _options.ResetFailuresPerDay || !Same(hash, row.CodeHash))
        {
            if (failures == _options.ResetFailuresPerDay + 1)
            {
                LogResetFailuresReached(_logger, userId);
            }

            throw WrongResetCode();
        }

        var newHash = await _passwords.HashAsync(request.NewPassword!, cancellationToken);
        var newScram = await _scramKeys.MakeAsync(request.NewPassword!, cancellationToken); // replaces the old keys with the hash
        var revoked = await _codes.CompleteResetAsync(userId, row.CodeHash, newHash, newScram, Now, cancellationToken) ?? throw WrongResetCode();
        _guard.MarkRevoked(revoked);
        LogPasswordReset(_logger, userId, revoked.Count);
    }

    public void Dispose()
    {
        _perAddress.Dispose();
        _perAccount.Dispose();
        _resetRequestsPerClient.Dispose();
        _resetConfirmsPerClient.Dispose();
    }

    private static ApiException WrongResetCode() => ApiException.Invalid("code", "is wrong, has expired or was used up; ask for a new one");

    private static string RequireEmail(string? value)
    {
        var v = new Validation();
        var email = AccountRules.CheckEmail(v, value);
        if (value is null)
        {
            v.Add("email", "is required");
        }
        else if (email is not null)
        {
            email = Normalize(email);
            if (email is null || !Mailable(email))
            {
                v.Add("email", "must be an email address");
            }
        }

        v.ThrowIfInvalid();
        return email!;
    }

    /// <summary>
    /// The address with its domain in one form: full-width forms and ideographic full stops folded to ASCII, lower-cased,
    /// then IDNA ASCII (punycode) by <see cref="IdnMapping"/> with the STD3 rules (letters, digits, hyphens), so
    /// <c>bob@BÜCHER.example</c> and <c>bob@xn--bcher-kva.example</c> are one address, and what is checked, stored and
    /// mailed is what the relay gets. Null for a domain that is no host name: a domain literal (<c>bob@[127.0.0.1]</c>),
    /// a bare IP address, a trailing dot, an invalid label, or an address past 254 characters once encoded. The local part is kept as given
    /// (<see cref="EmailCodeStore.EmailKey"/> compares it case-insensitively). The server runs globalization-invariant
    /// (no ICU): <see cref="IdnMapping"/> then encodes without the IDNA mapping and <see cref="string.Normalize()"/> does
    /// nothing, so a domain typed decomposed (u + U+0308 instead of ü) gives another, unregistrable label rather than
    /// the composed one: no mail arrives there, and it matches no verified address.
    /// </summary>
    internal static string? Normalize(string email)
    {
        var at = email.LastIndexOf('@');
        var domain = email[(at + 1)..];
        if (domain.Length == 0 || domain[0] == '[' || domain[^1] == '.')
        {
            return null;
        }

        string ascii;
        try
        {
            // The globalization-invariant IdnMapping encodes but maps nothing: the folding comes first.
            ascii = new IdnMapping { UseStd3AsciiRules = true }.GetAscii(FoldWidth(domain).ToLowerInvariant()).ToLowerInvariant();
        }
        catch (ArgumentException)
        {
            return null;
        }

        // Punycode is longer than the Unicode it encodes: the whole address is held to the limit again.
        return System.Net.IPAddress.TryParse(ascii, out _) || at + 1 + ascii.Length > AccountRules.MaxEmail
            ? null
            : string.Concat(email.AsSpan(0, at + 1), ascii);
    }

    /// <summary>Full-width ASCII (U+FF01-U+FF5E) to ASCII and the ideographic full stops to '.', as IDNA maps them.</summary>
    private static string FoldWidth(string domain)
    {
        if (Ascii.IsValid(domain))
        {
            return domain;
        }

        return string.Create(domain.Length, domain, static (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                var c = source[i];
                span[i] = c switch
                {
                    >= '\uFF01' and <= '\uFF5E' => (char)(c - 0xFEE0),
                    '\u3002' or '\uFF61' => '.',
                    _ => c,
                };
            }
        });
    }

    /// <summary>Whether MimeKit takes the text as one bare address (so the mail can be sent at all, later, on the sender's thread).</summary>
    private static bool Mailable(string email) =>
        MimeKit.MailboxAddress.TryParse(email, out var parsed) && string.Equals(parsed.GetAddress(idnEncode: true), email, StringComparison.Ordinal) && string.IsNullOrEmpty(parsed.Name);

    private static string RequireCode(string? value)
    {
        var v = new Validation();
        var code = CheckCode(v, value);
        v.ThrowIfInvalid();
        return code!;
    }

    private static string? CheckCode(Validation v, string? value)
    {
        var code = value?.Trim();
        if (code is not { Length: 6 } || !code.All(char.IsAsciiDigit))
        {
            v.Add("code", "must be the 6 digits mailed to you");
            return null;
        }

        return code;
    }

    private static string NewCode() => RandomNumberGenerator.GetInt32(0, 1_000_000).ToString("D6", CultureInfo.InvariantCulture);

    private long ExpiresAt() => Now + (_options.CodeLifetimeMinutes * 60_000L);

    private string Body(string code, string purpose) =>
        $"""
        Your code is {code}

        Enter it in Parley to {purpose}. It expires in {_options.CodeLifetimeMinutes} minutes.
        If you did not ask for it, ignore this mail: nothing changes without the code.
        """;

    private string Hash(long userId, string purpose, string code) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(_codeKey, Encoding.UTF8.GetBytes($"{userId}:{purpose}:{code}")));

    private static bool Same(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(a), Encoding.ASCII.GetBytes(b));

    /// <summary>A client address as a quota key: 64 bits of the SHA-256 of its <see cref="AuthThrottle.AddressKey"/> (IPv6 by /64).</summary>
    private static long ClientKey(string clientAddress) =>
        BitConverter.ToInt64(SHA256.HashData(Encoding.UTF8.GetBytes(AuthThrottle.AddressKey(clientAddress))));

    /// <summary>An address as a quota key: 64 bits of its SHA-256 (the address itself is not kept in memory or Redis).</summary>
    private static long AddressKey(string email) =>
        BitConverter.ToInt64(SHA256.HashData(Encoding.UTF8.GetBytes(EmailCodeStore.EmailKey(email))));

    [LoggerMessage(Level = LogLevel.Information, Message = "User {UserId}: verification code mailed")]
    private static partial void LogVerificationMailed(ILogger logger, long userId);

    [LoggerMessage(Level = LogLevel.Information, Message = "User {UserId} verified an email address")]
    private static partial void LogVerified(ILogger logger, long userId);

    [LoggerMessage(Level = LogLevel.Information, Message = "User {UserId}: password reset code mailed")]
    private static partial void LogResetMailed(ILogger logger, long userId);

    [LoggerMessage(Level = LogLevel.Information, Message = "User {UserId}: a password reset code is still live; nothing new mailed")]
    private static partial void LogResetCodeLive(ILogger logger, long userId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "User {UserId}: too many failed password reset codes today; confirmations are refused until the window ends")]
    private static partial void LogResetFailuresReached(ILogger logger, long userId);

    [LoggerMessage(Level = LogLevel.Information, Message = "User {UserId} reset the password; {Count} sessions revoked")]
    private static partial void LogPasswordReset(ILogger logger, long userId, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The mail queue is full: a password reset mail was dropped")]
    private static partial void LogQueueFull(ILogger logger);
}
