using System.Collections.Concurrent;
using System.IO.Enumeration;
using JointDiffusion.Gpu.IO;

namespace JointDiffusion.Gpu.Data;

/// <summary>
/// The PNG, JPEG, BMP and GIF images under a folder, each loaded with <see cref="ImageFile"/> (grey or RGB),
/// centre-cropped to a square and resized to <see cref="Height"/> × <see cref="Width"/>.
/// </summary>
/// <remarks>
/// <para><b>Which files, in which order.</b> <see cref="FindImageFiles"/>: files with the extensions .png, .jpg,
/// .jpeg, .bmp and .gif (any case) in the folder and its subfolders, sorted by their path relative to the folder
/// ('/'-separated, ordinal comparison), so the index of an image is the same on every machine. Hidden files and
/// folders (names starting with '.') are left out, and symbolic links to folders are not followed (no cycles).</para>
/// <para><b>Eager loading.</b> Every image is decoded, cropped and resized once, when the dataset is loaded (in
/// parallel), and only the small result is kept: C·S·S float32 per image, e.g. 4 KB at 32 × 32 grey and 48 KB at
/// 64 × 64 RGB (10 000 images: 40 MB or 480 MB). The trainer reads every image many times, so decoding once is
/// much cheaper than decoding per batch, and it makes <see cref="Count"/> exact: a file that turns out to be
/// unreadable is known before training starts. A folder too large for memory at the target size is not what
/// this class is for.</para>
/// <para><b>Unreadable files</b> (not an image, truncated, over the pixel limit, no permission) do not fail the
/// folder: they are left out and listed in <see cref="Skipped"/> with the reason, for the caller to report. A
/// folder without any usable image is an error that says why.</para>
/// <para>Instances are immutable and safe to read from several threads at once.</para>
/// </remarks>
public sealed class ImageFolderDataset : IImageDataset
{
    private static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".bmp", ".gif"];

    private readonly float[][] _images;

    private ImageFolderDataset(string folder, float[][] images, IReadOnlyList<string> files, IReadOnlyList<SkippedImageFile> skipped,
        int channels, int size, string description)
    {
        Folder = folder;
        _images = images;
        Files = files;
        Skipped = skipped;
        Channels = channels;
        Height = size;
        Width = size;
        Description = description;
    }

    /// <inheritdoc />
    public int Count => _images.Length;

    /// <inheritdoc />
    public int Channels { get; }

    /// <inheritdoc />
    public int Height { get; }

    /// <inheritdoc />
    public int Width { get; }

    /// <inheritdoc />
    public string Description { get; }

    /// <summary>The folder, as a full path.</summary>
    public string Folder { get; }

    /// <summary>The file of each image, in index order (full paths).</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>The image files found but left out, with the reason, in file order; empty when all loaded.</summary>
    public IReadOnlyList<SkippedImageFile> Skipped { get; }

    /// <summary>
    /// Loads every image under <paramref name="folder"/>, centre-cropped to a square and resized to
    /// <paramref name="size"/> × <paramref name="size"/>.
    /// </summary>
    /// <param name="folder">The folder, searched recursively.</param>
    /// <param name="size">Height = width of the served images.</param>
    /// <param name="channels">1 (luminance, as PIL's <c>convert("L")</c>) or 3 (RGB).</param>
    /// <param name="resampling">The resize kernel; bilinear (antialiased when shrinking) by default.</param>
    /// <param name="label">The name that starts <see cref="Description"/>; "folder &lt;path&gt;" when null.</param>
    /// <returns>The usable images, in <see cref="FindImageFiles"/> order.</returns>
    /// <exception cref="DirectoryNotFoundException">When the folder does not exist.</exception>
    /// <exception cref="InvalidDataException">When the folder holds no image file, or none that loads.</exception>
    /// <exception cref="ArgumentException">When <paramref name="size"/> is below 1 or <paramref name="channels"/> is not 1 or 3.</exception>
    public static ImageFolderDataset Load(string folder, int size, int channels, ImageResampling resampling = ImageResampling.Bilinear, string? label = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        if (channels is not (1 or 3))
        {
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "Load 1 (luminance) or 3 (RGB) channels.");
        }

        string root = Path.GetFullPath(folder);
        var files = FindImageFiles(root);
        var options = ImageLoadOptions.Default with { CenterCropToSquare = true, ResizeHeight = size, ResizeWidth = size, Resampling = resampling };
        var (loaded, skipped) = LoadEach(root, files, channels, options);
        string rgb = channels == 3 ? "RGB" : "grey";
        string skippedNote = skipped.Count > 0 ? $", {skipped.Count} unreadable file(s) skipped" : string.Empty;
        string description = $"{label ?? $"folder {root}"} ({loaded.Count} images, centre-cropped and resized to {size}x{size} {rgb}{skippedNote})";
        return new ImageFolderDataset(
            root, [.. loaded.Select(l => l.Image.Pixels)], [.. loaded.Select(l => l.Path)], skipped, channels, size, description);
    }

    /// <summary>
    /// The image files under <paramref name="folder"/> (see the remarks): extensions .png, .jpg, .jpeg, .bmp,
    /// .gif in any case, recursively, hidden entries and folder links left out, sorted by relative path.
    /// </summary>
    /// <param name="folder">The folder to search.</param>
    /// <returns>Full paths, in dataset order; empty when the folder holds no image file.</returns>
    /// <exception cref="DirectoryNotFoundException">When the folder does not exist.</exception>
    public static IReadOnlyList<string> FindImageFiles(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        string root = Path.GetFullPath(folder);
        if (!Directory.Exists(root))
        {
            throw new DirectoryNotFoundException($"The image folder {root} does not exist.");
        }

        var found = new FileSystemEnumerable<string>(root, (ref FileSystemEntry entry) => entry.ToFullPath(),
            new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.System })
        {
            ShouldIncludePredicate = (ref FileSystemEntry entry) =>
                !entry.IsDirectory && !entry.FileName.StartsWith('.') && HasImageExtension(entry.FileName),
            ShouldRecursePredicate = (ref FileSystemEntry entry) =>
                !entry.FileName.StartsWith('.') && (entry.Attributes & FileAttributes.ReparsePoint) == 0,
        };
        return [.. found.OrderBy(path => Path.GetRelativePath(root, path).Replace('\\', '/'), StringComparer.Ordinal)];
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="index"/> is outside [0, Count).</exception>
    /// <exception cref="ArgumentException">When <paramref name="destination"/> does not hold exactly C·H·W values.</exception>
    public void CopyTo(int index, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        float[] image = _images[index];
        if (destination.Length != image.Length)
        {
            throw new ArgumentException(
                $"The destination holds {destination.Length} values, but an image of {Description} has {image.Length} ([{Channels}, {Height}, {Width}]).",
                nameof(destination));
        }

        image.CopyTo(destination);
    }

    /// <summary>
    /// Loads <paramref name="files"/> in parallel, keeping file order; files that fail with an image, I/O or
    /// permission error are returned as skipped. Throws when none loads.
    /// </summary>
    internal static (IReadOnlyList<(string Path, PlanarImage Image)> Loaded, IReadOnlyList<SkippedImageFile> Skipped) LoadEach(
        string folder, IReadOnlyList<string> files, int channels, ImageLoadOptions options)
    {
        if (files.Count == 0)
        {
            throw new InvalidDataException(
                $"{folder} holds no PNG, JPEG, BMP or GIF file (searched recursively; hidden files and folders are left out).");
        }

        var images = new PlanarImage?[files.Count];
        var reasons = new ConcurrentDictionary<int, string>();
        Parallel.For(0, files.Count, i =>
        {
            try
            {
                images[i] = ImageFile.Load(files[i], channels, options);
            }
            catch (ImageFileException e)
            {
                reasons[i] = e.Message;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                reasons[i] = $"{files[i]}: {e.Message}";
            }
        });

        var loaded = new List<(string, PlanarImage)>(files.Count);
        var skipped = new List<SkippedImageFile>();
        for (int i = 0; i < files.Count; i++)
        {
            if (images[i] is PlanarImage image)
            {
                loaded.Add((files[i], image));
            }
            else
            {
                skipped.Add(new SkippedImageFile(files[i], reasons[i]));
            }
        }

        if (loaded.Count == 0)
        {
            string examples = string.Join("; ", skipped.Take(3).Select(s => s.Reason));
            throw new InvalidDataException(
                $"None of the {files.Count} image file(s) in {folder} could be loaded: {examples}{(skipped.Count > 3 ? "; ..." : string.Empty)}");
        }

        return (loaded, skipped);
    }

    private static bool HasImageExtension(ReadOnlySpan<char> fileName)
    {
        ReadOnlySpan<char> extension = Path.GetExtension(fileName);
        foreach (string accepted in Extensions)
        {
            if (extension.Equals(accepted, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
