using System.Collections.Concurrent;
using Parley.Server.Events;

namespace Parley.Tests.Infrastructure;

/// <summary>Records every notification the server publishes, for assertions.</summary>
public sealed class NotificationRecorder : INotificationSink
{
    private readonly ConcurrentQueue<Notification> _all = new();

    public IReadOnlyList<Notification> All => _all.ToArray();

    public void Publish(Notification notification) => _all.Enqueue(notification);

    /// <summary>Notifications of <paramref name="kind"/> addressed to the user with wire id <paramref name="userId"/>.</summary>
    public IReadOnlyList<Notification> For(string userId, string kind) =>
        _all.Where(n => n.Kind == kind && n.UserIds.Contains(long.Parse(userId, System.Globalization.CultureInfo.InvariantCulture))).ToList();
}
