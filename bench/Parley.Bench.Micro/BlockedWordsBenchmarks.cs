using BenchmarkDotNet.Attributes;
using Parley.Server.Moderation;

namespace Parley.Bench.Micro;

/// <summary>
/// <see cref="BlockedWords"/> over a 10,000-word list (half Latin words, half CJK phrases, made from a fixed seed):
/// building the automaton, and scanning a clean chat line, a long clean text and a line with matches (mask).
/// </summary>
[MemoryDiagnoser]
public class BlockedWordsBenchmarks
{
    private readonly List<string> _list = MakeList(10_000);
    private BlockedWords _words = BlockedWords.Empty;
    private BlockedWords _ten = BlockedWords.Empty;

    private const string Line = "on my way, see you at the station in ten minutes 我们在车站见";
    private static readonly string Long = string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog; 敏捷的棕色狐狸跳过了懒狗。", 60));
    private string _dirty = "";

    [GlobalSetup]
    public void Setup()
    {
        _words = new BlockedWords(_list);
        _ten = new BlockedWords(_list.Take(10));
        _dirty = $"so {_list[17]} and {_list[5003]} again";
    }

    [Benchmark]
    public BlockedWords Build10k() => new(_list);

    [Benchmark(Baseline = true)]
    public bool Line_10words() => _ten.Matches(Line);

    [Benchmark]
    public bool Line_10k() => _words.Matches(Line);

    [Benchmark]
    public bool Long3KChars_10k() => _words.Matches(Long);

    [Benchmark]
    public string MaskDirty_10k() => _words.Mask(_dirty);

    internal static List<string> MakeList(int count)
    {
        var random = new Random(15);
        var list = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            var cjk = i % 2 == 1;
            var chars = new char[random.Next(cjk ? 2 : 4, cjk ? 5 : 10)];
            for (var j = 0; j < chars.Length; j++)
            {
                chars[j] = cjk ? (char)random.Next(0x4E00, 0x9FA5) : (char)random.Next('a', 'z' + 1);
            }

            list.Add(new string(chars));
        }

        return list;
    }
}
