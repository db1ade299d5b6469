using System.Security.Cryptography;

namespace Parley.Server.Files;

/// <summary>Hashes uploads as they stream in. An interface so a test can force two different files to collide.</summary>
public interface IContentHasher
{
    IContentHash Begin();
}

public interface IContentHash : IDisposable
{
    void Append(ReadOnlySpan<byte> data);

    /// <summary>The digest as lower-case hex.</summary>
    string Finish();
}

public sealed class Sha256ContentHasher : IContentHasher
{
    public IContentHash Begin() => new Hash();

    private sealed class Hash : IContentHash
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public void Append(ReadOnlySpan<byte> data) => _hash.AppendData(data);

        public string Finish() => Convert.ToHexStringLower(_hash.GetHashAndReset());

        public void Dispose() => _hash.Dispose();
    }
}
