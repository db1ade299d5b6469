using System.Diagnostics;
using System.Text;
using Dapper;
using Parley.Storage;
using Parley.Storage.Messaging;
using Parley.Storage.Search;

/// <summary>
/// Message search figures (docs/benchmarks.md, "Search (issue 16)"): <c>--search-fill N</c> stores N messages of
/// generated Latin and CJK text through the append path, makes searching users members of more conversations, then
/// times <c>--search-queries Q</c> searches per kind of query through <see cref="MessageSearchStore"/> (p50/p99) and
/// reports the index's size. <c>--search-index off</c> drops the index after the migrations (the paired "before").
/// </summary>
internal static class SearchBench
{
    /// <summary>Drops the search index from the write path: SQLite's FTS5 table and triggers (0014 or 0016), PostgreSQL's GIN index.</summary>
    public static async Task DropIndexAsync(Database database)
    {
        await using var connection = await database.OpenAsync();
        if (database.Provider == StorageProvider.Sqlite)
        {
            foreach (var trigger in new[] { "messages_search_insert", "messages_search_update", "messages_search_reinsert", "messages_search_delete" })
            {
                await connection.ExecuteAsync($"DROP TRIGGER IF EXISTS {trigger}");
            }

            // Migration 0016: the writer inserts the entries itself when the table exists.
            await connection.ExecuteAsync("DROP TABLE message_search");
        }
        else
        {
            await connection.ExecuteAsync("DROP INDEX ix_messages_search");
        }
    }

    public static async Task RunAsync(Database database, MessageStore store, List<(long Id, long Low, long High)> conversations, int fill, int queries)
    {
        var random = new Random(7);
        var words = Enumerable.Range(0, 5000).Select(_ => Word(random)).Distinct().ToArray();
        const string Han = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坐集编宝谈府拉黑且随格尽剑讲布杀微怕母调局根曾准团段终乐切级克精哪官示冷域仅宋陈够";
        const string Kana = "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをんアイウエオカキクケコサシスセソタチツテト";

        string Text(Random r)
        {
            var sb = new StringBuilder();
            var kind = r.Next(10);
            if (kind < 6)
            {
                // Latin: 4-14 words, Zipf-like (the first words of the list far more often)
                var n = r.Next(4, 15);
                for (var i = 0; i < n; i++)
                {
                    sb.Append(i == 0 ? "" : " ").Append(words[(int)(words.Length * Math.Pow(r.NextDouble(), 3))]);
                }
            }
            else if (kind < 9)
            {
                var n = r.Next(6, 30);
                for (var i = 0; i < n; i++)
                {
                    sb.Append(Han[(int)(Han.Length * Math.Pow(r.NextDouble(), 2))]);
                }
            }
            else
            {
                var n = r.Next(6, 30);
                for (var i = 0; i < n; i++)
                {
                    sb.Append(i % 3 == 0 ? Han[r.Next(Han.Length)] : Kana[r.Next(Kana.Length)]);
                }
            }

            return sb.ToString();
        }

        // Fill through the append path, in big batches (the writer's own group commit).
        var serial = 0L;
        var watch = Stopwatch.StartNew();
        var batch = new NewMessage[256];
        var samples = new List<(long Conversation, string Text)>();
        while (serial < fill)
        {
            var count = (int)Math.Min(batch.Length, fill - serial);
            var page = count == batch.Length ? batch : new NewMessage[count];
            for (var i = 0; i < count; i++)
            {
                var (conversationId, low, high) = conversations[random.Next(conversations.Count)];
                var text = Text(random);
                if (samples.Count < 20_000 && random.Next(25) == 0)
                {
                    samples.Add((conversationId, text));
                }

                var json = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string> { ["text"] = text });
                page[i] = new NewMessage(conversationId, (serial & 1) == 0 ? low : high, "s" + serial, "text", json, null, null, [], false, 1_700_000_000_000 + serial, []);
                serial++;
            }

            await store.AppendAsync(page, CancellationToken.None);
        }

        Console.WriteLine($"search: filled {fill} messages in {watch.Elapsed.TotalSeconds:F0} s ({fill / watch.Elapsed.TotalSeconds:F0} msg/s)");

        // Searching users: one side of a conversation each, made a member of 20 more conversations (from seq 0).
        var searchers = new List<(long User, long Own, HashSet<long> Visible)>();
        await using (var connection = await database.OpenAsync())
        {
            for (var i = 0; i < 50; i++)
            {
                var (own, low, _) = conversations[random.Next(conversations.Count)];
                var visible = new HashSet<long> { own };
                foreach (var (other, _, _) in conversations.OrderBy(_ => random.Next()).Take(20))
                {
                    if (other != own)
                    {
                        await connection.ExecuteAsync(
                            "INSERT INTO conversation_members (conversation_id, user_id, joined_seq, read_seq) VALUES (@other, @low, 0, 0) ON CONFLICT DO NOTHING",
                            new { other, low });
                        visible.Add(other);
                    }
                }

                searchers.Add((low, own, visible));
            }
        }

