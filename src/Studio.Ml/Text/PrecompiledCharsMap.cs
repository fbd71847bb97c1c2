using System.Globalization;
using System.Text;

namespace Studio.Ml.Text;

/// <summary>
/// SentencePiece's precompiled normalisation map (T5's `nmt_nfkc`), applied as Hugging Face's `Precompiled`
/// normaliser does: per extended grapheme cluster when the cluster is under 6 UTF-8 bytes, otherwise per character;
/// the first (shortest) prefix found in the map replaces the whole chunk. That grapheme rule is why this is ours and
/// not Microsoft.ML.Tokenizers' SentencePiece normaliser, which follows the sentencepiece library (longest match, no
/// clusters) and so differs on clusters such as "²\u0301".
/// </summary>
/// <remarks>
/// The blob is a 4-byte little-endian trie size, a darts-clone double-array trie (32-bit units) over UTF-8 keys, then the
/// NUL-terminated replacement strings the trie's values point into.
/// </remarks>
public sealed class PrecompiledCharsMap
{
    readonly uint[] _trie;
    readonly byte[] _replacements;

    public PrecompiledCharsMap(byte[] blob, string source)
    {
        if (blob.Length < 4) throw new InvalidDataException($"{source}: precompiled_charsmap is {blob.Length} bytes, too short");
        var trieBytes = BitConverter.ToUInt32(blob, 0);
        if (trieBytes == 0 || trieBytes % 4 != 0 || trieBytes > blob.Length - 4)
            throw new InvalidDataException($"{source}: precompiled_charsmap declares a trie of {trieBytes} bytes in a {blob.Length}-byte map");
        _trie = new uint[trieBytes / 4];
        Buffer.BlockCopy(blob, 4, _trie, 0, (int)trieBytes);
        _replacements = blob[(4 + (int)trieBytes)..];
    }

    public string Normalize(string text)
    {
        var result = new StringBuilder(text.Length);
        var clusters = StringInfo.GetTextElementEnumerator(text);
        while (clusters.MoveNext())
        {
            var cluster = clusters.GetTextElement();
            if (Encoding.UTF8.GetByteCount(cluster) < 6 && Replacement(cluster) is { } whole)
            {
                result.Append(whole);
                continue;
            }
            foreach (var rune in cluster.EnumerateRunes())
            {
                var character = rune.ToString();
                result.Append(Replacement(character) ?? character);
            }
        }
        return result.ToString();
    }

    /// <summary>The replacement of the shortest prefix of <paramref name="chunk"/> that the map holds, if any.</summary>
    string? Replacement(string chunk)
    {
        var key = Encoding.UTF8.GetBytes(chunk);
        uint node = Offset(Unit(0));
        foreach (var b in key)
        {
            if (b == 0) break;
            node ^= b;
            var unit = Unit(node);
            if ((unit & 0x800000FFu) != b) return null;   // label mismatch: no key continues this way
            node ^= Offset(unit);
            if ((unit & 0x100u) != 0)                      // a key ends here: its value sits at the next node
            {
                var start = (int)(Unit(node) & 0x7FFFFFFFu);
                if (start >= _replacements.Length) return null;
                var end = Array.IndexOf(_replacements, (byte)0, start);
                return Encoding.UTF8.GetString(_replacements, start, (end < 0 ? _replacements.Length : end) - start);
            }
        }
        return null;
    }

    uint Unit(uint index) => index < _trie.Length ? _trie[index] : 0;

    static uint Offset(uint unit) => (unit >> 10) << (int)((unit & 0x200u) >> 6);
}
