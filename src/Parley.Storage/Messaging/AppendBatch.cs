namespace Parley.Storage.Messaging;

/// <summary>What both appenders share: a clientMsgId repeated within a batch is stored once, and the repeats return the original.</summary>
internal static class AppendBatch
{
    /// <summary>For each message the index of its first occurrence in the batch when it repeats an earlier (sender, clientMsgId), else -1.</summary>
    /// <param name="batch">The batch.</param>
    /// <param name="scratch">A dictionary to reuse (left empty), instead of one allocated per call.</param>
    public static int[] Repeats(IReadOnlyList<NewMessage> batch, Dictionary<(long, string), int>? scratch = null)
    {
        var repeats = new int[batch.Count];
        if (batch.Count == 1)
        {
            repeats[0] = -1;
            return repeats;
        }

        var first = scratch ?? new Dictionary<(long, string), int>(batch.Count);
        for (var i = 0; i < batch.Count; i++)
        {
            var m = batch[i];
            repeats[i] = first.TryAdd((m.SenderId, m.ClientMsgId), i) ? -1 : first[(m.SenderId, m.ClientMsgId)];
        }

        first.Clear();
        return repeats;
    }

    /// <summary>A repeat's result is its original's, not created by this append.</summary>
    public static void FillRepeats(AppendResult[] results, int[] repeats)
    {
        for (var i = 0; i < results.Length; i++)
        {
            if (repeats[i] >= 0)
            {
                results[i] = results[repeats[i]] with { Created = false };
            }
        }
    }

    public static MessageRow RowOf(NewMessage m, long seq) => new()
    {
        ConversationId = m.ConversationId,
        Seq = seq,
        SenderId = m.SenderId,
        ClientMsgId = m.ClientMsgId,
        Type = m.Type,
        Content = m.Content,
        ReplyTo = m.ReplyTo,
        Mentions = m.Mentions,
        SentAt = m.SentAt,
    };

    public const string MessageColumns =
        "conversation_id, seq, sender_id, client_msg_id, type, content, reply_to, mentions, sent_at, recalled_at, recalled_by";
}
