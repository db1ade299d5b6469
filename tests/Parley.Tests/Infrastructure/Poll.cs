namespace Parley.Tests.Infrastructure;

/// <summary>
/// Polling a condition under a deadline. Only for conditions no event announces to a test (a server's
/// registry, a child process coming up, a measurement landing in /metrics); each caller says why. Everything
/// else waits on the event itself (a frame, an answer, a task).
/// </summary>
public static class Poll
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);

    public static Task UntilAsync(Func<bool> condition, string what, TimeSpan? within = null) =>
        UntilAsync(() => Task.FromResult(condition()), what, within);

    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(30));
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"{what}: not in time");
            await Task.Delay(Interval); // the next look, not a wait for something to happen
        }
    }
}
