using System.Net;
using Parley.Server.Http;

namespace Parley.Server.Operations;

/// <summary>
/// Who may read <c>GET /metrics</c>: loopback always, and the networks in <c>Telemetry:MetricsAllowedNetworks</c>
/// (CIDR, e.g. <c>10.0.0.0/8</c>; <c>0.0.0.0/0</c> and <c>::/0</c> open it to all). Everyone else gets the 404 of a
/// path that does not exist: the series name routes, pools and build versions, nothing a stranger needs.
/// </summary>
/// <remarks>
/// A request that came through a proxy carries <c>X-Forwarded-For</c> / <c>Forwarded</c>: then the proxy's address
/// and every forwarded address must be allowed, so a proxy on this host does not open the endpoint to the world, and
/// a client cannot name itself loopback in a header.
/// </remarks>
public sealed class MetricsAccess
{
    private readonly IPNetwork[] _networks;

    public MetricsAccess(IReadOnlyList<string> networks)
    {
        _networks = new IPNetwork[networks.Count];
        for (var i = 0; i < networks.Count; i++)
        {
            if (!IPNetwork.TryParse(networks[i].Trim(), out _networks[i]))
            {
                throw new InvalidOperationException($"Telemetry:MetricsAllowedNetworks: '{networks[i]}' is not a network in CIDR form such as 10.0.0.0/8.");
            }
        }
    }

    public bool Allows(HttpContext context)
    {
        if (!Allows(context.Connection.RemoteIpAddress))
        {
            return false;
        }

        foreach (var value in context.Request.Headers["X-Forwarded-For"])
        {
            foreach (var part in (value ?? "").Split(',', StringSplitOptions.TrimEntries))
            {
                if (!IPAddress.TryParse(part, out var address) || !Allows(address))
                {
                    return false;
                }
            }
        }

        // RFC 7239 is rarer and its for= values may be obfuscated names: any Forwarded header means "from elsewhere".
        return context.Request.Headers["Forwarded"].Count == 0 || _networks.Any(n => n.PrefixLength == 0);
    }

    private bool Allows(IPAddress? address)
    {
        if (address is null)
        {
            return false; // not a TCP connection (a test server's in-memory transport): nothing to vouch for it
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address))
        {
            return true;
        }

        foreach (var network in _networks)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The branch in front of the exporter: a 404 problem for callers not allowed.</summary>
    public void Use(IApplicationBuilder branch) => branch.Use((context, next) =>
        Allows(context) ? next(context) : ProblemWriter.WriteAsync(context, 404, ErrorCodes.NotFound, "No such resource."));
}
