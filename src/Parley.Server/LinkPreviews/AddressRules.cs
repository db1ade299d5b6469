using System.Net;
using System.Net.Sockets;

namespace Parley.Server.LinkPreviews;

/// <summary>
/// Which addresses a link preview may connect to: public unicast only. Refused: unspecified, loopback, private
/// (RFC 1918), CGNAT (100.64.0.0/10, where some clouds put metadata), link-local (169.254.0.0/16, the cloud metadata
/// address 169.254.169.254 among them), "this network", IETF protocol assignments, documentation and benchmarking
/// ranges, multicast, reserved and broadcast; in IPv6 the same plus ULA fc00::/7 (AWS's fd00:ec2::254), fe80::/10,
/// fec0::/10, ff00::/8, 2001:db8::/32, 100::/64, Teredo 2001::/32, and any address that embeds an IPv4 one
/// (IPv4-mapped ::ffff:0:0/96, IPv4-compatible ::/96, NAT64 64:ff9b::/96, 6to4 2002::/16) is judged by the IPv4 address inside.
/// </summary>
public static class AddressRules
{
    /// <summary>
    /// Whether an outbound request (a link preview, a push) may connect to this address and port: a public one, or
    /// loopback on <paramref name="testLoopbackPort"/> when a test set that port (0: never).
    /// </summary>
    public static bool Allowed(IPAddress address, int port, int testLoopbackPort) =>
        IsPublic(address)
        || (testLoopbackPort != 0 && port == testLoopbackPort && IPAddress.IsLoopback(address) && !address.IsIPv4MappedToIPv6);

    /// <summary>Connects to an address already vetted (a <see cref="SocketsHttpHandler.ConnectCallback"/>'s last step).</summary>
    public static async ValueTask<Stream> ConnectAsync(IPAddress address, int port, CancellationToken cancellationToken)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(new IPEndPoint(address, port), cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public static bool IsPublic(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return IsPublicV4(address.GetAddressBytes());
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return false;
        }

        var b = address.GetAddressBytes();

        // ::/96 (unspecified, loopback, IPv4-compatible) and ::ffff:0:0/96 (IPv4-mapped): the IPv4 address decides, and
        // :: and ::1 themselves are refused there (0.0.0.0/8).
        if (AllZero(b, 0, 10) && ((b[10] == 0 && b[11] == 0) || (b[10] == 0xff && b[11] == 0xff)))
        {
            if (AllZero(b, 10, 2) && AllZero(b, 12, 3) && b[15] <= 1)
            {
                return false; // :: and ::1
            }

            return IsPublicV4(b.AsSpan(12, 4));
        }

        // NAT64 64:ff9b::/96 and 64:ff9b:1::/48 (local use)
        if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b)
        {
            return AllZero(b, 4, 8) && IsPublicV4(b.AsSpan(12, 4));
        }

        // 6to4 2002::/16 embeds the IPv4 address in bytes 2-5.
        if (b[0] == 0x20 && b[1] == 0x02)
        {
            return IsPublicV4(b.AsSpan(2, 4));
        }

        return !((b[0] & 0xfe) == 0xfc // fc00::/7 unique local
            || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) // fe80::/10 link-local
            || (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) // fec0::/10 site-local (deprecated)
            || b[0] == 0xff // multicast
            || (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) // 2001:db8::/32 documentation
            || (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00) // 2001::/32 Teredo (hides an IPv4 address)
            || (b[0] == 0x01 && b[1] == 0x00 && AllZero(b, 2, 6)) // 100::/64 discard
            || (b[0] & 0xe0) != 0x20); // only global unicast 2000::/3 is routed on the Internet
    }

    private static bool IsPublicV4(ReadOnlySpan<byte> a) =>
        !(a[0] == 0 // 0.0.0.0/8 "this network"
            || a[0] == 127 // 127.0.0.0/8 loopback
            || a[0] == 10 // 10.0.0.0/8
            || (a[0] == 100 && (a[1] & 0xc0) == 64) // 100.64.0.0/10 CGNAT
            || (a[0] == 169 && a[1] == 254) // 169.254.0.0/16 link-local, cloud metadata
            || (a[0] == 172 && (a[1] & 0xf0) == 16) // 172.16.0.0/12
            || (a[0] == 192 && a[1] == 0 && a[2] == 0) // 192.0.0.0/24 IETF protocol assignments
            || (a[0] == 192 && a[1] == 0 && a[2] == 2) // 192.0.2.0/24 TEST-NET-1
            || (a[0] == 192 && a[1] == 88 && a[2] == 99) // 192.88.99.0/24 6to4 relay anycast
            || (a[0] == 192 && a[1] == 168) // 192.168.0.0/16
            || (a[0] == 198 && (a[1] & 0xfe) == 18) // 198.18.0.0/15 benchmarking
            || (a[0] == 198 && a[1] == 51 && a[2] == 100) // 198.51.100.0/24 TEST-NET-2
            || (a[0] == 203 && a[1] == 0 && a[2] == 113) // 203.0.113.0/24 TEST-NET-3
            || a[0] >= 224); // multicast 224/4, reserved 240/4, broadcast

    private static bool AllZero(byte[] b, int start, int count)
    {
        for (var i = start; i < start + count; i++)
        {
            if (b[i] != 0)
            {
                return false;
            }
        }

        return true;
    }
}
