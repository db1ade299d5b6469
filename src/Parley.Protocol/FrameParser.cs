using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace Parley.Protocol;

/// <summary>
/// Turns one client text frame into a <see cref="ClientFrame"/>, or into a <see cref="FrameError"/> the server answers
/// with while keeping the connection open. Never throws, whatever the bytes.
/// </summary>
/// <remarks>
/// Two steps over the span with <see cref="Utf8JsonReader"/>: one pass checks the whole frame is a single well-formed
/// JSON object and notes where each known top-level member's value starts (values are skipped, not materialised);
/// then only the members the frame's <c>type</c> uses are read and checked. So members may come in any order,
/// unknown members and members another type would use are ignored, and the <c>ref</c> is known for every error
/// found after it. A known member name given twice is refused (<c>invalid</c>) rather than "last wins", so no two
/// readers of the same frame can disagree about it.
/// </remarks>
public static class FrameParser
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = ProtocolLimits.MaxDepth };

    /// <summary>Parses one frame. On false, <paramref name="error"/> says why; on true it is <c>default</c>.</summary>
    public static bool TryParse(ReadOnlySpan<byte> utf8Json, [NotNullWhen(true)] out ClientFrame? frame, out FrameError error)
    {
        frame = null;
        error = default;

        // Checked once up front (vectorised, cheap) so every string below is known to be valid UTF-8.
        if (!Utf8.IsValid(utf8Json))
        {
            error = new FrameError(FrameError.Invalid, "A frame must be UTF-8 text.", null);
            return false;
        }

        var p = new Parse(utf8Json);
        try
        {
            if (p.Scan(out var kind))
            {
                frame = kind switch
                {
                    Kind.Send => p.Send(),
                    Kind.Sync => new SyncFrame(
                        p.RefJson(),
                        p.Id(Member.ConversationId),
                        p.Seq(Member.AfterSeq),
                        p.OptionalLimit(Member.Limit)),
                    Kind.Ack => new AckFrame(p.Id(Member.ConversationId), p.Seq(Member.Seq)),
                    Kind.Read => new ReadFrame(p.Id(Member.ConversationId), p.Seq(Member.Seq)),
                    Kind.Typing => new TypingFrame(p.Id(Member.ConversationId)),
                    Kind.Ping => PingFrame.Instance,
                    Kind.CallInvite => new CallInviteFrame(p.RefJson(), p.Id(Member.ConversationId), p.Media(Member.Media)),
                    Kind.CallAccept => new CallAcceptFrame(p.RefJson(), p.Id(Member.CallId)),
                    Kind.CallSignal => new CallSignalFrame(p.RefJson(), p.Id(Member.CallId), p.Data()),
                    Kind.CallReject => new CallRejectFrame(p.RefJson(), p.Id(Member.CallId)),
                    Kind.CallHangup => new CallHangupFrame(p.RefJson(), p.Id(Member.CallId)),
                    _ => null,
                };
            }
        }
        catch (JsonException)
        {
            p.Fail("A frame must be one well-formed JSON object.");
        }
        catch (InvalidOperationException)
        {
            // Utf8JsonReader.GetString refuses escaped lone surrogates ("\ud800"): not text anything can store.
            p.Fail("Strings must be valid Unicode.");
        }

        if (p.Problem is not null)
        {
            frame = null;
            error = new FrameError(FrameError.Invalid, p.Problem, p.RefJson());
            return false;
        }

        if (frame is null)
        {
            error = new FrameError(FrameError.UnknownType, "Unknown frame type.", p.RefJson());
            return false;
        }

        return true;
    }

    private enum Kind : byte
    {
        Unknown,
        Send,
        Sync,
        Ack,
        Read,
        Typing,
        Ping,
        CallInvite,
        CallAccept,
        CallSignal,
        CallReject,
        CallHangup,
    }

    /// <summary>The top-level members some frame uses, in the order of <see cref="MemberNames"/>; <see cref="Limit"/> stays last.</summary>
    private enum Member
    {
        Type,
        Ref,
        ConversationId,
        ClientMsgId,
        MsgType,
        Content,
        ReplyTo,
        Mentions,
        Seq,
        AfterSeq,
        CallId,
        Media,
        Data,
        Limit,
    }

    private static readonly string[] MemberNames =
        ["type", "ref", "conversationId", "clientMsgId", "msgType", "content", "replyTo", "mentions", "seq", "afterSeq", "callId", "media", "data", "limit"];

    private static readonly byte[][] MemberNamesUtf8 = [.. MemberNames.Select(Encoding.UTF8.GetBytes)];

    private const int MemberCount = (int)Member.Limit + 1;

    /// <summary>The contract's message types, read without making a string per send (any other value is read as text and judged by the server).</summary>
    private static readonly (string Text, byte[] Utf8)[] MsgTypes =
        [.. new[] { "text", "image", "file", "audio", "video", "location", "link", "custom" }.Select(t => (t, Encoding.UTF8.GetBytes(t)))];

    private static readonly (string Text, byte[] Utf8)[] CallMedia =
        [.. new[] { "audio", "video" }.Select(t => (t, Encoding.UTF8.GetBytes(t)))];

    /// <summary>Where each <see cref="Member"/>'s value starts in the frame: offset + 1, so 0 means absent.</summary>
    [InlineArray(MemberCount)]
    private struct Offsets
    {
        private int _first;
    }

    /// <summary>
    /// One parse of one frame. <see cref="Scan"/> reads it whole once; the typed readers then each look at one
    /// member's value. The first problem found is kept in <see cref="Problem"/>, and the placeholder values
    /// returned after it are discarded by the caller.
    /// </summary>
    private ref struct Parse(ReadOnlySpan<byte> json)
    {
        private readonly ReadOnlySpan<byte> _json = json;
        private Offsets _at;
        private int _refEnd;
        private int _dataEnd;

        public string? Problem { get; private set; }

        public void Fail(string problem) => Problem ??= problem;

        /// <summary>
        /// Checks the frame is exactly one well-formed JSON object (throwing <see cref="JsonException"/> if it is
        /// not JSON, after noting any <c>ref</c> met so far), notes where the known members start, and reads
        /// <c>type</c>. False when the frame is JSON but no frame.
        /// </summary>
        public bool Scan(out Kind kind)
        {
            kind = Kind.Unknown;
            var reader = new Utf8JsonReader(_json, ReaderOptions);
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                // Read to the end anyway, so malformed input is reported as malformed rather than as "not an object".
                reader.Skip();
                while (reader.Read())
                {
                }

                Fail("A frame must be a JSON object.");
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var member = Identify(ref reader);
                reader.Read();
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                if (member is not { } known)
                {
                    continue;
                }

                if (_at[(int)known] != 0)
                {
                    Fail($"{MemberNames[(int)known]} is given more than once.");
                    continue;
                }

                _at[(int)known] = start + 1;
                if (known == Member.Ref)
                {
                    _refEnd = (int)reader.BytesConsumed;
                }
                else if (known == Member.Data)
                {
                    _dataEnd = (int)reader.BytesConsumed;
                }
            }

            // Anything but whitespace after the object makes the reader throw.
            while (reader.Read())
            {
            }

            if (Problem is not null)
            {
                return false;
            }

            if (_at[(int)Member.Type] == 0)
            {
                Fail("type is required.");
                return false;
            }

            var type = At(Member.Type);
            if (type.TokenType != JsonTokenType.String)
            {
                Fail("type must be a string.");
                return false;
            }

            kind = type.ValueTextEquals(FrameTypes.Send) ? Kind.Send
                : type.ValueTextEquals(FrameTypes.Sync) ? Kind.Sync
                : type.ValueTextEquals(FrameTypes.Ack) ? Kind.Ack
                : type.ValueTextEquals(FrameTypes.Read) ? Kind.Read
                : type.ValueTextEquals(FrameTypes.Typing) ? Kind.Typing
                : type.ValueTextEquals(FrameTypes.Ping) ? Kind.Ping
                : type.ValueTextEquals(FrameTypes.CallSignal) ? Kind.CallSignal
                : type.ValueTextEquals(FrameTypes.CallInvite) ? Kind.CallInvite
                : type.ValueTextEquals(FrameTypes.CallAccept) ? Kind.CallAccept
                : type.ValueTextEquals(FrameTypes.CallReject) ? Kind.CallReject
                : type.ValueTextEquals(FrameTypes.CallHangup) ? Kind.CallHangup
                : Kind.Unknown;
            return true;
        }

        /// <summary>The <c>ref</c> exactly as the client wrote it (the scan validated it), or null when absent.</summary>
        public readonly string? RefJson() =>
            _refEnd == 0 ? null : Encoding.UTF8.GetString(_json[(_at[(int)Member.Ref] - 1).._refEnd]);

        /// <summary>A <c>send</c> frame: its members read, then checked by <see cref="SendCommand.TryCreate"/> (the rules HTTP applies too).</summary>
        public SendFrame? Send()
        {
            var refJson = RefJson();
            var conversationId = IdNumber(Member.ConversationId);
            var clientMsgId = Text(Member.ClientMsgId, ProtocolLimits.MaxClientMsgIdLength);
            var msgType = KnownText(Member.MsgType, MsgTypes) ?? Text(Member.MsgType, ProtocolLimits.MaxMsgTypeLength);
            var content = Object(Member.Content);
            var replyTo = OptionalPositive(Member.ReplyTo);
            var mentions = OptionalTexts(Member.Mentions, ProtocolLimits.MaxMentions, ProtocolLimits.MaxIdLength);
            if (Problem is not null)
            {
                return null;
            }

            if (!SendCommand.TryCreate(conversationId, clientMsgId, msgType, content, replyTo, mentions, out var command, out var problems))
            {
                Fail($"{problems![0].Member} {problems[0].Problem}.");
                return null;
            }

            return new SendFrame(refJson, command!);
        }

        /// <summary><c>audio</c> or <c>video</c>.</summary>
        public string Media(Member member)
        {
            if (!Required(member))
            {
                return "";
            }

            if (KnownText(member, CallMedia) is { } media)
            {
                return media;
            }

            Fail($"{MemberNames[(int)member]} must be \"audio\" or \"video\".");
            return "";
        }

        /// <summary><c>data</c>'s value (any JSON value but null) as the client wrote it, copied out of the frame.</summary>
        public byte[] Data()
        {
            const Member member = Member.Data;
            if (!Required(member))
            {
                return [];
            }

            if (At(member).TokenType == JsonTokenType.Null)
            {
                Fail($"{MemberNames[(int)member]} must not be null.");
                return [];
            }

            return _json[(_at[(int)member] - 1).._dataEnd].ToArray();
        }

        /// <summary>A positive 64-bit number in canonical decimal form: what every id of the server is.</summary>
        public string Id(Member member)
        {
            var value = String(member);
            if (value is not null && !IsId(value))
            {
                Fail($"{MemberNames[(int)member]} must be an id (a decimal string).");
            }

            return value ?? "";
        }

        /// <summary>
        /// <see cref="Id"/> as its number, read straight from the bytes when the string has no escapes (no string made).
        /// </summary>
        public long IdNumber(Member member)
        {
            if (_at[(int)member] != 0 && At(member) is { TokenType: JsonTokenType.String, ValueIsEscaped: false } reader)
            {
                var digits = reader.ValueSpan;
                if (digits.Length is > 0 and <= ProtocolLimits.MaxIdLength && digits[0] is >= (byte)'1' and <= (byte)'9'
                    && long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
                {
                    return id;
                }
            }

            var text = Id(member); // absent, not a string, escaped or no id: the string path says which
            return Problem is null ? long.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture) : 0;
        }

        /// <summary>The one of <paramref name="known"/> the member's string is (unescaped), so a common value costs no new string; else null.</summary>
        public readonly string? KnownText(Member member, (string Text, byte[] Utf8)[] known)
        {
            if (_at[(int)member] != 0 && At(member) is { TokenType: JsonTokenType.String, ValueIsEscaped: false } reader)
            {
                foreach (var (text, utf8) in known)
                {
                    if (reader.ValueSpan.SequenceEqual(utf8))
                    {
                        return text;
                    }
                }
            }

            return null;
        }

        public string Text(Member member, int maxLength)
        {
            var value = String(member);
            if (value is not null && !IsText(value, maxLength))
            {
                Fail($"{MemberNames[(int)member]} must be a non-empty string of at most {maxLength} characters.");
            }

            return value ?? "";
        }

        public long Seq(Member member)
        {
            if (!Required(member))
            {
                return 0;
            }

            var reader = At(member);
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var value) || value < 0)
            {
                Fail($"{MemberNames[(int)member]} must be a non-negative integer.");
                return 0;
            }

            return value;
        }

        public long? OptionalPositive(Member member)
        {
            if (IsAbsentOrNull(member, out var reader))
            {
                return null;
            }

            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var value) || value <= 0)
            {
                Fail($"{MemberNames[(int)member]} must be a positive integer or null.");
                return null;
            }

            return value;
        }

        public int? OptionalLimit(Member member)
        {
            if (IsAbsentOrNull(member, out var reader))
            {
                return null;
            }

            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var value)
                || value is < 1 or > ProtocolLimits.MaxSyncLimit)
            {
                Fail($"{MemberNames[(int)member]} must be an integer from 1 to {ProtocolLimits.MaxSyncLimit}.");
                return null;
            }

            return value;
        }

        /// <summary>
        /// A JSON object, copied out of the frame's buffer. Its strings are checked here (no NUL, no lone surrogate)
        /// because the stores cannot hold them, and every later reader of the content would otherwise have to.
        /// </summary>
        public JsonElement Object(Member member)
        {
            if (!Required(member))
            {
                return default;
            }

            var reader = At(member);
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                Fail($"{MemberNames[(int)member]} must be a JSON object.");
                return default;
            }

            if (FewNames(reader, _json[(_at[(int)member] - 1)..]) is { } hasDuplicate)
            {
                if (hasDuplicate)
                {
                    Fail($"{MemberNames[(int)member]} must not give a member name twice.");
                    return default;
                }

                return JsonElement.ParseValue(ref reader);
            }

            var probe = reader;
            var names = new List<HashSet<string>?>(); // per open object (null for an array), the member names seen
            do
            {
                // Only an escaped string can hold NUL or a lone surrogate; GetString throws on the latter.
                if (probe.TokenType is JsonTokenType.String or JsonTokenType.PropertyName && probe.ValueIsEscaped
                    && probe.GetString()!.Contains('\0', StringComparison.Ordinal))
                {
                    Fail($"{MemberNames[(int)member]} must not contain NUL characters.");
                    return default;
                }

                switch (probe.TokenType)
                {
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        names.Add(probe.TokenType == JsonTokenType.StartObject ? new HashSet<string>(StringComparer.Ordinal) : null);
                        break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        names.RemoveAt(names.Count - 1);
                        break;
                    case JsonTokenType.PropertyName when !names[^1]!.Add(probe.GetString()!):
                        // As HTTP refuses it: readers of the stored content would disagree on which one counts.
                        Fail($"{MemberNames[(int)member]} must not give a member name twice.");
                        return default;
                }
            }
            while (probe.Read() && !(probe.TokenType == JsonTokenType.EndObject && probe.CurrentDepth == 0));

            return JsonElement.ParseValue(ref reader);
        }

        private const int MaxFewNames = 16;

        /// <summary>
        /// The common case of <see cref="Object"/>'s checks without allocating: an object whose member names are all
        /// unescaped and at most <see cref="MaxFewNames"/> in all, whose strings hold no escapes either (so no NUL and
        /// no lone surrogate). Whether a name repeats within its object (their bytes compared: the frame is valid
        /// UTF-8, so equal bytes are equal strings); null when the content is not that simple (the general check decides).
        /// <paramref name="json"/> is what <paramref name="probe"/> reads, from the object's start.
        /// </summary>
        private static bool? FewNames(Utf8JsonReader probe, ReadOnlySpan<byte> json)
        {
            Span<int> starts = stackalloc int[MaxFewNames]; // each name's offset in the frame
            Span<int> lengths = stackalloc int[MaxFewNames];
            Span<int> owners = stackalloc int[MaxFewNames]; // the object each name belongs to
            Span<int> open = stackalloc int[ProtocolLimits.MaxDepth + 1]; // the objects open, by depth (-1 for an array)
            var count = 0;
            var objects = 0;
            do
            {
                switch (probe.TokenType)
                {
                    case JsonTokenType.String when probe.ValueIsEscaped:
                        return null;
                    case JsonTokenType.StartObject:
                        open[probe.CurrentDepth] = objects++;
                        break;
                    case JsonTokenType.StartArray:
                        open[probe.CurrentDepth] = -1;
                        break;
                    case JsonTokenType.PropertyName:
                        if (probe.ValueIsEscaped || count == MaxFewNames)
                        {
                            return null;
                        }

                        var owner = open[probe.CurrentDepth - 1];
                        var name = probe.ValueSpan;
                        for (var i = 0; i < count; i++)
                        {
                            if (owners[i] == owner && json.Slice(starts[i], lengths[i]).SequenceEqual(name))
                            {
                                return true;
                            }
                        }

                        // The name's bytes sit between its quotes, just before the reader's position after the colon.
                        starts[count] = (int)probe.TokenStartIndex + 1;
                        lengths[count] = name.Length;
                        owners[count++] = owner;
                        break;
                }
            }
            while (probe.Read() && !(probe.TokenType == JsonTokenType.EndObject && probe.CurrentDepth == 0));

            return false;
        }

        public IReadOnlyList<string>? OptionalTexts(Member member, int maxCount, int maxLength)
        {
            if (IsAbsentOrNull(member, out var reader))
            {
                return null;
            }

            var items = new List<string>();
            var ok = reader.TokenType == JsonTokenType.StartArray;
            while (ok && reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                ok = reader.TokenType == JsonTokenType.String && items.Count < maxCount;
                if (ok)
                {
                    var item = reader.GetString()!;
                    ok = IsText(item, maxLength);
                    items.Add(item);
                }
            }

            if (!ok)
            {
                Fail($"{MemberNames[(int)member]} must be an array of at most {maxCount} non-empty strings of at most {maxLength} characters.");
                return null;
            }

            return [.. items];
        }

        private string? String(Member member)
        {
            if (!Required(member))
            {
                return null;
            }

            var reader = At(member);
            if (reader.TokenType != JsonTokenType.String)
            {
                Fail($"{MemberNames[(int)member]} must be a string.");
                return null;
            }

            return reader.GetString();
        }

        private bool Required(Member member)
        {
            if (_at[(int)member] == 0)
            {
                Fail($"{MemberNames[(int)member]} is required.");
                return false;
            }

            return true;
        }

        private readonly bool IsAbsentOrNull(Member member, out Utf8JsonReader reader)
        {
            if (_at[(int)member] == 0)
            {
                reader = default;
                return true;
            }

            reader = At(member);
            return reader.TokenType == JsonTokenType.Null;
        }

        /// <summary>A reader on the member's value (the scan already validated all of it).</summary>
        private readonly Utf8JsonReader At(Member member)
        {
            var reader = new Utf8JsonReader(_json[(_at[(int)member] - 1)..], ReaderOptions);
            reader.Read();
            return reader;
        }

        private static Member? Identify(ref Utf8JsonReader reader)
        {
            for (var i = 0; i < MemberNamesUtf8.Length; i++)
            {
                if (reader.ValueTextEquals(MemberNamesUtf8[i]))
                {
                    return (Member)i;
                }
            }

            return null;
        }

        // Stores refuse NUL in text (PostgreSQL), and the HTTP side refuses it too.
        private static bool IsText(string value, int maxLength) =>
            value.Length > 0 && value.Length <= maxLength && !value.Contains('\0', StringComparison.Ordinal);

        private static bool IsId(string value) =>
            value.Length is > 0 and <= ProtocolLimits.MaxIdLength
            && value[0] is >= '1' and <= '9'
            && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out _);
    }
}
