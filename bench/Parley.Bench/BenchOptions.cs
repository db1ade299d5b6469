using System.Globalization;

namespace Parley.Bench;

/// <summary>Command-line options (see docs/benchmarks.md).</summary>
public sealed class BenchOptions
{
    /// <summary>The first of <see cref="Servers"/> (the node HTTP calls go to), or null: the tool starts one.</summary>
    public Uri? Server => Servers.Count > 0 ? Servers[0] : null;

    public int? ServerPid => ServerPids.Count > 0 ? ServerPids[0] : null;

    /// <summary>Running nodes to target (one or several of one cluster); users are spread over them.</summary>
    public List<Uri> Servers { get; set; } = [];

    /// <summary>The nodes' process ids, in the order of <see cref="Servers"/> (CPU and RSS are read per node).</summary>
    public List<int> ServerPids { get; set; } = [];

    /// <summary>
    /// How users are spread over several nodes: <c>cross</c> (user i on node i mod N, so the two users of a pair are
    /// always on different nodes) or <c>local</c> (pair p on node p mod N, both users on it).
    /// </summary>
    public string Placement { get; set; } = "cross";

    /// <summary>At most this many sockets per process (the tool's and each node's open files are capped at 20,000).</summary>
    public int SocketsPerProcess { get; set; } = 19_000;

    /// <summary>failover: which node (1-based, in --server order) is killed; default the last.</summary>
    public int? FailoverNode { get; set; }

    public string Provider { get; set; } = "sqlite";

    public string? Connection { get; set; }

    public string DataDir { get; set; } = Path.Combine("bench", ".data");

    public HashSet<string> Phases { get; set; } = ["connect", "thru", "lat", "fanout"];

    public int ConnectUsers { get; set; } = 19_000;

    public List<int> ThruUsers { get; set; } = [1_000, 10_000];

    public int InFlight { get; set; } = 1;

    public TimeSpan Warmup { get; set; } = TimeSpan.FromSeconds(3);

    public TimeSpan Measured { get; set; } = TimeSpan.FromSeconds(15);

    public int LatUsers { get; set; } = 1_000;

    public int LatRate { get; set; } = 1_000;

    public List<int> FanoutSizes { get; set; } = [100, 1_000];

    public int FanoutSenders { get; set; } = 4;

    public int FanoutInFlight { get; set; } = 4;

    public int Addresses { get; set; } = 8;

    public int LoginUsers { get; set; } = 200;

    public int LoginClients { get; set; } = 200;

    public List<string> ServerArgs { get; set; } = [];

    /// <summary>Start a before-send hook receiver that answers accept after this many milliseconds (null: no hook).</summary>
    public int? HookDelayMs { get; set; }

    /// <summary>With the hook: also the message.created events (through the outbox) to the same receiver.</summary>
    public bool HookEvents { get; set; }

    public string? JsonOut { get; set; }

    /// <summary><c>ws</c> (default) or <c>xmpp</c>: the devices of thru and lat over XMPP c2s (SASL PLAIN in the clear, loopback).</summary>
    public string Transport { get; set; } = "ws";

    /// <summary>--transport xmpp against a running server: its Xmpp:Port and Xmpp:Domain (the tool's own server gets them set).</summary>
    public int? XmppPort { get; set; }

    public string XmppDomain { get; set; } = "bench.local";

