using System.Threading.Channels;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;
using MimeKit;

namespace Parley.Server.Email;

/// <summary>A mail's address and text.</summary>
public sealed record Mail(string To, string Subject, string Body);

/// <summary>A mail to send. <see cref="Prepare"/> runs on the sender's thread (a reset's account lookup and code), so
/// a request does the same work whether or not the address belongs to anyone; null: nothing to send.</summary>
public sealed record MailJob(Func<CancellationToken, Task<Mail?>> Prepare);

/// <summary>
/// Sends mails one at a time from an in-memory queue, over SMTP with MailKit, retrying a failed attempt. Not durable:
/// a restart drops what waits (the user asks for a new code). One sender, in order, so a test can wait for a later
/// mail as proof that an earlier job was handled.
/// </summary>
public sealed partial class MailOutbox : BackgroundService
{
    private readonly Channel<MailJob> _queue;
    private readonly EmailOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<MailOutbox> _logger;
    private readonly MailboxAddress _from;

    public MailOutbox(IOptions<EmailOptions> options, TimeProvider time, ILogger<MailOutbox> logger)
    {
        _options = options.Value;
        _time = time;
        _logger = logger;
        _from = MailboxAddress.Parse(_options.From!);
        _queue = Channel.CreateBounded<MailJob>(new BoundedChannelOptions(_options.QueueLength) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    }

    /// <summary>Queues a mail; false when the queue is full.</summary>
    public bool TryQueue(MailJob job) => _queue.Writer.TryWrite(job);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var job in _queue.Reader.ReadAllAsync(stoppingToken))
            {
                try
                {
                    if (await job.Prepare(stoppingToken) is { } mail)
                    {
                        await SendAsync(mail, stoppingToken);
                    }
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    LogJobFailed(_logger, Describe(e));
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task SendAsync(Mail mail, CancellationToken cancellationToken)
    {
        var message = new MimeMessage();
        message.From.Add(_from);
        message.To.Add(new MailboxAddress("", mail.To));
        message.Subject = mail.Subject;
        message.Body = new TextPart("plain") { Text = mail.Body };
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                using var client = new SmtpClient { Timeout = _options.SmtpTimeoutSeconds * 1000 };
                var security = !_options.UseTls ? SecureSocketOptions.None
                    : _options.SmtpPort == 465 ? SecureSocketOptions.SslOnConnect
                    : SecureSocketOptions.StartTls;
                await client.ConnectAsync(_options.SmtpHost!, _options.SmtpPort, security, cancellationToken);
                if (!string.IsNullOrEmpty(_options.Username))
                {
                    await client.AuthenticateAsync(_options.Username, _options.Password ?? "", cancellationToken);
                }

                await client.SendAsync(message, cancellationToken);
                await client.DisconnectAsync(true, cancellationToken);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException && attempt < _options.SendAttempts)
            {
                // The address is the user's and the body holds a code: neither is logged.
                LogRetry(_logger, attempt, Describe(e));
                await Task.Delay(TimeSpan.FromSeconds(1 << attempt), _time, cancellationToken);
            }
        }
    }

    /// <summary>What went wrong, without the exception's message (a relay's answer may quote the address).</summary>
    private static string Describe(Exception e) => e switch
    {
        SmtpCommandException c => $"{nameof(SmtpCommandException)} {(int)c.StatusCode} {c.ErrorCode}",
        SmtpProtocolException => nameof(SmtpProtocolException),
        _ => e.GetType().Name,
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Mail attempt {Attempt} failed ({Error}); retrying")]
    private static partial void LogRetry(ILogger logger, int attempt, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "A mail could not be sent ({Error}); it is dropped")]
    private static partial void LogJobFailed(ILogger logger, string error);
}
