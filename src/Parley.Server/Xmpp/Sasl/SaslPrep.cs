using System.Globalization;
using System.Text;

namespace Parley.Server.Xmpp.Sasl;

/// <summary>
/// SASLprep (RFC 4013, the stringprep profile SCRAM applies to passwords), as a stored-string profile, with today's
/// Unicode tables rather than Unicode 3.2's:
/// <list type="number">
/// <item>map: the "commonly mapped to nothing" characters (stringprep B.1: soft hyphen, variation selectors,
/// zero-width space and joiners, word joiner, BOM, ...) are removed; non-ASCII spaces (C.1.2, category Zs) become
/// U+0020;</item>
/// <item>normalize: NFKC. Parley runs with <c>InvariantGlobalization</c>, where .NET has no normalization tables
/// (<see cref="string.Normalize(NormalizationForm)"/> returns its input), so the mapped password must then lie in a
/// repertoire where NFKC changes nothing and nothing composes: printable ASCII, Latin-1 and Latin Extended-A letters and
/// symbols, without the few with compatibility decompositions (ª, ², µ, ¼, ĳ, ſ, ...) and without combining marks.
/// A password outside it gets no SCRAM keys rather than keys a client's NFKC could disagree with. Where .NET has
/// the tables (globalization on), full NFKC is applied and this limit does not exist;</item>
/// <item>prohibit: control characters (C.2.1, C.2.2), every format character (category Cf: a superset of what C.2.2,
/// C.8 and C.9 list), line and paragraph separators, private use (C.3), surrogates and unpaired halves (C.5),
/// unassigned code points and noncharacters (A.1, C.4), U+FFF9-U+FFFD (C.6) and U+2FF0-U+2FFB (C.7); an empty
/// result is refused too.</item>
/// </list>
/// Not done: the bidirectional check (RFC 3454 section 6), for which .NET has no public table (it only matters for
/// right-to-left letters, which the invariant repertoire does not hold anyway).
/// A password SASLprep refuses gets no SCRAM keys; it keeps working everywhere else (HTTP login, SASL PLAIN).
/// </summary>
public static class SaslPrep
{
    /// <summary>Whether this process has Unicode normalization tables (false under InvariantGlobalization).</summary>
    public static bool FullNormalization { get; } = "\uFB01".Normalize(NormalizationForm.FormKC) == "fi";

    /// <summary>The prepared string, or false when the input holds a prohibited character (or, without normalization
    /// tables, one outside the repertoire NFKC leaves alone).</summary>
    public static bool TryPrepare(string input, out string prepared)
    {
        prepared = "";
        var mapped = new StringBuilder(input.Length);
        foreach (var rune in EnumerateStrict(input))
        {
            if (rune is not { } r)
            {
                return false; // an unpaired surrogate
            }

            if (MapsToNothing(r.Value))
            {
                continue;
            }

            if (r.Value != ' ' && Rune.GetUnicodeCategory(r) == UnicodeCategory.SpaceSeparator)
            {
                mapped.Append(' ');
                continue;
            }

            mapped.Append(r.ToString());
        }

        string normalized;
        try
        {
            normalized = mapped.ToString().Normalize(NormalizationForm.FormKC);
        }
        catch (ArgumentException)
        {
            return false;
        }

        if (normalized.Length == 0)
        {
            return false;
        }

        foreach (var rune in EnumerateStrict(normalized))
        {
            if (rune is not { } r || Prohibited(r) || (!FullNormalization && !NfkcStable(r.Value)))
            {
                return false;
            }
        }

        prepared = normalized;
        return true;
    }

    private static IEnumerable<Rune?> EnumerateStrict(string s)
    {
        for (var i = 0; i < s.Length;)
        {
            if (Rune.DecodeFromUtf16(s.AsSpan(i), out var rune, out var used) != System.Buffers.OperationStatus.Done)
            {
                yield return null;
                yield break;
            }

            yield return rune;
            i += used;
        }
    }

    /// <summary>
    /// Characters NFKC maps to themselves and that compose with no neighbour: printable ASCII, U+00A1-U+017F (Latin-1
    /// Supplement and Latin Extended-A) but for the ones with a compatibility decomposition. Combining marks are not in it.
    /// </summary>
    private static bool NfkcStable(int c) =>
        c is >= 0x20 and <= 0x7E
        || (c is >= 0xA1 and <= 0x17F
            && c is not (0xA8 or 0xAA or 0xAF or 0xB2 or 0xB3 or 0xB4 or 0xB5 or 0xB8 or 0xB9 or 0xBA or 0xBC or 0xBD or 0xBE
                or 0x132 or 0x133 or 0x13F or 0x140 or 0x149 or 0x17F));

    /// <summary>stringprep table B.1.</summary>
    private static bool MapsToNothing(int c) =>
        c is 0x00AD or 0x034F or 0x1806 or 0x180B or 0x180C or 0x180D or 0x200B or 0x200C or 0x200D or 0x2060 or 0xFEFF
            || c is >= 0xFE00 and <= 0xFE0F;

    private static bool Prohibited(Rune r)
    {
        var c = r.Value;
        if (c is >= 0xFFF9 and <= 0xFFFD or >= 0x2FF0 and <= 0x2FFB)
        {
            return true;
        }

        // A non-ASCII space left after NFKC (C.1.2) is refused too.
        return Rune.GetUnicodeCategory(r) switch
        {
            UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
                or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate or UnicodeCategory.OtherNotAssigned => true,
            UnicodeCategory.SpaceSeparator => c != ' ',
            _ => false,
        };
    }
}
