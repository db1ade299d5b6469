using System.Text;
using Parley.Server.Xmpp.Sasl;
using Parley.Storage.Accounts;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Xmpp.Sasl;

/// <summary><c>Auth:ScramIterations</c>: checked at startup, and the count new keys and fake salts get.</summary>
public sealed class ScramSettingsTests() : OwnServerTests(Backend.Sqlite)
{
    [Theory]
    [InlineData("4095")]
    [InlineData("10000001")]
    [InlineData("0")]
    public async Task An_iteration_count_out_of_range_stops_the_start(string iterations)
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var e = await Assert.ThrowsAnyAsync<Exception>(() => ParleyServer.StartAsync(store, (TimeProvider?)null, "--Auth:ScramIterations=" + iterations));
        Assert.Contains("Auth:ScramIterations", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task New_keys_and_fake_salts_have_the_configured_count()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Auth:ScramIterations=6000");
        var user = await server.RegisterAsync(password: "six thousand rounds");
        var row = await server.Service<UserStore>().FindScramAsync(user.Username, TestContext.Current.CancellationToken);
        Assert.True(ScramCredential.TryParse(row!.ScramSha256, out var credential));
        Assert.Equal(6000, credential.Iterations);
        Assert.Equal(SaslFailure.None, await SlixmppScram.AuthenticateAsync(server.Service<ScramSha256Mechanism>().Start("192.0.2.30", null), user.Username, "six thousand rounds"));

        var first = await server.Service<ScramSha256Mechanism>().Start("192.0.2.30", null).StartAsync("n,,n=nobody,r=abc"u8.ToArray(), TestContext.Current.CancellationToken);
        Assert.EndsWith(",i=6000", Encoding.UTF8.GetString(first.Data!), StringComparison.Ordinal);
    }
}
