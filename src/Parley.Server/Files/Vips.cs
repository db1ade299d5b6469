using System.Runtime.InteropServices;

namespace Parley.Server.Files;

/// <summary>How <see cref="Vips"/> encodes a thumbnail.</summary>
public enum ThumbnailFormat
{
    /// <summary>JPEG (quality 80); transparency is flattened onto white.</summary>
    Jpeg,

    /// <summary>WebP (quality 80); transparency is kept.</summary>
    WebP,
}

/// <summary>
/// A small binding to libvips (Debian's <c>libvips42</c>, <c>libvips.so.42</c>): image dimensions and thumbnails.
/// Every method is safe to call from many threads at once, never throws for bad input and frees every native
/// allocation on every path; without the library <see cref="IsAvailable"/> is false and every method fails softly.
/// </summary>
/// <remarks>
/// <para>
/// libvips' optional arguments are C varargs (<c>name, value, ..., NULL</c>). They are bound here as fixed
/// parameters, one <c>DllImport</c> per argument list used: on x64 Linux (System V) and arm64 Linux (AAPCS64)
/// integer and pointer arguments travel identically whether or not they are variadic, and no floating-point
/// argument is ever passed. (Not valid on Apple arm64, where variadic arguments go on the stack.)
/// </para>
/// <para>
/// At initialisation the libvips operation cache is switched off (a cached file load would otherwise return a
/// stale image after a file is replaced, and a cached buffer load would hold a pointer into a managed array that
/// is no longer pinned); loaders libvips marks untrusted (ImageMagick's among them: BMP, ICO, ...) are blocked, as
/// uploads are hostile input (libvips 8.13+); and libvips' modules (HEIF, JPEG XL, PDF, ...) are loaded with local
/// symbol binding instead of libvips' RTLD_GLOBAL, whose libraries (the system libsqlite3 among them) would
/// otherwise take over symbols of native libraries loaded later, such as Microsoft.Data.Sqlite's e_sqlite3.
/// </para>
/// </remarks>
public static class Vips
{
    /// <summary>Images with more pixels than this (by their header) are not thumbnailed: a defence against decompression bombs.</summary>
    public const long MaxThumbnailPixels = 300_000_000;

    private const string VipsLibrary = "libvips.so.42";
    private const string GLibLibrary = "libglib-2.0.so.0";
    private const string GObjectLibrary = "libgobject-2.0.so.0";
    private const string GModuleLibrary = "libgmodule-2.0.so.0";

    /// <summary><c>VIPS_SIZE_DOWN</c>: only ever shrink (<c>VIPS_SIZE_BOTH</c>, the default, would enlarge small images).</summary>
    private const int SizeDown = 2;

    private static readonly string[] RequiredGLibExports = ["g_free", "g_log_set_handler", "g_getenv", "g_setenv"];

    private static readonly string[] RequiredVipsExports =
    [
        "vips_init", "vips_cache_set_max", "vips_error_clear", "vips_image_new_from_buffer",
        "vips_image_get_width", "vips_image_get_height", "vips_thumbnail_buffer", "vips_image_write_to_buffer",
        "vips_source_new_from_file", "vips_image_new_from_source", "vips_thumbnail_source", "vips_version", "vips_type_find",
    ];

    private static readonly Lazy<Capabilities?> State = new(Initialize, LazyThreadSafetyMode.ExecutionAndPublication);

    private static string s_library = VipsLibrary;

    /// <summary>
    /// Which libvips to load (a name or a path; empty: none, as if it were not installed). Only before first use;
    /// false when libvips was already set up with another choice.
    /// </summary>
    public static bool UseLibrary(string library)
    {
        lock (State)
        {
            if (State.IsValueCreated)
            {
                return library == s_library;
            }

            s_library = library;
            return true;
        }
    }

    /// <summary>True once libvips has been loaded and <c>vips_init</c> succeeded (tried once, on first use; never throws).</summary>
    public static bool IsAvailable => State.Value is not null;

