using Microsoft.AspNetCore.Connections;
using Parley.Server.Accounts;

namespace Parley.Server.Xmpp;

/// <summary>
/// One bound stream's XEP-0198 state and its life across TCP connections (made at bind, for every stream). Inbound:
/// <c>h</c>, the stanzas the receive loop handled since <c>&lt;enable/&gt;</c>. Outbound: every stanza the writer
/// sends after <c>&lt;enabled/&gt;</c> is kept (its bytes) until the client acknowledges it, bounded by the send-queue
/// limits. Life: the stream is attached to one TCP connection (a generation); when that connection drops without a
/// close by either side and resumption is on, the stream is detached and waits for a <c>&lt;resume/&gt;</c> for the
/// window (its connection stays registered: fan-out keeps queuing for it); otherwise, or when the window ends, the
/// device session ends (<see cref="XmppResumption.EndAsync"/>).
/// </summary>
public sealed class StreamManagement
{
    public const string Namespace = "urn:xmpp:sm:3";

    /// <summary>The first byte of a writer control frame (never XML, never JSON).</summary>
    internal const byte Control = 0x01;
    internal const byte ControlEnable = 1; // then the <enabled/> bytes: counting starts after them
    internal const byte ControlResume = 2; // then the <resumed/> bytes: the pending transport is attached, the unacked resent

    /// <summary>An ack request after this many stanzas sent without one (and the keepalive asks for stragglers).</summary>
    internal const int RequestEvery = 5;

    private readonly Lock _lock = new();
    private readonly Queue<byte[]> _unacked = new();
    private long _unackedBytes;
    private bool _counting;
    private uint _sent;
    private uint _acked;
    private int _sinceRequest;
    private bool _overflow;

    private int _generation;
    private bool _detached;
    private bool _resuming;
    private bool _ended;
    private ConnectionContext? _transport; // the attached TCP connection (for a take-over)
    private Task? _loop; // its receive loop
    private ConnectionContext? _pending; // attached by the writer at the resume control frame
    private ITimer? _window;

    internal StreamManagement(AuthResponse login, long opened, int maxFrames, long maxBytes)
    {
        Login = login;
        Opened = opened;
        MaxFrames = maxFrames;
        MaxBytes = maxBytes;
    }

    /// <summary>The device session (its refresh token ends it).</summary>
    internal AuthResponse Login { get; }

    internal long Opened { get; }

    private int MaxFrames { get; }

    private long MaxBytes { get; }

    /// <summary>Set by <c>&lt;enable/&gt;</c> (receive loop only): inbound stanzas are counted from then on.</summary>
    public bool Enabled { get; private set; }

    /// <summary>The resumption id, when the client asked for resumption and the server offers it.</summary>
    public string? ResumeId { get; private set; }

    /// <summary>The inbound count <c>h</c> (receive loop only).</summary>
    public uint Handled { get; private set; }

    public bool Ended
    {
        get
        {
            lock (_lock)
            {
                return _ended;
            }
        }
    }

    /// <summary>Detached from any TCP connection (waiting for a resume).</summary>
    public bool Detached
    {
        get
        {
            lock (_lock)
            {
                return _detached;
            }
        }
    }

    /// <summary>Stanzas sent and not acknowledged.</summary>
    public int UnackedCount
    {
        get
        {
            lock (_lock)
            {
                return _unacked.Count;
            }
        }
    }

    internal void Enable(string? resumeId)
    {
        Enabled = true;
        ResumeId = resumeId;
    }

    /// <summary>The receive loop handled a stanza.</summary>
    internal void Count()
    {
        if (Enabled)
        {
            Handled = unchecked(Handled + 1);
        }
    }

    // ---- the writer's side ----

    internal bool Counting => Volatile.Read(ref _counting);

    internal void StartCounting() => Volatile.Write(ref _counting, true);

    /// <summary>A stanza left (or would have, while detached): kept until acknowledged. False: the bound is exceeded.</summary>
    internal bool Track(byte[] stanza)
    {
        lock (_lock)
        {
            if (_overflow)
            {
                return false;
            }

            _unacked.Enqueue(stanza);
            _unackedBytes += stanza.Length;
            _sent = unchecked(_sent + 1);
            _sinceRequest++;
            if (_unacked.Count > MaxFrames || _unackedBytes > MaxBytes)
            {
                _overflow = true;
                return false;
            }

            return true;
        }
    }

    /// <summary>Whether an <c>&lt;r/&gt;</c> is due (after <paramref name="every"/> stanzas; 1 for stragglers).</summary>
    internal bool TakeRequest(int every)
    {
        lock (_lock)
        {
            if (_sinceRequest < every || _unacked.Count == 0)
            {
                return false;
            }

            _sinceRequest = 0;
            return true;
        }
    }

    internal byte[][] UnackedSnapshot()
    {
        lock (_lock)
        {
            return [.. _unacked];
        }
    }

    /// <summary>The client acknowledged up to <paramref name="h"/>. False: more than was sent (the client is broken).</summary>
    internal bool Ack(uint h, bool clamp, out uint sent)
    {
        lock (_lock)
        {
            sent = _sent;
            var n = unchecked(h - _acked);
            if (n > (uint)_unacked.Count)
            {
                if (!clamp)
                {
                    return false;
                }

                n = (uint)_unacked.Count;
            }

            for (var i = 0u; i < n; i++)
            {
                _unackedBytes -= _unacked.Dequeue().Length;
            }

            _acked = unchecked(_acked + n);
            return true;
        }
    }