    public const string Usage = """
        Parley.Bench: starts a Parley server (or targets one) and runs the benchmark phases.

          dotnet run -c Release --project bench/Parley.Bench -- [options]

          --phases connect,thru,lat,fanout   which phases (default: all)
          --provider sqlite|postgres         storage of the server the tool starts (default sqlite)
          --connection "<npgsql string>"     PostgreSQL connection string (with --provider postgres)
          --data DIR                         data directory root (default bench/.data; users are prepared once per provider and reused)
          --server URL[,URL...] [--pid PID[,PID...]]
                                             target running servers instead (their guards must be raised: see
                                             docs/benchmarks.md); several URLs: nodes of one cluster, users spread
                                             over them, CPU and RSS read per node PID
          --placement cross|local            with several nodes: cross (default) puts the two users of every pair on
                                             different nodes (every 1:1 message crosses the bus); local puts both on one
          --phases failover                  several nodes with PIDs: the lat open loop (--lat-users, --lat-rate), one
                                             node killed with SIGKILL after the warm-up, its devices reconnect to the
                                             next node and catch up by after=: time until the last is back and caught
                                             up (the node stays dead: run it last, then restart the cluster)
          --failover-node K                  which node dies (1-based in --server order; default the last)
          --phases prepare                   only prepare the users (and pairs) that connect, thru and lat at the sizes
                                             given would need, to measure later runs on a quiet machine
          --sockets-per-process N            connect: at most N sockets per process (default 19000); more users are
                                             connected by worker processes of this tool, one per node and slice
          --connect-users N                  connect phase size (default 19000)
          --thru-users N[,N...]              thru phase sizes (default 1000,10000)
          --inflight K                       messages in flight per user in thru (default 1)
          --warmup S --seconds S             warm-up and measured seconds per phase (default 3 and 15)
          --lat-users N --lat-rate R         lat phase users and total msg/s (default 1000 and 1000)
          --fanout-sizes M[,M...]            group sizes (default 100,1000)
          --fanout-senders S --fanout-inflight K   senders in the group and messages in flight each (default 4 and 4)
          --addresses A                      loopback source addresses 127.0.0.2.. for client sockets (default 8)
          --phases login                     instead: logins per second and peak server RSS at the server's default
                                             password-hash settings (runs alone; not part of the default phases)
          --login-users N --login-clients C  users registered for it, and clients logging in at once (default 200 and 200)
          --server-arg --Section:Key=value   an extra server setting (repeatable)
          --hook-delay-ms D                  start a before-send hook receiver answering accept after D ms, and
                                             point the server at it (Webhooks:BeforeSend); --hook-events also sends
                                             message.created events to it through the outbox
          --transport ws|xmpp                the devices' transport (default ws); xmpp: thru and lat only, each device
                                             an XMPP c2s stream (SASL PLAIN in the clear on loopback, bind, chat stanzas
                                             to its partner's JID); the tool's server gets Xmpp:Port/Domain/AllowPlaintext
          --xmpp-port P --xmpp-domain D      with --server and --transport xmpp: the server's Xmpp:Port and Xmpp:Domain
          --json FILE                        also append the JSON lines to FILE
          --quick                            a small, few-second run of every phase (a correctness check)
        """;

    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            static List<int> Ints(string value) => value.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToList();
            switch (args[i])
            {
                case "--phases": options.Phases = Next().Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(); break;
                case "--provider": options.Provider = Next(); break;
                case "--connection": options.Connection = Next(); break;
                case "--data": options.DataDir = Next(); break;
                case "--server": options.Servers = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(u => new Uri(u)).ToList(); break;
                case "--pid": options.ServerPids = Ints(Next()); break;
                case "--placement": options.Placement = Next(); break;
                case "--failover-node": options.FailoverNode = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--sockets-per-process": options.SocketsPerProcess = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--connect-users": options.ConnectUsers = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--thru-users": options.ThruUsers = Ints(Next()); break;
                case "--inflight": options.InFlight = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--warmup": options.Warmup = TimeSpan.FromSeconds(double.Parse(Next(), CultureInfo.InvariantCulture)); break;
                case "--seconds": options.Measured = TimeSpan.FromSeconds(double.Parse(Next(), CultureInfo.InvariantCulture)); break;
                case "--lat-users": options.LatUsers = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--lat-rate": options.LatRate = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--fanout-sizes": options.FanoutSizes = Ints(Next()); break;
                case "--fanout-senders": options.FanoutSenders = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--fanout-inflight": options.FanoutInFlight = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--addresses": options.Addresses = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--login-users": options.LoginUsers = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--login-clients": options.LoginClients = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--server-arg": options.ServerArgs.Add(Next()); break;
                case "--hook-delay-ms": options.HookDelayMs = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--hook-events": options.HookEvents = true; break;
                case "--json": options.JsonOut = Next(); break;
                case "--transport": options.Transport = Next(); break;
                case "--xmpp-port": options.XmppPort = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--xmpp-domain": options.XmppDomain = Next(); break;
                case "--quick":
                    options.ConnectUsers = 200;
                    options.ThruUsers = [100];
                    options.LatUsers = 50;
                    options.LatRate = 200;
                    options.FanoutSizes = [20];
                    options.FanoutSenders = 2;
                    options.FanoutInFlight = 2;
                    options.Warmup = TimeSpan.FromSeconds(0.5);
                    options.Measured = TimeSpan.FromSeconds(2);
                    options.Addresses = 2;
                    break;
                case "--help" or "-h": throw new ArgumentException(Usage);
                default: throw new ArgumentException($"unknown option {args[i]}\n\n{Usage}");
            }
        }

        if (options.Phases.Contains("login") && options.Phases.Count > 1)
        {
            throw new ArgumentException("--phases login runs alone: its server keeps the default password-hash settings, the other phases' server does not");
        }

        if (options.Placement is not ("cross" or "local"))
        {
            throw new ArgumentException("--placement is cross or local");
        }

        if (options.ServerPids.Count > 0 && options.ServerPids.Count != options.Servers.Count)
        {
            throw new ArgumentException("--pid needs one PID per --server URL, in the same order");
        }

        if (options.Transport is not ("ws" or "xmpp"))
        {
            throw new ArgumentException("--transport is ws or xmpp");
        }

        if (options.Transport == "xmpp" && options.Phases.Any(p => p is not ("thru" or "lat" or "prepare")))
        {
            throw new ArgumentException("--transport xmpp runs the thru and lat phases (--phases thru,lat)");
        }

        if (options.Transport == "xmpp" && options.Servers.Count > 0 && options.XmppPort is null)
        {
            throw new ArgumentException("--transport xmpp with --server needs --xmpp-port (the server's Xmpp:Port)");
        }

        if (options.SocketsPerProcess < 1)
        {
            throw new ArgumentException("--sockets-per-process must be at least 1");
        }

        if (options.LoginUsers < 1 || options.LoginClients < 1)
        {
            throw new ArgumentException("--login-users and --login-clients must be at least 1");
        }

        return options;
    }

    /// <summary>The login phase alone: no prepared population, default password hashing on the server.</summary>
    public bool LoginOnly => Phases.Count == 1 && Phases.Contains("login");

    /// <summary>How many prepared pairs (friends with a direct conversation) the chosen phases need.</summary>
    public int PairsNeeded() => new[]
    {
        Phases.Contains("thru") || Phases.Contains("prepare") ? ThruUsers.DefaultIfEmpty(0).Max() : 0,
        Phases.Contains("lat") || Phases.Contains("failover") || Phases.Contains("prepare") ? LatUsers : 0,
        2,
    }.Max() / 2;

    /// <summary>How many prepared users the chosen phases need.</summary>
    public int UsersNeeded() => new[]
    {
        Phases.Contains("connect") || Phases.Contains("prepare") ? ConnectUsers : 0,
        Phases.Contains("thru") || Phases.Contains("prepare") ? ThruUsers.DefaultIfEmpty(0).Max() : 0,
        Phases.Contains("lat") || Phases.Contains("failover") || Phases.Contains("prepare") ? LatUsers : 0,
        Phases.Contains("fanout") ? FanoutSizes.DefaultIfEmpty(0).Max() : 0,
        2,
    }.Max();
}
