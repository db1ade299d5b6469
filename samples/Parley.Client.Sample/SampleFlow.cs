namespace Parley.Client.Sample;

/// <summary>What the flow ends with: the message as Bob received it, and whether Alice's reload shows it read.</summary>
public sealed record SampleResult(Message Sent, Message Received, bool SeenByBob);

/// <summary>
/// The flow of docs/client.md: Alice and Bob register, become friends, Alice sends, Bob receives on his socket,
/// reads, and Alice sees the receipt after a reload. Each <c>#region</c> is one snippet of the docs, word for word
/// (tests/Parley.Tests/Client/SampleTests.cs compares them).
/// </summary>
public static class SampleFlow
{
    public static async Task<SampleResult> RunAsync(Uri server, TextWriter output, CancellationToken cancellationToken)
    {
        // Usernames are unique per server: a fresh suffix lets the flow run again on the same server.
        var suffix = Guid.NewGuid().ToString("N")[..8];

        #region register
        using var alice = new ParleyClient(server);
        await alice.RegisterAsync("alice_" + suffix, "correct horse battery", nickname: "Alice", cancellationToken: cancellationToken);
        using var bob = new ParleyClient(server);
        await bob.RegisterAsync("bob_" + suffix, "correct horse battery", nickname: "Bob", cancellationToken: cancellationToken);
        #endregion

        #region befriend
        var request = await alice.SendFriendRequestAsync(bob.UserId!, "hi, it's Alice", cancellationToken);
        await bob.AcceptFriendRequestAsync(request.Id, cancellationToken);
        #endregion

        #region receive
        var tracker = new MessageTracker();
        var received = new TaskCompletionSource<Message>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var socket = await bob.ConnectAsync(new ParleySocketOptions
        {
            OnEvent = e =>
            {
                switch (e)
                {
                    case MessageEvent { Message: var m } when tracker.Accept(m):
                        received.TrySetResult(m);
                        break;
                    case UserUpdatedEvent { User: var user }:
                        output.WriteLine($"{user.Id} is now called {user.Nickname}");
                        break;
                }
            },
        }, cancellationToken);
        #endregion

        #region send
        var chat = await alice.DirectConversationAsync(bob.UserId!, cancellationToken);
        var sent = await alice.SendMessageAsync(chat.Id, new TextContent("hello, Bob"), cancellationToken: cancellationToken);
        #endregion

        #region content
        var message = await received.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        switch (message.GetContent())
        {
            case TextContent text:
                output.WriteLine($"{message.SenderId}: {text.Text}");
                break;
            case ImageContent image:
                output.WriteLine($"{message.SenderId} sent a {image.Width}x{image.Height} image, file {image.FileId}");
                break;
            case null:
                output.WriteLine($"{message.SenderId} recalled message {message.Seq}");
                break;
            default:
                output.WriteLine($"{message.SenderId} sent a {message.Type} message");
                break;
        }
        #endregion

        #region receipts
        await bob.MarkReadAsync(message.ConversationId, message.Seq, cancellationToken);
        var reloaded = await alice.ConversationAsync(chat.Id, cancellationToken);
        var seen = reloaded.PeerHasRead(sent.Seq) == true; // from peerReadSeq: every own message's receipt after a reload
        #endregion

        return new SampleResult(sent, message, seen);
    }
}
