using System.Diagnostics.CodeAnalysis;

namespace JointDiffusion.Gpu.Data;

/// <summary>
/// Opens a data set by the name a user gives the trainer's <c>--data</c> option:
/// <list type="table">
/// <item><term><c>mnist</c>, <c>mnist-test</c></term><description>MNIST train (60 000) / test (10 000), 28 × 28 zero-padded (centred) to Size × Size.</description></item>
/// <item><term><c>fashion-mnist</c>, <c>fashion-mnist-test</c></term><description>Fashion-MNIST likewise.</description></item>
/// <item><term><c>photos</c></term><description>Random crops of every photo under <c>&lt;data&gt;/photos</c> (<see cref="RandomCropDataset"/>).</description></item>
/// <item><term><c>folder:PATH</c></term><description>Every image under PATH (relative to the current directory), centre-cropped and resized (<see cref="ImageFolderDataset"/>).</description></item>
/// </list>
/// Names are matched ignoring case (PATH is kept as given). Structured-noise generators (<c>letters</c>,
/// <c>sine</c>) are not data sets: <see cref="TryOpen"/> returns false for them, as for any name not listed, so
/// the caller can try its generators next.
/// </summary>
public static class DatasetCatalog
{
    /// <summary>The prefix of a folder data set name, <c>folder:PATH</c>.</summary>
    public const string FolderPrefix = "folder:";

    private const int MnistSide = 28;

    private static readonly string[] FixedNames = ["mnist", "mnist-test", "fashion-mnist", "fashion-mnist-test", "photos"];

    /// <summary>The data set names, for help texts: mnist, mnist-test, fashion-mnist, fashion-mnist-test, photos, folder:PATH.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. FixedNames, FolderPrefix + "PATH"];

    /// <summary>Whether <paramref name="name"/> names a data set of this catalog (see the class remarks).</summary>
    /// <param name="name">The <c>--data</c> value.</param>
    /// <returns>True for the fixed names and any <c>folder:</c> name.</returns>
    public static bool IsDatasetName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.StartsWith(FolderPrefix, StringComparison.OrdinalIgnoreCase)
            || FixedNames.Contains(name, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Opens the data set <paramref name="name"/>, or returns false when the name is not one of this catalog's.</summary>
    /// <param name="name">The <c>--data</c> value.</param>
    /// <param name="data">Where the fetched data sets are.</param>
    /// <param name="options">Size, channels and the photo crop sampling.</param>
    /// <param name="dataset">The opened data set when the method returns true; null otherwise.</param>
    /// <returns>False only when <paramref name="name"/> is not a data set name; a data set that is named but
    /// missing or unreadable throws.</returns>
    /// <exception cref="DataNotFoundException">When a named data set is missing from the data folder.</exception>
    /// <exception cref="ArgumentException">When the options do not fit the data set (e.g. Size below 28 for MNIST).</exception>
    public static bool TryOpen(string name, DataLocator data, DatasetOptions options, [NotNullWhen(true)] out IImageDataset? dataset)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        dataset = null;
        if (!IsDatasetName(name))
        {
            return false;
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(options.Size, 1, nameof(options));
        if (options.Channels is not (1 or 3))
        {
            throw new ArgumentException($"Data sets are served with 1 (grey) or 3 (RGB) channels, not {options.Channels}.", nameof(options));
        }

        if (name.StartsWith(FolderPrefix, StringComparison.OrdinalIgnoreCase))
        {
            string folder = name[FolderPrefix.Length..];
            if (string.IsNullOrWhiteSpace(folder))
            {
                throw new ArgumentException($"'{name}' names no folder: write {FolderPrefix}PATH.", nameof(name));
            }

            dataset = ImageFolderDataset.Load(folder, options.Size, options.Channels, label: $"folder {folder}");
            return true;
        }

        dataset = name.ToLowerInvariant() switch
        {
            "mnist" => OpenIdx(data.MnistImages(DataSplit.Train), "MNIST train", options),
            "mnist-test" => OpenIdx(data.MnistImages(DataSplit.Test), "MNIST test", options),
            "fashion-mnist" => OpenIdx(data.FashionMnistImages(DataSplit.Train), "Fashion-MNIST train", options),
            "fashion-mnist-test" => OpenIdx(data.FashionMnistImages(DataSplit.Test), "Fashion-MNIST test", options),
            "photos" => OpenPhotos(data, options),
            _ => throw new ArgumentException($"'{name}' is not a data set.", nameof(name)),
        };
        return true;
    }

    /// <summary>Opens the data set <paramref name="name"/> (see <see cref="TryOpen"/>).</summary>
    /// <param name="name">The <c>--data</c> value.</param>
    /// <param name="data">Where the fetched data sets are.</param>
    /// <param name="options">Size, channels and the photo crop sampling.</param>
    /// <returns>The data set.</returns>
    /// <exception cref="ArgumentException">When <paramref name="name"/> is not a data set name, or the options do not fit it.</exception>
    /// <exception cref="DataNotFoundException">When the data set is missing from the data folder.</exception>
    public static IImageDataset Open(string name, DataLocator data, DatasetOptions options) =>
        TryOpen(name, data, options, out var dataset)
            ? dataset
            : throw new ArgumentException($"'{name}' is not a data set; the data sets are {string.Join(", ", Names)}.", nameof(name));

    private static IdxDataset OpenIdx(string file, string label, DatasetOptions options)
    {
        if (options.Size < MnistSide)
        {
            throw new ArgumentException(
                $"{label} has {MnistSide} × {MnistSide} images, which are zero-padded, never shrunk: the size must be at least {MnistSide} (32 pads 2 pixels on each side), not {options.Size}.",
                nameof(options));
        }

        return IdxDataset.Load(file, options.Channels, options.Size, label);
    }

    private static RandomCropDataset OpenPhotos(DataLocator data, DatasetOptions options)
    {
        _ = data.PhotoFiles();
        return RandomCropDataset.FromFolder(data.PhotosFolder, options.Channels, options.PhotoCrops, options.Size, options.Seed,
            options.PhotoMinScale, options.PhotoMaxScale, "natural photos");
    }
}