    /// <summary>
    /// The size of an encoded image as it is displayed: an EXIF orientation that turns it by 90° swaps width and
    /// height (the thumbnails are turned the same way). Reads the header only. False for anything libvips cannot decode.
    /// </summary>
    public static bool TryReadSize(byte[] image, out int width, out int height)
    {
        width = height = 0;
        if (image is not { Length: > 0 } || State.Value is not { } capabilities)
        {
            return false;
        }

        var pin = GCHandle.Alloc(image, GCHandleType.Pinned);
        try
        {
            var header = vips_image_new_from_buffer(pin.AddrOfPinnedObject(), (nuint)image.Length, "", IntPtr.Zero);
            return ReadSizeAndUnref(header, capabilities, out width, out height);
        }
        finally
        {
            pin.Free();
        }
    }

    /// <summary>Like <see cref="TryReadSize(byte[], out int, out int)"/> for a file, which libvips reads itself (header only).</summary>
    public static bool TryReadSizeFile(string path, out int width, out int height)
    {
        width = height = 0;
        if (State.Value is not { } capabilities)
        {
            return false;
        }

        var source = OpenFile(path);
        if (source == IntPtr.Zero)
        {
            return false;
        }

        try
        {
            var header = vips_image_new_from_source(source, "", IntPtr.Zero);
            return ReadSizeAndUnref(header, capabilities, out width, out height);
        }
        finally
        {
            g_object_unref(source);
        }
    }

    /// <summary>
    /// A thumbnail that fits in <paramref name="maxSide"/> × <paramref name="maxSide"/> with the aspect ratio kept,
    /// turned upright by its EXIF orientation and stripped of metadata; an image already that small keeps its size
    /// (it is re-encoded, never enlarged). Null for anything libvips cannot decode, or larger than <see cref="MaxThumbnailPixels"/>.
    /// </summary>
    public static byte[]? TryThumbnail(byte[] image, int maxSide, ThumbnailFormat format = ThumbnailFormat.Jpeg)
    {
        if (image is not { Length: > 0 } || maxSide <= 0 || !IsAvailable)
        {
            return null;
        }

        // The thumbnail is computed lazily, while it is encoded: the bytes stay pinned until then.
        var pin = GCHandle.Alloc(image, GCHandleType.Pinned);
        try
        {
            var buffer = pin.AddrOfPinnedObject();
            var length = (nuint)image.Length;
            if (!HeaderAllowsThumbnail(vips_image_new_from_buffer(buffer, length, "", IntPtr.Zero)))
            {
                return null;
            }

            if (vips_thumbnail_buffer(buffer, length, out var thumbnail, maxSide, "height", maxSide, "size", SizeDown, IntPtr.Zero) != 0)
            {
                return Failed(thumbnail);
            }

            return EncodeAndUnref(thumbnail, format);
        }
        finally
        {
            pin.Free();
        }
    }

    /// <summary>Like <see cref="TryThumbnail(byte[], int, ThumbnailFormat)"/> for a file, which libvips reads itself (never all of it in managed memory).</summary>
    public static byte[]? TryThumbnailFile(string path, int maxSide, ThumbnailFormat format = ThumbnailFormat.Jpeg)
    {
        if (maxSide <= 0 || !IsAvailable)
        {
            return null;
        }

        var source = OpenFile(path);
        if (source == IntPtr.Zero)
        {
            return null;
        }

        try
        {
            if (!HeaderAllowsThumbnail(vips_image_new_from_source(source, "", IntPtr.Zero)))
            {
                return null;
            }

            // The same source again: the thumbnail loader rewinds it, and reads it lazily while the thumbnail is encoded.
            if (vips_thumbnail_source(source, out var thumbnail, maxSide, "height", maxSide, "size", SizeDown, IntPtr.Zero) != 0)
            {
                return Failed(thumbnail);
            }

            return EncodeAndUnref(thumbnail, format);
        }
        finally
        {
            g_object_unref(source);
        }
    }

    /// <summary>
    /// A <c>VipsSource</c> reading the file, or zero. A source takes the name as it is, where <c>vips_image_new_from_file</c>
    /// and <c>vips_thumbnail</c> would read a trailing <c>[...]</c> in it as load options (<c>photo.jpg[shrink=2]</c>).
    /// </summary>
    private static IntPtr OpenFile(string path)
    {
        if (string.IsNullOrEmpty(path) || path.Contains('\0', StringComparison.Ordinal))
        {
            return IntPtr.Zero;
        }

        var source = vips_source_new_from_file(Path.GetFullPath(path));
        if (source == IntPtr.Zero)
        {
            vips_error_clear();
        }

        return source;
    }

