namespace Parley.Server.Xmpp.Sasl;

/// <summary>RFC 6120 section 6.5 SASL failure conditions (the child element of <c>&lt;failure/&gt;</c>).</summary>
public enum SaslFailure
{
    None,
    Aborted,
    AccountDisabled,
    CredentialsExpired,
    EncryptionRequired,
    IncorrectEncoding,
    InvalidAuthzid,
    InvalidMechanism,
    MalformedRequest,
    MechanismTooWeak,
    NotAuthorized,
    TemporaryAuthFailure,
}

public static class SaslFailures
{
    /// <summary>The element name of the condition, e.g. <c>not-authorized</c>.</summary>
    public static string Condition(SaslFailure failure) => failure switch
    {
        SaslFailure.Aborted => "aborted",
        SaslFailure.AccountDisabled => "account-disabled",
        SaslFailure.CredentialsExpired => "credentials-expired",
        SaslFailure.EncryptionRequired => "encryption-required",
        SaslFailure.IncorrectEncoding => "incorrect-encoding",
        SaslFailure.InvalidAuthzid => "invalid-authzid",
        SaslFailure.InvalidMechanism => "invalid-mechanism",
        SaslFailure.MalformedRequest => "malformed-request",
        SaslFailure.MechanismTooWeak => "mechanism-too-weak",
        SaslFailure.NotAuthorized => "not-authorized",
        SaslFailure.TemporaryAuthFailure => "temporary-auth-failure",
        _ => throw new ArgumentOutOfRangeException(nameof(failure), failure, "not a failure"),
    };
}

/// <summary>
/// One step of a SASL exchange: the data to send (a challenge after the first message, the additional data of
/// <c>&lt;success/&gt;</c> after the last), or a failure. <see cref="RetryAfterSeconds"/> is set when the login throttle
/// refused the attempt (the gateway may say so in the failure's <c>&lt;text/&gt;</c>).
/// </summary>
public readonly record struct SaslStep(byte[]? Data, SaslFailure Failure, int? RetryAfterSeconds = null)
{
    public bool Failed => Failure != SaslFailure.None;

    public static SaslStep Send(byte[] data) => new(data, SaslFailure.None);

    public static SaslStep Fail(SaslFailure failure, int? retryAfterSeconds = null) => new(null, failure, retryAfterSeconds);
}