    /// <summary>The writer takes the transport a resume attached (once).</summary>
    internal ConnectionContext? TakePending()
    {
        lock (_lock)
        {
            var pending = _pending;
            _pending = null;
            return pending;
        }
    }

    // ---- the life across TCP connections ----

    /// <summary>The first TCP connection (at bind).</summary>
    internal int Attach(ConnectionContext transport, Task loop)
    {
        lock (_lock)
        {
            _transport = transport;
            _loop = loop;
            return ++_generation;
        }
    }

    internal enum Outcome
    {
        Kept, // detached: the window runs
        End, // the caller ends the session
        NotOurs, // another connection took the stream over
    }

    /// <summary>The TCP connection of <paramref name="generation"/> ended.</summary>
    internal Outcome Detach(int generation, bool resumable, TimeSpan window, TimeProvider time, Action detached, Action expired)
    {
        lock (_lock)
        {
            if (generation != _generation)
            {
                return Outcome.NotOurs;
            }

            _transport = null;
            _loop = null;
            if (_ended || !resumable || ResumeId is null || window <= TimeSpan.Zero)
            {
                return Outcome.End;
            }

            _detached = true;
            detached(); // under the lock: a resume cannot attach a transport before this one is let go
            _window?.Dispose();
            _window = time.CreateTimer(static s => ((Action)s!)(), (Action)(() =>
            {
                lock (_lock)
                {
                    if (!_detached || _generation != generation || _ended)
                    {
                        return;
                    }
                }

                expired();
            }), window, Timeout.InfiniteTimeSpan);
            return Outcome.Kept;
        }
    }

    /// <summary>
    /// A resume from <paramref name="transport"/>: the attached connection (a half-open one the client gave up) is cut
    /// and its receive loop waited for, so <see cref="Handled"/> is final. Null: not resumable (ended, or resuming).
    /// </summary>
    internal async ValueTask<int?> TakeOverAsync(ConnectionContext transport, Task loop)
    {
        ConnectionContext? old;
        Task? oldLoop;
        lock (_lock)
        {
            if (_ended || _resuming)
            {
                return null;
            }

            _resuming = true;
            old = _transport;
            oldLoop = _loop;
            _generation++; // the old loop's end is no longer the stream's end
        }

        try
        {
            if (old is not null)
            {
                old.Abort();
                if (oldLoop is not null)
                {
                    await oldLoop.WaitAsync(TimeSpan.FromSeconds(10));
                }
            }
        }
        catch (TimeoutException)
        {
            // A receive loop stuck in a handler: h may still move, the resume goes on (the stanza ids dedupe).
        }

        lock (_lock)
        {
            _resuming = false;
            if (_ended)
            {
                return null;
            }

            _window?.Dispose();
            _window = null;
            _detached = false;
            _transport = transport;
            _loop = loop;
            _pending = transport;
            return ++_generation;
        }
    }

    /// <summary>True once: the caller ends the session.</summary>
    internal bool TryEnd()
    {
        lock (_lock)
        {
            if (_ended)
            {
                return false;
            }

            _ended = true;
            _window?.Dispose();
            _window = null;
            return true;
        }
    }

    // ---- the writer's stanza scanner (our own well-formed output: values escaped, no comments or PIs) ----

    /// <summary>The end (exclusive) of the top-level element starting at or after <paramref name="start"/>; -1 when none.</summary>
    internal static int ElementEnd(ReadOnlySpan<byte> xml, int start, out int elementStart)
    {
        elementStart = -1;
        var i = start;
        while (i < xml.Length && xml[i] != (byte)'<')
        {
            i++;
        }

        if (i >= xml.Length)
        {
            return -1;
        }

        elementStart = i;
        var depth = 0;
        while (i < xml.Length)
        {
            if (xml[i] != (byte)'<')
            {
                i++;
                continue;
            }

            var closing = i + 1 < xml.Length && xml[i + 1] == (byte)'/';
            var j = i + 1;
            byte quote = 0;
            for (; j < xml.Length; j++)
            {
                var c = xml[j];
                if (quote != 0)
                {
                    if (c == quote)
                    {
                        quote = 0;
                    }
                }
                else if (c is (byte)'\'' or (byte)'"')
                {
                    quote = c;
                }
                else if (c == (byte)'>')
                {
                    break;
                }
            }

            if (j >= xml.Length)
            {
                return xml.Length;
            }

            if (closing)
            {
                depth--;
            }
            else if (xml[j - 1] != (byte)'/')
            {
                depth++;
            }

            i = j + 1;
            if (depth <= 0)
            {
                return i;
            }
        }

        return xml.Length;
    }

    /// <summary>Whether the element at <paramref name="start"/> is a stanza (counted), not a nonza.</summary>
    internal static bool IsStanza(ReadOnlySpan<byte> xml, int start) =>
        NameIs(xml, start, "message"u8) || NameIs(xml, start, "iq"u8) || NameIs(xml, start, "presence"u8);

    private static bool NameIs(ReadOnlySpan<byte> xml, int start, ReadOnlySpan<byte> name)
    {
        var rest = xml[(start + 1)..];
        return rest.StartsWith(name) && rest.Length > name.Length && rest[name.Length] is (byte)' ' or (byte)'/' or (byte)'>' or (byte)'\t' or (byte)'\n' or (byte)'\r';
    }
}