    private static bool ReadSizeAndUnref(IntPtr image, Capabilities capabilities, out int width, out int height)
    {
        width = height = 0;
        if (image == IntPtr.Zero)
        {
            vips_error_clear();
            return false;
        }

        try
        {
            var w = vips_image_get_width(image);
            var h = vips_image_get_height(image);
            if (w <= 0 || h <= 0)
            {
                return false;
            }

            var swap = capabilities.OrientationSwap && vips_image_get_orientation_swap(image) != 0;
            (width, height) = swap ? (h, w) : (w, h);
            return true;
        }
        finally
        {
            g_object_unref(image);
        }
    }

    /// <summary>Takes ownership of the header image <paramref name="image"/> (which may be null: libvips could not read it).</summary>
    private static bool HeaderAllowsThumbnail(IntPtr image)
    {
        if (image == IntPtr.Zero)
        {
            vips_error_clear();
            return false;
        }

        try
        {
            long w = vips_image_get_width(image), h = vips_image_get_height(image);
            return w > 0 && h > 0 && w * h <= MaxThumbnailPixels;
        }
        finally
        {
            g_object_unref(image);
        }
    }

    private static byte[]? EncodeAndUnref(IntPtr image, ThumbnailFormat format)
    {
        var output = IntPtr.Zero;
        try
        {
            // The suffix picks the saver; options follow in brackets. strip drops EXIF (camera, GPS) and the like.
            var suffix = format == ThumbnailFormat.WebP ? ".webp[Q=80,strip]" : ".jpg[Q=80,strip,background=255]";
            if (vips_image_write_to_buffer(image, suffix, out output, out var size, IntPtr.Zero) != 0 || output == IntPtr.Zero)
            {
                vips_error_clear();
                return null;
            }

            if (size == 0 || size > (nuint)Array.MaxLength)
            {
                return null;
            }

            var bytes = new byte[(int)size];
            Marshal.Copy(output, bytes, 0, bytes.Length);
            return bytes;
        }
        finally
        {
            g_free(output);
            g_object_unref(image);
        }
    }

    private static byte[]? Failed(IntPtr image)
    {
        vips_error_clear();
        if (image != IntPtr.Zero)
        {
            g_object_unref(image);
        }

        return null;
    }

    private static Capabilities? Initialize()
    {
        try
        {
            // Check every entry point up front, so that once IsAvailable is true no call can fail to bind.
            if (s_library.Length == 0
                || !NativeLibrary.TryLoad(s_library, out var vips)
                || !NativeLibrary.TryLoad(GLibLibrary, out var glib)
                || !NativeLibrary.TryLoad(GObjectLibrary, out var gobject)
                || !NativeLibrary.TryLoad(GModuleLibrary, out var gmodule)
                || !RequiredGLibExports.All(name => NativeLibrary.TryGetExport(glib, name, out _))
                || !NativeLibrary.TryGetExport(gobject, "g_object_unref", out _)
                || !NativeLibrary.TryGetExport(gmodule, "g_module_open", out _)
                || !RequiredVipsExports.All(name => NativeLibrary.TryGetExport(vips, name, out _)))
            {
                return null;
            }

            if (s_library != VipsLibrary)
            {
                // The bindings below name the default library; point them at the one loaded.
                NativeLibrary.SetDllImportResolver(typeof(Vips).Assembly, (name, _, _) => name == VipsLibrary ? vips : IntPtr.Zero);
            }

            // vips_init loads every module in $libdir/vips-modules-M.m with RTLD_GLOBAL, which puts the module's
            // libraries' symbols in front of those of every native library loaded later. Debian's openslide module
            // brings the system libsqlite3 that way, and Microsoft.Data.Sqlite's own e_sqlite3 then calls half into
            // it and crashes (SIGSEGV in sqlite3_open_v2). So libvips is pointed at a home with no modules, and the
            // modules are loaded here with local binding instead. A VIPSHOME set by someone else is left alone.
            var vipsHome = Marshal.PtrToStringUTF8(g_getenv("VIPSHOME"));
            var loadModulesHere = vipsHome is null or NoModulesHome;
            if (loadModulesHere)
            {
                g_setenv("VIPSHOME", NoModulesHome, 1);
            }

            if (vips_init("parley") != 0)
            {
                vips_error_clear();
                return null;
            }

            if (loadModulesHere && ModuleDirectory() is { } modules)
            {
                foreach (var module in Directory.EnumerateFiles(modules, "*.so").Order(StringComparer.Ordinal))
                {
                    // A module that does not load (a missing dependency) only costs its formats, as in vips_init.
                    _ = g_module_open(module, GModuleBindLazy | GModuleBindLocal);
                }
            }

            vips_cache_set_max(0);

            // libvips reports recoverable damage in an input ("not enough data", "Premature end of JPEG file") as
            // GLib warnings on stderr, some for every row; the result of the call already says what matters.
            g_log_set_handler("VIPS", GLogLevelWarning, Marshal.GetFunctionPointerForDelegate(IgnoreLogMessage), IntPtr.Zero);

            // After the modules: it blocks the untrusted operations registered so far.
            if (NativeLibrary.TryGetExport(vips, "vips_block_untrusted_set", out _))
            {
                vips_block_untrusted_set(1);
            }

            return new Capabilities(OrientationSwap: NativeLibrary.TryGetExport(vips, "vips_image_get_orientation_swap", out _));
        }
        catch (Exception)
        {
            // DllNotFoundException, EntryPointNotFoundException, BadImageFormatException, or anything else: an
            // exception here would be cached by the Lazy and rethrown by IsAvailable forever.
            return null;
        }
    }

