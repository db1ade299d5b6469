namespace Parley.Server.Moderation;

/// <summary>
/// A blocked-words list compiled into an Aho-Corasick automaton over case-folded UTF-16 text: one pass over the
/// text finds every occurrence of every word, whatever the size of the list (a 10,000-word list costs about what
/// a 10-word one does per character of text). Immutable once built; share it between threads.
/// </summary>
/// <remarks>
/// Case folding is per UTF-16 unit (<see cref="char.ToLowerInvariant"/>), which keeps positions in the folded text
/// those of the original, so a match masks exactly the original characters. A word whose end is a letter or digit of
/// a script written with spaces (Latin, Cyrillic, Greek...) matches only at a word boundary there ("ass" does not
/// match "class"); an end in a script written without spaces (Han, kana, Hangul, Thai...) matches anywhere, so CJK
/// phrases are found inside running text.
/// </remarks>
public sealed class BlockedWords
{
    // Node 0 is the root. Each node's children are a sorted slice of _keys/_targets.
    private readonly int[] _childStart;
    private readonly int[] _childCount;
    private readonly char[] _keys;
    private readonly int[] _targets;
    private readonly int[] _fail;
    // The length of the word ending at this node (0: none) and the next node on the fail chain that ends a word.
    private readonly int[] _wordLength;
    private readonly int[] _outputLink;
    private readonly byte[] _boundaries;
    // The root's transitions for every UTF-16 unit (256 KiB), so the commonest step, from the root, is an array read
    // (with thousands of CJK words the root has thousands of children).
    private readonly int[] _root = new int[char.MaxValue + 1];

    private const byte StartBoundary = 1;
    private const byte EndBoundary = 2;

    public static readonly BlockedWords Empty = new([]);

    public int Count { get; }

    public BlockedWords(IEnumerable<string> words)
    {
        // Build with per-node dictionaries, then flatten into arrays (smaller, and faster to walk).
        var children = new List<Dictionary<char, int>> { new() };
        var wordLength = new List<int> { 0 };
        var boundaries = new List<byte> { 0 };
        var count = 0;
        foreach (var raw in words)
        {
            var word = Fold(raw.Trim());
            if (word.Length == 0)
            {
                continue;
            }

            var node = 0;
            foreach (var c in word)
            {
                if (!children[node].TryGetValue(c, out var next))
                {
                    next = children.Count;
                    children.Add([]);
                    wordLength.Add(0);
                    boundaries.Add(0);
                    children[node][c] = next;
                }

                node = next;
            }

            if (wordLength[node] == 0)
            {
                count++;
            }

            wordLength[node] = word.Length;
            boundaries[node] = (byte)((NeedsBoundary(word[0]) ? StartBoundary : 0) | (NeedsBoundary(word[^1]) ? EndBoundary : 0));
        }

        Count = count;
        var n = children.Count;
        _childStart = new int[n];
        _childCount = new int[n];
        var edges = children.Sum(c => c.Count);
        _keys = new char[edges];
        _targets = new int[edges];
        var at = 0;
        for (var i = 0; i < n; i++)
        {
            _childStart[i] = at;
            _childCount[i] = children[i].Count;
            foreach (var (key, target) in children[i].OrderBy(p => p.Key))
            {
                _keys[at] = key;
                _targets[at] = target;
                at++;
            }
        }

        _wordLength = wordLength.ToArray();
        _boundaries = boundaries.ToArray();
        _fail = new int[n];
        _outputLink = new int[n];
        Array.Fill(_outputLink, -1);

        // Breadth first: a node's fail link is the longest proper suffix of its path that is also a path.
        var queue = new Queue<int>();
        for (var e = 0; e < _childCount[0]; e++)
        {
            queue.Enqueue(_targets[e]);
        }

        while (queue.Count > 0)
        {
            var node = queue.Dequeue();
            var fail = _fail[node];
            _outputLink[node] = _wordLength[fail] > 0 ? fail : _outputLink[fail];
            for (var e = _childStart[node]; e < _childStart[node] + _childCount[node]; e++)
            {
                var (key, child) = (_keys[e], _targets[e]);
                var f = fail;
                var next = -1;
                while (true)
                {
                    next = Child(f, key);
                    if (next >= 0 || f == 0)
                    {
                        break;
                    }

                    f = _fail[f];
                }

                _fail[child] = next >= 0 && next != child ? next : 0;
                queue.Enqueue(child);
            }
        }

        Array.Fill(_root, -1);
        for (var e = 0; e < _childCount[0]; e++)
        {
            _root[_keys[e]] = _targets[e];
        }
    }

