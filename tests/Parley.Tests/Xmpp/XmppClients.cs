using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Xmpp;

/// <summary>A server with the XMPP gateway on a free loopback port, plaintext allowed (loopback only), domain parley.test.</summary>
public abstract class XmppFixture : ServerFixture
{
    public const string Domain = "parley.test";

    public int XmppPort { get; } = FreePort();

    protected override string[] ExtraArgs => [$"--Xmpp:Port={XmppPort}", $"--Xmpp:Domain={Domain}", "--Xmpp:AllowPlaintext=true", "--Xmpp:BindAddress=127.0.0.1"];

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}

public sealed class XmppSqliteFixture : XmppFixture
{
    public override Backend Backend => Backend.Sqlite;
}

public sealed class XmppPostgresFixture : XmppFixture
{
    public override Backend Backend => Backend.Postgres;
}

/// <summary>
/// Debian's slixmpp (tests/xmpp/client.py) as a child process: a real XMPP client, none written by us. It prints
/// one JSON result; it is killed if it outlives its own timeout.
/// </summary>
public static class Slixmpp
{
    private static string Python => Environment.GetEnvironmentVariable("PARLEY_TEST_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";

    public static Task<JsonObject> RunAsync(int port, string jid, string password, string mode, params string[] args) =>
        RunScriptAsync("client.py", port, jid, password, mode, args);

    /// <summary>Another script of tests/xmpp (each part's own, e.g. muc_client.py), with the same arguments and result.</summary>
    public static async Task<JsonObject> RunScriptAsync(string script, int port, string jid, string password, string mode, params string[] args)
    {
        var start = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])[Path.Combine(Root(), "tests", "xmpp", script), "--jid", jid, "--password", password, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--timeout", "20", mode, .. args])
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"slixmpp did not finish: {await stderr}");
        }

        var output = (await stdout).Trim();
        if (output.Length == 0)
        {
            throw new InvalidOperationException($"slixmpp exited {process.ExitCode} without a result -- install Debian's python3-slixmpp (scripts/deps.sh): {await stderr}");
        }

        var result = JsonNode.Parse(output.Split('\n')[^1])!.AsObject();
        result["exitCode"] = process.ExitCode;
        return result;
    }

    private static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "tests", "xmpp", "client.py")) && File.Exists(Path.Combine(dir.FullName, "Parley.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("tests/xmpp/client.py was not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>
/// A bare TCP XMPP client of the tests' own, for what no real client would send (bad XML) and for byte-exact
/// checks; it negotiates plaintext SASL PLAIN and bind like any client.
/// </summary>
public sealed class RawXmpp : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly StringBuilder _received = new();
    private int _seen;

    private RawXmpp(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    public string Jid { get; private set; } = "";

    public static async Task<RawXmpp> ConnectAsync(int port)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port).WaitAsync(TimeSpan.FromSeconds(10));
        return new RawXmpp(tcp);
    }

    /// <summary>Connects, authenticates and binds.</summary>
    public static async Task<RawXmpp> LoginAsync(int port, string username, string password)
    {
        var client = await ConnectAsync(port);
        await client.OpenAsync();
        await client.UntilAsync("</stream:features>");
        var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{username}\0{password}"));
        await client.SendAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>");
        await client.UntilAsync("<success");
        await client.OpenAsync();
        await client.UntilAsync("</stream:features>");
        await client.SendAsync("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>raw</resource></bind></iq>");
        var bound = await client.UntilAsync("</bind></iq>");
        var start = bound.LastIndexOf("<jid>", StringComparison.Ordinal) + 5;
        client.Jid = bound[start..bound.IndexOf("</jid>", start, StringComparison.Ordinal)];
        return client;
    }

    public Task OpenAsync() =>
        SendAsync($"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{XmppFixture.Domain}' version='1.0'>");

    public async Task SendAsync(string xml) => await SendAsync(Encoding.UTF8.GetBytes(xml));

    public async Task SendAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        await _stream.FlushAsync();
    }

    /// <summary>Reads until <paramref name="marker"/> appears after what earlier calls matched; returns what was read up to it.</summary>
    public async Task<string> UntilAsync(string marker, TimeSpan? wait = null)
    {
        using var timeout = new CancellationTokenSource(wait ?? TimeSpan.FromSeconds(15));
        var buffer = new byte[8192];
        while (true)
        {
            var text = _received.ToString();
            var at = text.IndexOf(marker, _seen, StringComparison.Ordinal);
            if (at >= 0)
            {
                var upTo = text[_seen..(at + marker.Length)];
                _seen = at + marker.Length;
                return upTo;
            }

            var read = await _stream.ReadAsync(buffer, timeout.Token);
            if (read == 0)
            {
                throw new IOException($"the server closed the stream before '{marker}'; received: {text[_seen..]}");
            }

            _received.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }
    }

    /// <summary>Reads until the server closes the connection; returns everything not matched yet.</summary>
    public async Task<string> UntilClosedAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var buffer = new byte[8192];
        try
        {
            while (await _stream.ReadAsync(buffer, timeout.Token) is var read and > 0)
            {
                _received.Append(Encoding.UTF8.GetString(buffer, 0, read));
            }
        }
        catch (IOException)
        {
            // reset after the close: what arrived before it counts
        }

        return _received.ToString()[_seen..];
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }
}
