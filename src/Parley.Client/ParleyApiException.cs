using System.Net;

namespace Parley.Client;

/// <summary>
/// An error answer of the server: an HTTP problem (<see cref="Status"/> set) or a WebSocket <c>error</c> frame
/// (<see cref="Status"/> 0). <see cref="Code"/> is the contract's error code (<c>invalid</c>, <c>rate_limited</c>, ...).
/// </summary>
public sealed class ParleyApiException(HttpStatusCode status, string code, string message) : Exception(message)
{
    public HttpStatusCode Status { get; } = status;

    public string Code { get; } = code;

    public override string ToString() => $"{(int)Status} {Code}: {Message}";
}
