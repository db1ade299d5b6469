namespace Parley.Storage;

/// <summary>
/// What the server creates under DataDir (the database and its WAL, blobs, uploads, keys) is its own: files 0600,
/// directories 0700, whatever the process umask would have given (typically 0644/0755, readable by every local
/// account). The modes are given at creation, so there is no moment at which a file is readable by others.
/// Existing files and directories keep the modes they have. Nothing changes on Windows (ACLs inherit).
/// </summary>
public static class PrivateFiles
{
    public const UnixFileMode FilePermissions = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public const UnixFileMode DirectoryPermissions = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Creates <paramref name="path"/> and every missing parent as 0700 (as Directory.CreateDirectory otherwise).</summary>
    public static DirectoryInfo CreateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return Directory.CreateDirectory(path);
        }

        // Directory.CreateDirectory(path, mode) gives the mode to the last directory only; its parents get the
        // umask's. So each missing one is made in turn, from the outermost down.
        var full = Path.GetFullPath(path);
        var missing = new Stack<string>();
        for (var dir = full; !string.IsNullOrEmpty(dir) && !Directory.Exists(dir); dir = Path.GetDirectoryName(dir))
        {
            missing.Push(dir);
        }

        while (missing.TryPop(out var dir))
        {
            Directory.CreateDirectory(dir, DirectoryPermissions);
        }

        return new DirectoryInfo(full);
    }

    /// <summary>Options for a FileStream whose file, if the stream creates it, is 0600.</summary>
    public static FileStreamOptions Options(FileMode mode, FileAccess access, FileShare share = FileShare.None, int bufferSize = 4096, FileOptions options = FileOptions.None)
    {
        var result = new FileStreamOptions { Mode = mode, Access = access, Share = share, BufferSize = bufferSize, Options = options };
        if (!OperatingSystem.IsWindows())
        {
            result.UnixCreateMode = FilePermissions;
        }

        return result;
    }

    /// <summary>Creates <paramref name="path"/> as a new 0600 file (throws IOException if it exists, as FileMode.CreateNew).</summary>
    public static FileStream CreateNew(string path, int bufferSize = 4096, FileOptions options = FileOptions.None) =>
        new(path, Options(FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize, options));

    /// <summary>Creates an empty 0600 file at <paramref name="path"/> unless something is there already.</summary>
    public static void EnsureFile(string path)
    {
        try
        {
            using var created = CreateNew(path);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Already there (or created by another process meanwhile): its mode is left as it is.
        }
    }
}
