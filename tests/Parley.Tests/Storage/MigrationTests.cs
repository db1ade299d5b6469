using Dapper;
using Parley.Storage;
using Parley.Storage.Migrations;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Storage;

public sealed class MigrationTestsSqlite() : MigrationTests(Backend.Sqlite);

public sealed class MigrationTestsPostgres() : MigrationTests(Backend.Postgres);

public abstract class MigrationTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task Migrations_apply_once_and_a_second_start_applies_nothing()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var database = store.OpenDatabase();
        var all = MigrationRunner.Load(database.Provider);
        Assert.NotEmpty(all);
        Assert.Equal(Enumerable.Range(1, all.Count), all.Select(m => m.Version));

        var first = await MigrationRunner.ApplyAsync(database);
        Assert.Equal(all.Select(m => m.Version), first);
        var second = await MigrationRunner.ApplyAsync(database);
        Assert.Empty(second);

        await using var connection = await database.OpenAsync();
        var recorded = (await connection.QueryAsync<int>("SELECT version FROM schema_migrations ORDER BY version")).ToList();
        Assert.Equal(all.Select(m => m.Version), recorded);
    }

    [Fact]
    public async Task Concurrent_starters_apply_each_migration_exactly_once()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var databases = Enumerable.Range(0, 3).Select(_ => store.OpenDatabase()).ToList();
        try
        {
            var results = await Task.WhenAll(databases.Select(d => MigrationRunner.ApplyAsync(d)));
            var versions = results.SelectMany(r => r).ToList();
            Assert.Equal(MigrationRunner.Load(databases[0].Provider).Count, versions.Count);
            Assert.Equal(versions.Count, versions.Distinct().Count());
        }
        finally
        {
            foreach (var d in databases)
            {
                await d.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_changed_applied_migration_stops_startup()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var database = store.OpenDatabase();
        await MigrationRunner.ApplyAsync(database);
        await using (var connection = await database.OpenAsync())
        {
            await connection.ExecuteAsync("UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1");
        }

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => MigrationRunner.ApplyAsync(database));
        Assert.Contains("changed after it was applied", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_database_from_a_newer_version_stops_startup()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var database = store.OpenDatabase();
        await MigrationRunner.ApplyAsync(database);
        await using (var connection = await database.OpenAsync())
        {
            await connection.ExecuteAsync("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (9999, 'future', 'x', 0)");
        }

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => MigrationRunner.ApplyAsync(database));
        Assert.Contains("newer version", error.Message, StringComparison.Ordinal);
    }
}