        var search = new MessageSearchStore(database);
        // A piece of a stored message the searcher can see (of their own conversation when scoped): a query that finds something.
        string Piece(Random r, (long User, long Own, HashSet<long> Visible) searcher, bool scoped, int length, bool cjk)
        {
            for (var attempt = 0; ; attempt++)
            {
                var (conversation, s) = samples[r.Next(samples.Count)];
                var mine = scoped ? conversation == searcher.Own : searcher.Visible.Contains(conversation);
                if ((mine || attempt > 100_000) && (s[0] > 0x2E80) == cjk && s.Length >= length)
                {
                    var piece = s.Substring(r.Next(s.Length - length + 1), length);
                    if (!cjk || !piece.Contains(' ', StringComparison.Ordinal))
                    {
                        return piece;
                    }
                }
            }
        }

        string Frequent(Random r) => words[(int)(words.Length * Math.Pow(r.NextDouble(), 3))];
        var kinds = new (string Name, Func<Random, (long, long, HashSet<long>), string> Query, bool Scoped)[]
        {
            ("frequent word", (r, _) => Frequent(r), false),
            ("rare word", (r, _) => words[words.Length - 1 - r.Next(words.Length / 2)], false),
            ("latin 8 chars", (r, u) => Piece(r, u, false, 8, false), false),
            ("CJK 3 chars", (r, u) => Piece(r, u, false, 3, true), false),
            ("CJK 5 chars", (r, u) => Piece(r, u, false, 5, true), false),
            ("2 chars CJK (scan)", (r, u) => Piece(r, u, false, 2, true), false),
            ("2 chars latin (scan)", (r, u) => Piece(r, u, false, 2, false).Replace(' ', 'e'), false),
            ("absent word", (r, _) => "zq" + Word(r), false),
            ("frequent word, one conversation", (r, _) => Frequent(r), true),
            ("CJK 3 chars, one conversation", (r, u) => Piece(r, u, true, 3, true), true),
            ("2 chars CJK, one conversation", (r, u) => Piece(r, u, true, 2, true), true),
        };
        foreach (var (name, query, scoped) in queries > 0 ? kinds : [])
        {
            var r = new Random(11);
            var times = new List<double>();
            var found = 0L;
            for (var i = 0; i < queries; i++)
            {
                var searcher = searchers[r.Next(searchers.Count)];
                var (user, own, _) = searcher;
                var q = query(r, searcher);
                var started = Stopwatch.GetTimestamp();
                var (rows, _) = await search.SearchAsync(user, scoped ? own : null, q, SearchPosition.Start, 50, 1 << 20, 0, 2000, CancellationToken.None);
                times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                found += rows.Count;
            }

            times.Sort();
            Console.WriteLine(
                $"search {name}: n={queries} p50_ms={times[times.Count / 2]:F2} p99_ms={times[Math.Min(times.Count - 1, times.Count * 99 / 100)]:F2} max_ms={times[^1]:F2} avg_results={found / (double)queries:F1}");
        }

        await using (var connection = await database.OpenAsync())
        {
            if (database.Provider == StorageProvider.Sqlite)
            {
                await connection.ExecuteAsync("PRAGMA wal_checkpoint(TRUNCATE)");
                Console.WriteLine($"search: database file {new FileInfo(database.SqlitePath!).Length / 1e6:F1} MB");
                try
                {
                    var index = await connection.ExecuteScalarAsync<long>("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'message_search%'");
                    var messages = await connection.ExecuteScalarAsync<long>("SELECT SUM(pgsize) FROM dbstat WHERE name = 'messages' OR name LIKE 'sqlite_autoindex_messages%' OR name LIKE 'ix_messages%' OR name LIKE 'ux_messages%'");
                    Console.WriteLine($"search: index {index / 1e6:F1} MB, messages with their indexes {messages / 1e6:F1} MB");
                }
                catch (Microsoft.Data.Sqlite.SqliteException)
                {
                    Console.WriteLine("search: (no dbstat in this SQLite build: compare the file sizes of runs with --search-index on and off)");
                }
            }
            else
            {
                var index = await connection.ExecuteScalarAsync<long?>("SELECT pg_relation_size(to_regclass('ix_messages_search'))") ?? 0;
                var messages = await connection.ExecuteScalarAsync<long>("SELECT pg_total_relation_size('messages')");
                Console.WriteLine($"search: index {index / 1e6:F1} MB, messages with all their indexes {messages / 1e6:F1} MB");
            }
        }
    }

    private static string Word(Random r)
    {
        const string Letters = "abcdefghijklmnopqrstuvwxyz";
        var n = r.Next(4, 10);
        var chars = new char[n];
        for (var i = 0; i < n; i++)
        {
            chars[i] = Letters[r.Next(Letters.Length)];
        }

        return new string(chars);
    }
}
