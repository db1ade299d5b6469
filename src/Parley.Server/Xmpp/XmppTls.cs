using System.IO.Pipelines;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;

namespace Parley.Server.Xmpp;

/// <summary>
/// STARTTLS (RFC 6120 5): after <c>&lt;proceed/&gt;</c> the connection's transport is swapped in place for pipes over an
/// <see cref="SslStream"/> on the old ones (as Kestrel's own HTTPS middleware does), so everything after it (the
/// stanza reader, the <see cref="XmppConnection"/> writer) reads and writes through TLS without knowing it. The
/// certificate (<c>Xmpp:Certificate</c>, a PEM with the certificate chain and its key) is loaded once, at start.
/// </summary>
public sealed class XmppTls
{
    private readonly X509Certificate2 _certificate;

    public XmppTls(string pemPath)
    {
        _certificate = X509Certificate2.CreateFromPemFile(pemPath);
        if (!_certificate.HasPrivateKey)
        {
            throw new InvalidOperationException($"{XmppOptions.Section}:{nameof(XmppOptions.Certificate)}: '{pemPath}' holds no private key.");
        }
    }

    /// <summary>The TLS handshake as the server; false (the stream is over) when it fails.</summary>
    public async ValueTask<bool> UpgradeAsync(ConnectionContext context, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var plain = context.Transport;
        var ssl = new SslStream(new DuplexPipeStream(plain), leaveInnerStreamOpen: false);
        try
        {
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bounded.CancelAfter(timeout);
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate, ClientCertificateRequired = false }, bounded.Token);
        }
        catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException or OperationCanceledException)
        {
            await ssl.DisposeAsync();
            return false;
        }

        context.Transport = new TlsPipe(PipeReader.Create(ssl), PipeWriter.Create(ssl));
        return true;
    }

    private sealed class TlsPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }

    /// <summary>The connection's plain pipes as one stream, for the <see cref="SslStream"/> to sit on.</summary>
    private sealed class DuplexPipeStream(IDuplexPipe pipe) : Stream
    {
        private readonly Stream _read = pipe.Input.AsStream();
        private readonly Stream _write = pipe.Output.AsStream();

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush() => _write.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => _write.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => _read.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _read.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _read.ReadAsync(buffer, offset, count, cancellationToken);

        public override void Write(byte[] buffer, int offset, int count) => _write.Write(buffer, offset, count);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => _write.WriteAsync(buffer, cancellationToken);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _write.WriteAsync(buffer, offset, count, cancellationToken);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _read.Dispose();
                _write.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
