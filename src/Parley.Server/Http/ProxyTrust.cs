using System.Net;
using Microsoft.AspNetCore.HttpOverrides;

namespace Parley.Server.Http;

/// <summary>
/// <c>Cluster:TrustedProxies</c>: the peers (addresses, or networks in CIDR form) whose <c>X-Forwarded-For</c> and
/// <c>X-Forwarded-Proto</c> are believed, through ASP.NET Core's forwarded-headers middleware. It runs first, so
/// everything that keys on <see cref="ConnectionInfo.RemoteIpAddress"/> (the login and sign-up throttles, the
/// <c>/metrics</c> allow-list, logs) sees the client rather than the load balancer. A request from any other peer
/// keeps its own address and its headers are ignored. Empty (the default): no middleware at all, as before. It does
/// not depend on cluster mode: one node behind nginx needs it as much.
/// </summary>
/// <remarks>
/// The lean WebSocket path (<c>Realtime/LeanWebSocketMiddleware</c>) runs before this HTTP pipeline and never reads
/// the peer's address: nothing on a WebSocket is counted per address. Should it ever need one, it must apply the
/// same <see cref="ForwardedHeadersOptions"/> to the upgrade's head, not read the connection's remote endpoint.
/// </remarks>
public static class ProxyTrust
{
    /// <summary>How many proxies in a row are walked through (right to left); a longer chain stops at a proxy's address,
    /// which is the safe direction (the limit then counts that proxy, never a client-chosen name).</summary>
    public const int MaxHops = 8;

    /// <summary>The middleware's options for <paramref name="trusted"/>; null when none is set (nothing to install).</summary>
    public static ForwardedHeadersOptions? Options(IReadOnlyList<string> trusted)
    {
        if (trusted.Count == 0)
        {
            return null;
        }

        var options = new ForwardedHeadersOptions
        {
            ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto,
            ForwardLimit = MaxHops,
        };
        // The defaults trust loopback: a proxy on this host would be believed without being named.
        options.KnownProxies.Clear();
        options.KnownIPNetworks.Clear();
        foreach (var entry in trusted)
        {
            var text = entry.Trim();
            if (text.Contains('/'))
            {
                if (!System.Net.IPNetwork.TryParse(text, out var network))
                {
                    throw new InvalidOperationException($"Cluster:TrustedProxies: '{entry}' is not an address or a network in CIDR form such as 10.0.0.0/8.");
                }

                options.KnownIPNetworks.Add(network);
            }
            else if (IPAddress.TryParse(text, out var address))
            {
                options.KnownProxies.Add(address); // the middleware also matches an IPv4 peer reported IPv4-mapped
            }
            else
            {
                throw new InvalidOperationException($"Cluster:TrustedProxies: '{entry}' is not an address or a network in CIDR form such as 10.0.0.0/8.");
            }
        }

        return options;
    }
}
