using Parley.Server.Accounts;
using Parley.Storage.Accounts;

namespace Parley.Server.Xmpp.Sasl;

/// <summary>
/// How a SASL exchange counts against the login throttle. <see cref="BeginAsync"/> is called once the username is known
/// and before anything about the account is looked at (counted as a failure until it succeeds, as HTTP logins are);
/// <see cref="SucceededAsync"/> once the proof verified; <see cref="NotCheckedAsync"/> when the exchange ends before a
/// proof was checked (an abort, a dropped stream, a store error), which takes the count back.
/// </summary>
public interface ISaslAttempts
{
    /// <summary>Null to go on; else the seconds to wait (the attempt was refused and not counted).</summary>
    ValueTask<int?> BeginAsync(string username);

    ValueTask SucceededAsync(string username);

    ValueTask NotCheckedAsync(string username);
}

/// <summary>
/// The HTTP login's <see cref="AuthThrottle"/> for one client address: the same windows (per address, per username and
/// address, the per-username slow-down) and, in cluster mode, the same Redis counters, so guesses over XMPP and over
/// HTTP add up.
/// </summary>
public sealed class ThrottledSaslAttempts(AuthThrottle throttle, string clientAddress) : ISaslAttempts
{
    public ValueTask<int?> BeginAsync(string username) => throttle.TryBeginLoginAsync(UserStore.UsernameKey(username), clientAddress);

    public ValueTask SucceededAsync(string username) => throttle.LoginSucceededAsync(UserStore.UsernameKey(username), clientAddress);

    public ValueTask NotCheckedAsync(string username) => throttle.LoginNotCheckedAsync(UserStore.UsernameKey(username), clientAddress);
}
