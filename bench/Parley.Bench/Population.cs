using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Parley.Client;

namespace Parley.Bench;

/// <summary>A prepared user: credentials and a device session whose tokens the tool reuses run after run.</summary>
public sealed class BenchUser
{
    public string Username { get; set; } = "";

    public string Id { get; set; } = "";

    public string DeviceId { get; set; } = "";

    public Tokens Tokens { get; set; } = null!;
}

public sealed class BenchGroup
{
    public string Id { get; set; } = "";

    public string ConversationId { get; set; } = "";

    public int Members { get; set; }
}

/// <summary>
/// The users, pairs (friends with a direct conversation: users 2i and 2i+1) and groups (users 0..M-1) the
/// phases need, created once through the public API and saved in <c>DataDir/bench-users.json</c>. Creating
/// 19,000 users with a slow password hash would take minutes on 2 cores, so later runs reuse them (the bench
/// server runs with cheap Argon2id settings, <see cref="ServerProcess.CheapPasswordHashes"/>, and day-long access
/// tokens; expired ones are refreshed, which needs no password hash).
/// </summary>
public sealed class Population
{
    public string Prefix { get; set; } = "";

    public List<BenchUser> Users { get; set; } = [];

    /// <summary>The direct conversation of pair i (users 2i and 2i+1).</summary>
    public List<string> Pairs { get; set; } = [];

    public Dictionary<string, BenchGroup> Groups { get; set; } = [];

    private string _path = "";

    public static async Task<Population> LoadOrCreateAsync(string path, Uri server, HttpMessageHandler handler, TextWriter log)
    {
        if (File.Exists(path))
        {
            var saved = JsonSerializer.Deserialize(await File.ReadAllTextAsync(path), BenchJson.Default.Population);
            if (saved is { Users.Count: > 0 })
            {
                saved._path = path;
                using var probe = saved.Client(server, handler, 0);
                try
                {
                    await probe.MeAsync();
                    log.WriteLine($"reusing {saved.Users.Count} prepared users from {path}");
                    return saved;
                }
                catch (ParleyApiException e) when (e.Status == HttpStatusCode.Unauthorized)
                {
                    log.WriteLine($"{path} does not match this server's data ({e.Code}); preparing new users");
                }
            }
        }

        return new Population { Prefix = "b" + Guid.NewGuid().ToString("N")[..6], _path = path };
    }

    /// <summary>A client signed in as user <paramref name="index"/>; refreshed tokens are written back.</summary>
    public ParleyClient Client(Uri server, HttpMessageHandler handler, int index)
    {
        var user = Users[index];
        var client = new ParleyClient(server, handler);
        client.UseSession(user.Id, user.DeviceId, user.Tokens);
        client.TokensChanged += tokens => user.Tokens = tokens;
        return client;
    }

    /// <summary>Makes sure at least <paramref name="users"/> users, their pairs and the groups of the given sizes exist.</summary>
    public async Task EnsureAsync(Uri server, HttpMessageHandler handler, int users, IEnumerable<int> groupSizes, TextWriter log, int? pairsNeeded = null)
    {
        users += users % 2; // pairs
        if (Users.Count < users)
        {
            log.WriteLine($"preparing users {Users.Count}..{users - 1} (once; reused by later runs)");
            var created = new BenchUser[users - Users.Count];
            var first = Users.Count;
            await Parallel.ForEachAsync(Enumerable.Range(0, created.Length), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
            {
                using var client = new ParleyClient(server, handler);
                var name = $"{Prefix}_{first + i}";
                var result = await client.RegisterAsync(name, "bench password " + Prefix, device: "bench", cancellationToken: ct);
                created[i] = new BenchUser { Username = name, Id = result.User.Id, DeviceId = result.DeviceId, Tokens = result.Tokens };
            });
            Users.AddRange(created);
            await SaveAsync();
        }

        // Only the pairs the phases use: the connect phase's users need none (57,000 of them would be minutes of friendships).
        var pairs = Math.Min(Users.Count / 2, pairsNeeded ?? Users.Count / 2);
        if (Pairs.Count < pairs)
        {
            log.WriteLine($"preparing pairs {Pairs.Count}..{pairs - 1}");
            var made = new string[pairs - Pairs.Count];
            var first = Pairs.Count;
            await Parallel.ForEachAsync(Enumerable.Range(0, made.Length), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
            {
                var pair = first + i;
                using var a = Client(server, handler, 2 * pair);
                using var b = Client(server, handler, (2 * pair) + 1);
                await a.SendFriendRequestAsync(b.UserId!, cancellationToken: ct);
                await b.SendFriendRequestAsync(a.UserId!, cancellationToken: ct); // crossing requests: friends at once
                made[i] = (await a.DirectConversationAsync(b.UserId!, ct)).Id;
            });
            Pairs.AddRange(made);
            await SaveAsync();
        }

        foreach (var size in groupSizes.Distinct())
        {
            var key = size.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (Groups.ContainsKey(key))
            {
                continue;
            }

            log.WriteLine($"preparing a group of {size}");
            using var owner = Client(server, handler, 0);
            var members = Users.Take(size).Skip(1).Select(u => u.Id).ToList();
            var group = await owner.CreateGroupAsync($"bench {size}", members.Take(100).ToList(), joinPolicy: "invite", visibility: "private");
            foreach (var chunk in members.Skip(100).Chunk(100))
            {
                await owner.AddGroupMembersAsync(group.Id, chunk);
            }

            Groups[key] = new BenchGroup { Id = group.Id, ConversationId = group.ConversationId, Members = size };
            await SaveAsync();
        }
    }

    public Task SaveAsync() => File.WriteAllTextAsync(_path, JsonSerializer.Serialize(this, BenchJson.Default.Population));
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = false)]
[JsonSerializable(typeof(Population))]
[JsonSerializable(typeof(PhaseResult))]
internal sealed partial class BenchJson : JsonSerializerContext;
