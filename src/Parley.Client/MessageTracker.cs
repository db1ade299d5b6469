namespace Parley.Client;

/// <summary>
/// The client side of Parley's delivery guarantee, for one device: remembers per conversation which seqs it
/// holds, drops duplicates by <c>(conversationId, seq)</c> (a message may come by push and by sync), notices gaps,
/// and catches up by <c>after=</c> from the highest seq held, which is always complete. Thread-safe.
/// </summary>
/// <remarks>
/// The algorithm of docs/protocol.md: on every (re)connect call <see cref="CatchUpAsync"/>; give every pushed or
/// sent message to <see cref="Accept(Message)"/>; when <see cref="HasGap"/> says a push skipped seqs, call
/// <see cref="FillGapAsync"/>. Seqs a device never sees (before it joined, hidden for it) are skipped over by
/// the server's <c>after=</c> answers, so they never count as gaps once fetched past.
/// </remarks>
public sealed class MessageTracker
{
    private readonly Dictionary<string, State> _conversations = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>Everything up to this seq of the conversation is held (0 when nothing).</summary>
    public long Held(string conversationId)
    {
        lock (_lock)
        {
            return _conversations.TryGetValue(conversationId, out var state) ? state.Held : 0;
        }
    }

    /// <summary>Starts a conversation at a seq held from an earlier run (a client that stores messages).</summary>
    public void Resume(string conversationId, long held)
    {
        lock (_lock)
        {
            var state = StateOf(conversationId);
            state.Held = Math.Max(state.Held, held);
            state.Advance();
        }
    }

    /// <summary>True when the message is new to this device; false for a duplicate.</summary>
    public bool Accept(Message message) => Accept(message.ConversationId, message.Seq);

    /// <summary>True when <paramref name="seq"/> is new to this device; false for a duplicate.</summary>
    public bool Accept(string conversationId, long seq)
    {
        lock (_lock)
        {
            var state = StateOf(conversationId);
            if (seq <= state.Held || !state.Above.Add(seq))
            {
                return false;
            }

            state.Advance();
            return true;
        }
    }

    /// <summary>True when a message above a missing seq arrived (fetch the gap with <see cref="FillGapAsync"/>).</summary>
    public bool HasGap(string conversationId)
    {
        lock (_lock)
        {
            return _conversations.TryGetValue(conversationId, out var state) && state.Above.Count > 0;
        }
    }

    /// <summary>
    /// Fetches everything after the highest seq held, page by page, and returns the messages that were new, in
    /// seq order. <paramref name="fetch"/> is <c>after=</c> over HTTP (<see cref="ParleyClient.MessagesAfterAsync"/>)
    /// or a <c>sync</c> frame (<see cref="ParleySocket.SyncAsync"/>).
    /// </summary>
    public async Task<IReadOnlyList<Message>> FillGapAsync(string conversationId, Func<string, long, CancellationToken, Task<MessagePage>> fetch, CancellationToken cancellationToken = default)
    {
        var fresh = new List<Message>();
        while (true)
        {
            var after = Held(conversationId);
            var page = await fetch(conversationId, after, cancellationToken);
            foreach (var message in page.Items)
            {
                if (Accept(message))
                {
                    fresh.Add(message);
                }
            }

            lock (_lock)
            {
                // The answer is complete from `after` on: seqs it skipped are not visible to this device.
                var state = StateOf(conversationId);
                var through = page.HasMore ? (page.Items.Count > 0 ? page.Items[^1].Seq : after) : Math.Max(page.MaxSeq, page.Items.Count > 0 ? page.Items[^1].Seq : 0);
                if (through > state.Held)
                {
                    state.Held = through;
                    state.Above.RemoveWhere(s => s <= through);
                    state.Advance();
                }
            }

            if (!page.HasMore || page.Items.Count == 0)
            {
                return fresh;
            }
        }
    }

    /// <summary>
    /// Catch-up after (re)connecting: lists every conversation and fetches what is missing of each whose
    /// <c>maxSeq</c> is above what is held. Returns the new messages, per conversation in seq order.
    /// </summary>
    public async Task<IReadOnlyList<Message>> CatchUpAsync(ParleyClient client, CancellationToken cancellationToken = default)
    {
        var fresh = new List<Message>();
        foreach (var conversation in await client.AllConversationsAsync(cancellationToken))
        {
            if (conversation.MaxSeq > Held(conversation.Id))
            {
                fresh.AddRange(await FillGapAsync(conversation.Id, (id, after, ct) => client.MessagesAfterAsync(id, after, 200, ct), cancellationToken));
            }
        }

        return fresh;
    }

    private State StateOf(string conversationId)
    {
        if (!_conversations.TryGetValue(conversationId, out var state))
        {
            state = new State();
            _conversations[conversationId] = state;
        }

        return state;
    }

    private sealed class State
    {
        public long Held { get; set; }

        public SortedSet<long> Above { get; } = [];

        /// <summary>Moves <see cref="Held"/> over the seqs that now follow it without a hole.</summary>
        public void Advance()
        {
            while (Above.Count > 0 && Above.Min <= Held + 1)
            {
                Held = Math.Max(Held, Above.Min);
                Above.Remove(Above.Min);
            }
        }
    }
}