    /// <summary>Whether the text holds a blocked word. Allocates nothing.</summary>
    public bool Matches(ReadOnlySpan<char> text) => Scan(text, collect: false, out _);

    /// <summary>The text with every character of every blocked word replaced by <c>*</c> (a surrogate pair by one); the same string when nothing matched.</summary>
    public string Mask(string text)
    {
        if (!Scan(text, collect: true, out var masked) || masked is null)
        {
            return text;
        }

        var result = new System.Text.StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (!masked[i])
            {
                result.Append(text[i]);
                continue;
            }

            result.Append('*');
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
        }

        return result.ToString();
    }

    /// <summary>True when a word matched; with <paramref name="collect"/> the positions of every match are marked in <paramref name="masked"/>.</summary>
    private bool Scan(ReadOnlySpan<char> text, bool collect, out bool[]? masked)
    {
        masked = null;
        if (Count == 0)
        {
            return false;
        }

        var found = false;
        var node = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = Fold(text[i]);
            while (true)
            {
                var next = node == 0 ? _root[c] : Child(node, c);
                if (next >= 0)
                {
                    node = next;
                    break;
                }

                if (node == 0)
                {
                    break;
                }

                node = _fail[node];
            }

            for (var o = _wordLength[node] > 0 ? node : _outputLink[node]; o >= 0; o = _outputLink[o])
            {
                var length = _wordLength[o];
                var start = i - length + 1;
                if (!BoundariesHold(text, start, i, _boundaries[o]))
                {
                    continue;
                }

                found = true;
                if (!collect)
                {
                    return true;
                }

                masked ??= new bool[text.Length];
                masked.AsSpan(start, length).Fill(true);
            }
        }

        return found;
    }

    private static bool BoundariesHold(ReadOnlySpan<char> text, int start, int end, byte boundaries) =>
        ((boundaries & StartBoundary) == 0 || start == 0 || !IsWordChar(text[start - 1]))
        && ((boundaries & EndBoundary) == 0 || end == text.Length - 1 || !IsWordChar(text[end + 1]));

    private int Child(int node, char c)
    {
        var start = _childStart[node];
        var count = _childCount[node];
        if (count <= 8)
        {
            for (var e = start; e < start + count; e++)
            {
                if (_keys[e] == c)
                {
                    return _targets[e];
                }
            }

            return -1;
        }

        var index = Array.BinarySearch(_keys, start, count, c);
        return index >= 0 ? _targets[index] : -1;
    }

    private static char Fold(char c) => c < 128 ? (c is >= 'A' and <= 'Z' ? (char)(c | 0x20) : c) : char.ToLowerInvariant(c);

    private static string Fold(string s) => string.Create(s.Length, s, static (span, source) =>
    {
        for (var i = 0; i < source.Length; i++)
        {
            span[i] = Fold(source[i]);
        }
    });

    /// <summary>A word end that must meet a boundary: a letter or digit of a script written with spaces between words.</summary>
    private static bool NeedsBoundary(char c) => IsWordChar(c);

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c) && !IsUnspacedScript(c);

    /// <summary>Scripts written without spaces between words: Thai, Lao, Khmer, Myanmar, CJK, kana, Hangul (and anything beyond the BMP, conservatively).</summary>
    private static bool IsUnspacedScript(char c) =>
        c is (>= '\u0E00' and <= '\u0EFF') or (>= '\u1000' and <= '\u109F') or (>= '\u1780' and <= '\u17FF')
            or (>= '\u1100' and <= '\u11FF') or (>= '\u2E80' and <= '\u9FFF') or (>= '\uA960' and <= '\uA97F')
            or (>= '\uAC00' and <= '\uD7FF') or (>= '\uF900' and <= '\uFAFF') or (>= '\uFF66' and <= '\uFFDC')
        || char.IsSurrogate(c);
}
