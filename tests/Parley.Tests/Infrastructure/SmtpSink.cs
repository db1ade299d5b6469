using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using MimeKit;

namespace Parley.Tests.Infrastructure;

/// <summary>
/// A real SMTP server on loopback for the email tests: Debian's <c>python3-aiosmtpd</c>
/// (<c>python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c aiosmtpd.handlers.Mailbox DIR</c>) as a child process, which
/// writes every mail it accepts into a Maildir the test reads. The interpreter is <c>PARLEY_TEST_PYTHON</c> or
/// /usr/bin/python3 (Debian's, where apt installs the module; a pyenv shim on PATH would not see it).
/// </summary>
public sealed partial class SmtpSink : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _dir;
    private readonly HashSet<string> _seen = [];

    private SmtpSink(Process process, string dir, int port)
    {
        _process = process;
        _dir = dir;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The settings that point a Parley server at this sink.</summary>
    public string[] ServerArgs(params string[] extra) =>
    [
        "--Email:SmtpHost=127.0.0.1",
        $"--Email:SmtpPort={Port}",
        "--Email:From=Parley <no-reply@parley.test>",
        "--Email:UseTls=false",
        .. extra,
    ];

    private static string Python => Environment.GetEnvironmentVariable("PARLEY_TEST_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";

    public static async Task<SmtpSink> StartAsync()
    {
        var dir = Path.Combine(Path.GetTempPath(), "parley-smtp", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var start = new ProcessStartInfo(Python) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "-m", "aiosmtpd", "-n", "-l", $"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Mailbox", Path.Combine(dir, "maildir") })
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
        var errors = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        var sink = new SmtpSink(process, dir, port);
        // A child process coming up announces nothing: poll its port (bounded).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException(
                    $"aiosmtpd exited ({process.ExitCode}): {await errors} -- install Debian's python3-aiosmtpd (scripts/deps.sh)");
            }

            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port).WaitAsync(TimeSpan.FromSeconds(5));
                return sink;
            }
            catch (Exception e) when (e is SocketException or TimeoutException)
            {
                Assert.True(DateTime.UtcNow < deadline, "aiosmtpd did not listen in time");
                await Task.Delay(50);
            }
        }
    }

    /// <summary>Mails received so far, oldest first.</summary>
    public IReadOnlyList<MimeMessage> All => [.. Files().Select(f => f.Message)];

    /// <summary>The mails sent to <paramref name="to"/> so far.</summary>
    public IReadOnlyList<MimeMessage> To(string to) => [.. All.Where(m => IsTo(m, to))];

    /// <summary>Waits for the next mail to <paramref name="to"/> not returned before, and returns its 6-digit code.</summary>
    public async Task<string> NextCodeAsync(string to, TimeSpan? within = null)
    {
        (string File, MimeMessage Message)? found = null;
        // The sink writes a file and announces nothing: poll the Maildir (bounded).
        await Poll.UntilAsync(
            () =>
            {
                found = Files().Where(f => !_seen.Contains(f.File) && IsTo(f.Message, to)).Select(f => ((string, MimeMessage)?)f).FirstOrDefault();
                return found is not null;
            },
            $"a mail to {to}",
            within);
        var (file, message) = found!.Value;
        _seen.Add(file);
        Assert.Equal("no-reply@parley.test", message.From.Mailboxes.Single().Address);
        var match = CodePattern().Match(message.TextBody ?? "");
        Assert.True(match.Success, $"no 6-digit code in: {message.TextBody}");
        return match.Value;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        _process.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static bool IsTo(MimeMessage message, string to) =>
        message.To.Mailboxes.Any(b => string.Equals(b.Address, to, StringComparison.OrdinalIgnoreCase) || string.Equals(b.GetAddress(idnEncode: true), to, StringComparison.OrdinalIgnoreCase));

    private List<(string File, MimeMessage Message)> Files()
    {
        var folder = Path.Combine(_dir, "maildir", "new");
        if (!Directory.Exists(folder))
        {
            return [];
        }

        // Maildir writes to tmp/ and renames into new/, so a file seen here is complete.
        return [.. Directory.GetFiles(folder).OrderBy(File.GetLastWriteTimeUtc).ThenBy(f => f, StringComparer.Ordinal).Select(f => (f, MimeMessage.Load(f)))];
    }

    [GeneratedRegex(@"\b\d{6}\b")]
    private static partial Regex CodePattern();
}
