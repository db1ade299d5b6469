using System.Text.Json;
using Parley.Server.Accounts;
using Parley.Server.Http;
using Parley.Storage;

namespace Parley.Tests.Accounts;

[Trait("Tier", "Unit")]
public sealed class AccountRulesTests
{
    [Theory]
    [InlineData("abc", true)]
    [InlineData("A_b.c-9", true)]
    [InlineData("ab", false)]
    [InlineData("has space", false)]
    [InlineData("ünï", false)]
    [InlineData("abcdefghijklmnopqrstuvwxyz012345", true)]
    [InlineData("abcdefghijklmnopqrstuvwxyz0123456", false)]
    [InlineData(null, false)]
    public void Usernames(string? name, bool valid) => Assert.Equal(valid, AccountRules.IsValidUsername(name));

    [Theory]
    [InlineData(7, false)]
    [InlineData(8, true)]
    [InlineData(128, true)]
    [InlineData(129, false)]
    public void Password_lengths(int length, bool valid) => Assert.Equal(valid, AccountRules.IsValidPassword(new string('x', length)));

    [Fact]
    public void Tags_are_normalised_deduplicated_and_bounded()
    {
        var v = new Validation();
        var tags = AccountRules.CheckTags(v, JsonDocument.Parse("""[" Go ", "go", "Chess"]""").RootElement);
        Assert.True(v.IsValid);
        Assert.Equal(["go", "chess"], tags);

        var tooMany = new Validation();
        AccountRules.CheckTags(tooMany, JsonDocument.Parse("[" + string.Join(",", Enumerable.Range(0, 21).Select(i => $"\"t{i}\"")) + "]").RootElement);
        Assert.False(tooMany.IsValid);

        Assert.Null(AccountRules.NormalizeTag("a,b"));
        Assert.Null(AccountRules.NormalizeTag("a b"));
        Assert.Null(AccountRules.NormalizeTag(new string('t', 33)));
        Assert.Equal(["a", "b"], AccountRules.ParseTagQuery(new Validation(), " A, b ,,a"));
    }

    [Theory]
    [InlineData("someone@example.com", true)]
    [InlineData("no-at-sign", false)]
    [InlineData("two@@example.com", false)]
    [InlineData("@example.com", false)]
    [InlineData("a@", false)]
    [InlineData("sp ace@example.com", false)]
    public void Emails(string email, bool valid)
    {
        var v = new Validation();
        AccountRules.CheckEmail(v, email);
        Assert.Equal(valid, v.IsValid);
    }

    [Fact]
    public void Ids_are_unique_increasing_and_round_trip_as_strings()
    {
        var generator = new IdGenerator(3);
        var ids = Enumerable.Range(0, 20_000).Select(_ => generator.Next()).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(ids.Order(), ids);
        Assert.True(Ids.TryParse(Ids.Format(ids[^1]), out var parsed));
        Assert.Equal(ids[^1], parsed);
        Assert.False(Ids.TryParse("-1", out _));
        Assert.False(Ids.TryParse("+1", out _));
        Assert.False(Ids.TryParse("0", out _));
        Assert.False(Ids.TryParse("12a", out _));
        Assert.False(Ids.TryParse("99999999999999999999", out _));
        Assert.False(Ids.TryParse(null, out _));
    }

    [Theory]
    [InlineData("admin\u202Egnp.exe", "admingnp.exe")] // right-to-left override
    [InlineData("\u2066Bob\u2069", "Bob")] // isolates
    [InlineData("Bo\u200Bb\uFEFF", "Bob")] // zero-width space, BOM
    [InlineData("\u200D\u200C", "")] // joiners with nothing to join
    [InlineData("a \u200D b", "a  b")] // a joiner next to spaces joins nothing
    [InlineData("\U0001F468\u200D\U0001F469\u200D\U0001F467", "\U0001F468\u200D\U0001F469\u200D\U0001F467")] // an emoji family keeps its joiners
    [InlineData("\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645", "\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645")] // Persian keeps its non-joiner
    [InlineData("flag\U000E0067\U000E0062", "flag")] // invisible tag characters
    [InlineData("plain", "plain")]
    public void Format_characters_are_stripped_from_names(string name, string expected) =>
        Assert.Equal(expected, AccountRules.WithoutFormatCharacters(name));

    [Fact]
    public void A_nickname_of_only_format_characters_is_refused()
    {
        var v = new Validation();
        Assert.Null(AccountRules.CheckNickname(v, "\u202E\u200B "));
        Assert.Equal("Bob", AccountRules.CheckNickname(new Validation(), " \u202EBob"));
        Assert.False(v.IsValid);
    }
}
