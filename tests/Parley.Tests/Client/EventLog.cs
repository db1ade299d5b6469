using Parley.Client;

namespace Parley.Tests.Client;

/// <summary>
/// Records the events a <see cref="ParleySocket"/> pushes (give <see cref="Add"/> as its <c>OnEvent</c>) and lets a
/// test wait for one that matches, whether it came before or after the wait started.
/// </summary>
public sealed class EventLog
{
    /// <summary>How long a wait may take before the test fails: generous, it only bounds a broken test.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly Lock _lock = new();
    private readonly List<ServerEvent> _events = [];
    private readonly List<(Func<ServerEvent, bool> Match, TaskCompletionSource<ServerEvent> Done)> _waiters = [];

    public void Add(ServerEvent e)
    {
        List<TaskCompletionSource<ServerEvent>> done = [];
        lock (_lock)
        {
            _events.Add(e);
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Match(e))
                {
                    done.Add(_waiters[i].Done);
                    _waiters.RemoveAt(i);
                }
            }
        }

        foreach (var waiter in done)
        {
            waiter.TrySetResult(e);
        }
    }

    /// <summary>The events of one kind received so far, in arrival order.</summary>
    public IReadOnlyList<T> All<T>()
        where T : ServerEvent
    {
        lock (_lock)
        {
            return _events.OfType<T>().ToList();
        }
    }

    /// <summary>The message pushes of a conversation received so far, as their seqs in arrival order.</summary>
    public IReadOnlyList<long> PushedSeqs(string conversationId) =>
        All<MessageEvent>().Where(m => m.Message.ConversationId == conversationId).Select(m => m.Message.Seq).ToList();

    /// <summary>The first event of type <typeparamref name="T"/> matching <paramref name="match"/>, waiting for it if needed.</summary>
    public async Task<T> WaitAsync<T>(Func<T, bool>? match = null)
        where T : ServerEvent
    {
        bool Matches(ServerEvent e) => e is T t && (match is null || match(t));

        TaskCompletionSource<ServerEvent> done;
        lock (_lock)
        {
            if (_events.FirstOrDefault(Matches) is T seen)
            {
                return seen;
            }

            done = new TaskCompletionSource<ServerEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((Matches, done));
        }

        try
        {
            return (T)await done.Task.WaitAsync(Timeout, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            string seen;
            lock (_lock)
            {
                seen = string.Join(", ", _events.Select(e => e.GetType().Name));
            }

            throw new TimeoutException($"No matching {typeof(T).Name} within {Timeout.TotalSeconds} s; received: [{seen}]");
        }
    }

    /// <summary>A message push of <paramref name="conversationId"/> with <paramref name="seq"/>.</summary>
    public async Task<Message> MessageAsync(string conversationId, long seq) =>
        (await WaitAsync<MessageEvent>(m => m.Message.ConversationId == conversationId && m.Message.Seq == seq)).Message;
}
