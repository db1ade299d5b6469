namespace Parley.Server.Calls;

/// <summary>Settings section <c>Calls</c>: one-to-one calls (docs/calls.md).</summary>
public sealed class CallOptions
{
    public const string Section = "Calls";

    /// <summary>Seconds a call rings before it ends <c>timeout</c> (a missed call).</summary>
    public int RingSeconds { get; set; } = 45;

    /// <summary>Seconds a device of a call may be without a socket (the same device session reconnecting) before the call ends <c>disconnected</c>.</summary>
    public int ReconnectSeconds { get; set; } = 15;

    /// <summary>Bytes of one <c>call.signal</c>'s <c>data</c> (its JSON text).</summary>
    public int MaxSignalBytes { get; set; } = 64 * 1024;

    /// <summary>Bytes of <c>call.signal</c> data a caller may send in all while the call rings (each goes to every device of the callee).</summary>
    public int MaxRingSignalBytes { get; set; } = 256 * 1024;

    /// <summary>Sustained <c>call.signal</c> frames per device (session: all its sockets together) per second (ICE candidates come in bursts: see <see cref="SignalBurst"/>).</summary>
    public double SignalsPerSecond { get; set; } = 20;

    /// <summary><c>call.signal</c> frames a device may send at once above the sustained rate.</summary>
    public int SignalBurst { get; set; } = 100;

    /// <summary>Sustained <c>call.accept</c>/<c>call.reject</c>/<c>call.hangup</c> frames per device per second (a bucket of their own: a device out of signals can still hang up).</summary>
    public double ControlsPerSecond { get; set; } = 5;

    /// <summary>Those frames a device may send at once above the sustained rate.</summary>
    public int ControlBurst { get; set; } = 20;

    /// <summary>Calls one user may take part in at once (each of their devices is in one call at most).</summary>
    public int MaxCallsPerUser { get; set; } = 4;

    /// <summary>Calls held in memory at once on this node; an invite past it is answered <c>unavailable</c>.</summary>
    public int MaxCalls { get; set; } = 10_000;

    /// <summary>STUN server URLs handed to clients (<c>stun:host:3478</c>).</summary>
    public string[] StunUrls { get; set; } = [];

    /// <summary>TURN server URLs (<c>turn:host:3478?transport=udp</c>, <c>turns:host:5349</c>); they get credentials when <see cref="TurnSecret"/> is set.</summary>
    public string[] TurnUrls { get; set; } = [];

    /// <summary>coturn's <c>static-auth-secret</c>; empty: no TURN servers are handed out.</summary>
    public string TurnSecret { get; set; } = "";

    /// <summary>Seconds the TURN credentials handed out stay valid.</summary>
    public int TurnTtlSeconds { get; set; } = 3600;

    /// <summary>A bad setting fails the start with a clear message (a ring of 0 s or a negative burst would make every call fail).</summary>
    public void Validate()
    {
        Check(RingSeconds, 1, 3600, nameof(RingSeconds));
        Check(ReconnectSeconds, 1, 3600, nameof(ReconnectSeconds));
        Check(MaxSignalBytes, 256, 1024 * 1024, nameof(MaxSignalBytes));
        Check(MaxRingSignalBytes, MaxSignalBytes, 64 * 1024 * 1024, nameof(MaxRingSignalBytes));
        Check(SignalBurst, 1, 100_000, nameof(SignalBurst));
        Check(ControlBurst, 1, 100_000, nameof(ControlBurst));
        Check(MaxCallsPerUser, 1, 1000, nameof(MaxCallsPerUser));
        Check(MaxCalls, 1, 10_000_000, nameof(MaxCalls));
        Check(TurnTtlSeconds, 60, 7 * 86_400, nameof(TurnTtlSeconds));
        foreach (var (rate, name) in new[] { (SignalsPerSecond, nameof(SignalsPerSecond)), (ControlsPerSecond, nameof(ControlsPerSecond)) })
        {
            if (!(rate > 0 && rate <= 100_000))
            {
                throw new InvalidOperationException($"{Section}:{name} must be above 0 and at most 100000, not {rate}.");
            }
        }

        foreach (var (urls, name, schemes) in new[] { (StunUrls, nameof(StunUrls), new[] { "stun:", "stuns:" }), (TurnUrls, nameof(TurnUrls), new[] { "turn:", "turns:" }) })
        {
            foreach (var url in urls)
            {
                if (string.IsNullOrWhiteSpace(url) || !schemes.Any(s => url.StartsWith(s, StringComparison.OrdinalIgnoreCase)))
                {
                    throw new InvalidOperationException($"{Section}:{name} holds \"{url}\": each must start with {string.Join(" or ", schemes)}.");
                }
            }
        }
    }

    private static void Check(int value, int min, int max, string name)
    {
        if (value < min || value > max)
        {
            throw new InvalidOperationException($"{Section}:{name} must be between {min} and {max}, not {value}.");
        }
    }
}
