using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Parley.Tests.Infrastructure;

/// <summary>One log entry as the server wrote it: whether it carried an exception (a stack trace) included.</summary>
public sealed record LogEntry(string Category, LogLevel Level, string Message, bool HasException);

/// <summary>Records what the server logs (at the test hosts' level, Warning and above), for assertions.</summary>
public sealed class LogRecorder : ILoggerProvider
{
    private readonly ConcurrentQueue<LogEntry> _all = new();

    public IReadOnlyList<LogEntry> All => _all.ToArray();

    public ILogger CreateLogger(string categoryName) => new Recorder(categoryName, _all);

    public void Dispose()
    {
    }

    private sealed class Recorder(string category, ConcurrentQueue<LogEntry> all) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            all.Enqueue(new LogEntry(category, logLevel, formatter(state, exception), exception is not null));
    }
}