    /// <summary>
    /// Where libvips keeps its modules: <c>vips-modules-M.m</c> beside the <c>libvips.so.42</c> this process loaded
    /// (libvips' own rule, <c>$libdir/vips-modules-M.m</c>); null when there is none (a build without modules).
    /// </summary>
    private static string? ModuleDirectory()
    {
        try
        {
            var library = File.ReadLines("/proc/self/maps")
                .Select(line => line.IndexOf('/', StringComparison.Ordinal) is var at and >= 0 ? line[at..] : null)
                .FirstOrDefault(path => path is not null && Path.GetFileName(path).StartsWith("libvips.so", StringComparison.Ordinal));
            if (library is null || Path.GetDirectoryName(library) is not { } libdir)
            {
                return null;
            }

            var modules = Path.Combine(libdir, $"vips-modules-{vips_version(0)}.{vips_version(1)}");
            return Directory.Exists(modules) ? modules : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>True when libvips has an operation of this nickname (<c>heifload_source</c>, <c>jpegsave_buffer</c>, ...): for tests.</summary>
    internal static bool HasOperation(string nickname) => IsAvailable && vips_type_find("VipsOperation", nickname) != 0;

    private sealed record Capabilities(bool OrientationSwap);

    /// <summary>A libvips home under which no module directory can ever exist.</summary>
    private const string NoModulesHome = "/dev/null";

    /// <summary><c>G_MODULE_BIND_LAZY</c>, <c>G_MODULE_BIND_LOCAL</c>.</summary>
    private const int GModuleBindLazy = 1 << 0, GModuleBindLocal = 1 << 1;

    /// <summary><c>G_LOG_LEVEL_WARNING</c>.</summary>
    private const int GLogLevelWarning = 1 << 4;

    /// <summary>Kept in a static field: native code holds a pointer to it for the life of the process.</summary>
    private static readonly GLogFunc IgnoreLogMessage = (_, _, _, _) => { };

    // void (*GLogFunc)(const gchar *log_domain, GLogLevelFlags log_level, const gchar *message, gpointer user_data)
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void GLogFunc(IntPtr logDomain, int logLevel, IntPtr message, IntPtr userData);

    // int vips_init(const char *argv0)
    [DllImport(VipsLibrary)]
    private static extern int vips_init([MarshalAs(UnmanagedType.LPUTF8Str)] string argv0);

    // int vips_version(int flag)   (0: major, 1: minor)
    [DllImport(VipsLibrary)]
    private static extern int vips_version(int flag);

    // GType vips_type_find(const char *basename, const char *nickname)
    [DllImport(VipsLibrary)]
    private static extern nuint vips_type_find([MarshalAs(UnmanagedType.LPUTF8Str)] string basename, [MarshalAs(UnmanagedType.LPUTF8Str)] string nickname);

    // void vips_cache_set_max(int max)
    [DllImport(VipsLibrary)]
    private static extern void vips_cache_set_max(int max);

    // void vips_block_untrusted_set(gboolean state)   (libvips 8.13+)
    [DllImport(VipsLibrary)]
    private static extern void vips_block_untrusted_set(int state);

    // void vips_error_clear(void)
    [DllImport(VipsLibrary)]
    private static extern void vips_error_clear();

    // VipsImage *vips_image_new_from_buffer(const void *buf, size_t len, const char *option_string, ...)   here: (..., NULL)
    [DllImport(VipsLibrary)]
    private static extern IntPtr vips_image_new_from_buffer(IntPtr buf, nuint len, [MarshalAs(UnmanagedType.LPUTF8Str)] string optionString, IntPtr terminator);

    // VipsSource *vips_source_new_from_file(const char *filename)
    [DllImport(VipsLibrary)]
    private static extern IntPtr vips_source_new_from_file([MarshalAs(UnmanagedType.LPUTF8Str)] string filename);

    // VipsImage *vips_image_new_from_source(VipsSource *source, const char *option_string, ...)   here: (..., NULL)
    [DllImport(VipsLibrary)]
    private static extern IntPtr vips_image_new_from_source(IntPtr source, [MarshalAs(UnmanagedType.LPUTF8Str)] string optionString, IntPtr terminator);

    // int vips_image_get_width(const VipsImage *image)
    [DllImport(VipsLibrary)]
    private static extern int vips_image_get_width(IntPtr image);

    // int vips_image_get_height(const VipsImage *image)
    [DllImport(VipsLibrary)]
    private static extern int vips_image_get_height(IntPtr image);

    // gboolean vips_image_get_orientation_swap(VipsImage *image)   (true for EXIF orientations 5-8)
    [DllImport(VipsLibrary)]
    private static extern int vips_image_get_orientation_swap(IntPtr image);

    // int vips_thumbnail_buffer(void *buf, size_t len, VipsImage **out, int width, ...)
    //   here: (..., width, "height", int, "size", VipsSize, NULL)
    [DllImport(VipsLibrary)]
    private static extern int vips_thumbnail_buffer(
        IntPtr buf, nuint len, out IntPtr output, int width,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string heightName, int height,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string sizeName, int size,
        IntPtr terminator);

    // int vips_thumbnail_source(VipsSource *source, VipsImage **out, int width, ...)
    //   here: (..., width, "height", int, "size", VipsSize, NULL)
    [DllImport(VipsLibrary)]
    private static extern int vips_thumbnail_source(
        IntPtr source, out IntPtr output, int width,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string heightName, int height,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string sizeName, int size,
        IntPtr terminator);

    // int vips_image_write_to_buffer(VipsImage *in, const char *suffix, void **buf, size_t *size, ...)   here: (..., NULL)
    [DllImport(VipsLibrary)]
    private static extern int vips_image_write_to_buffer(
        IntPtr image, [MarshalAs(UnmanagedType.LPUTF8Str)] string suffix, out IntPtr buf, out nuint size, IntPtr terminator);

    // void g_free(gpointer mem)   (NULL is allowed)
    [DllImport(GLibLibrary)]
    private static extern void g_free(IntPtr mem);

    // const gchar *g_getenv(const gchar *variable)
    [DllImport(GLibLibrary)]
    private static extern IntPtr g_getenv([MarshalAs(UnmanagedType.LPUTF8Str)] string variable);

    // gboolean g_setenv(const gchar *variable, const gchar *value, gboolean overwrite)
    [DllImport(GLibLibrary)]
    private static extern int g_setenv([MarshalAs(UnmanagedType.LPUTF8Str)] string variable, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

    // GModule *g_module_open(const gchar *file_name, GModuleFlags flags)
    [DllImport(GModuleLibrary)]
    private static extern IntPtr g_module_open([MarshalAs(UnmanagedType.LPUTF8Str)] string fileName, int flags);

    // guint g_log_set_handler(const gchar *log_domain, GLogLevelFlags log_levels, GLogFunc log_func, gpointer user_data)
    [DllImport(GLibLibrary)]
    private static extern uint g_log_set_handler([MarshalAs(UnmanagedType.LPUTF8Str)] string logDomain, int logLevels, IntPtr logFunc, IntPtr userData);

    // void g_object_unref(gpointer object)
    [DllImport(GObjectLibrary)]
    private static extern void g_object_unref(IntPtr obj);
}
