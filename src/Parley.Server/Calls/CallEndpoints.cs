using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Parley.Server.Accounts;
using Parley.Server.Api;
using Parley.Server.Http;

namespace Parley.Server.Calls;

/// <summary>One entry of <c>iceServers</c> (the shape of WebRTC's <c>RTCIceServer</c>).</summary>
public sealed record IceServerDto(
    IReadOnlyList<string> Urls,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Username,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Credential);

/// <summary><c>GET /api/calls/ice-servers</c>: what a client gives its <c>RTCPeerConnection</c>, and how long the credentials last.</summary>
public sealed record IceServersDto(IReadOnlyList<IceServerDto> IceServers, int TtlSeconds);

[JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(IceServersDto))]
public sealed partial class CallsJson : JsonSerializerContext;

/// <summary>The calls' HTTP side: ICE servers with coturn's time-limited shared-secret credentials (docs/calls.md).</summary>
public static class CallEndpoints
{
    public static void MapCalls(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/calls/ice-servers", IceServers).WithTags("Calls").RequireAuthorization()
            .WithName("getIceServers").WithSummary("STUN and TURN servers for a call, with time-limited TURN credentials")
            .Returns<IceServersDto>(200, "The ICE servers (an empty list when none are configured) and how long the credentials last.")
            .ProducesErrors(401);
    }

    private static IResult IceServers(HttpContext context, IOptions<CallOptions> options, TimeProvider time) =>
        Results.Json(For(context.Caller().UserId, options.Value, time.GetUtcNow()), CallsJson.Default.IceServersDto);

    /// <summary>
    /// STUN URLs as they are; TURN URLs only with <c>Calls:TurnSecret</c>, with coturn's REST-API credentials
    /// (<c>use-auth-secret</c>): username <c>expiry:userId</c> (expiry in Unix seconds), credential
    /// base64(HMAC-SHA1(secret, username)). Nothing configured: an empty list (calls still connect on a LAN).
    /// </summary>
    public static IceServersDto For(long userId, CallOptions options, DateTimeOffset now)
    {
        var servers = new List<IceServerDto>(2);
        if (options.StunUrls.Length > 0)
        {
            servers.Add(new IceServerDto(options.StunUrls, null, null));
        }

        if (options.TurnUrls.Length > 0 && options.TurnSecret.Length > 0)
        {
            var expiry = now.ToUnixTimeSeconds() + options.TurnTtlSeconds;
            var username = expiry.ToString(CultureInfo.InvariantCulture) + ":" + userId.ToString(CultureInfo.InvariantCulture);
            servers.Add(new IceServerDto(options.TurnUrls, username, Credential(options.TurnSecret, username)));
        }

        return new IceServersDto(servers, options.TurnTtlSeconds);
    }

    public static string Credential(string secret, string username) =>
        Convert.ToBase64String(HMACSHA1.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(username)));
}
