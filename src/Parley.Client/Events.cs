using System.Text.Json;

namespace Parley.Client;

/// <summary>A frame the server pushes without being asked (answers to requests complete their tasks instead).</summary>
public abstract record ServerEvent;

/// <summary>A new message in one of my conversations (<c>message</c>).</summary>
public sealed record MessageEvent(Message Message) : ServerEvent;

/// <summary>A message was recalled (<c>recalled</c>).</summary>
public sealed record RecalledEvent(string ConversationId, long Seq, string By) : ServerEvent;

/// <summary>Someone's read marker moved (<c>read</c>).</summary>
public sealed record ReadEvent(string ConversationId, string UserId, long Seq) : ServerEvent;

/// <summary>Someone is typing (<c>typing</c>).</summary>
public sealed record TypingEvent(string ConversationId, string UserId) : ServerEvent;

/// <summary>A friend came online or went offline (<c>presence</c>).</summary>
public sealed record PresenceEvent(string UserId, bool Online, long? LastSeenAt) : ServerEvent;

/// <summary>
/// A social or group event (<c>notify</c>): <see cref="Kind"/> such as <c>friend.request</c>, <see cref="Data"/> its payload.
/// Kinds with a typed event (<see cref="UserUpdatedEvent"/>) arrive as that subtype, so a handler of every
/// <see cref="NotifyEvent"/> still sees them.
/// </summary>
public record NotifyEvent(string Kind, JsonElement Data) : ServerEvent;

/// <summary>
/// <c>notify</c> <c>user.updated</c>: a friend's or group co-member's (or my own, from another device) nickname or
/// avatar changed; <see cref="User"/> is their public profile as it now is.
/// </summary>
public sealed record UserUpdatedEvent(User User, JsonElement Data) : NotifyEvent("user.updated", Data);

/// <summary>An <c>error</c> frame that answers no request (a refused frame without <c>ref</c>).</summary>
public sealed record ErrorEvent(string Code, string Message) : ServerEvent;

/// <summary>The socket closed; <see cref="CloseStatus"/> is the WebSocket close code (4001: session revoked, 4000: silent too long, ...), if any.</summary>
public sealed record ClosedEvent(int? CloseStatus, string? Reason, Exception? Error) : ServerEvent;
