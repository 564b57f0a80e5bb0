namespace JointDiffusion.Gpu.Data;

/// <summary>
/// The data folder and the layout that <c>tools/fetch-data.sh</c> (and <c>jointdiff data fetch</c>) gives it:
/// <code>
/// &lt;data&gt;/mnist/{train,t10k}-images-idx3-ubyte            (raw, or .gz)
/// &lt;data&gt;/fashion-mnist/{train,t10k}-images-idx3-ubyte.gz  (gzipped, or raw)
/// &lt;data&gt;/photos/skimage/*.png|jpg, &lt;data&gt;/photos/opencv/*.png|jpg   (every image under photos/ counts)
/// &lt;data&gt;/fonts/*.ttf|otf
/// </code>
/// Every lookup of something missing throws a <see cref="DataNotFoundException"/> whose message says how to fetch it.
/// </summary>
public sealed class DataLocator
{
    /// <summary>The environment variable that names the data folder when no <c>--data</c> option is given.</summary>
    public const string EnvironmentVariable = "JOINTDIFF_DATA";

    /// <summary>The data folder's name under the current directory when neither <c>--data</c> nor the environment names one.</summary>
    public const string DefaultFolderName = "data";

    /// <summary>Creates the locator of the data folder <paramref name="root"/> (which need not exist).</summary>
    /// <param name="root">The data folder; made a full path against the current directory.</param>
    public DataLocator(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.GetFullPath(root);
    }

    /// <summary>The data folder, as a full path.</summary>
    public string Root { get; }

    /// <summary><c>&lt;data&gt;/mnist</c>.</summary>
    public string MnistFolder => Path.Combine(Root, "mnist");

    /// <summary><c>&lt;data&gt;/fashion-mnist</c>.</summary>
    public string FashionMnistFolder => Path.Combine(Root, "fashion-mnist");

    /// <summary><c>&lt;data&gt;/photos</c>: natural photographs, in subfolders by source.</summary>
    public string PhotosFolder => Path.Combine(Root, "photos");

    /// <summary><c>&lt;data&gt;/fonts</c>: TrueType and OpenType fonts.</summary>
    public string FontsFolder => Path.Combine(Root, "fonts");

    /// <summary>
    /// The data folder named by <paramref name="dataOption"/> (the <c>--data</c> option), else by the
    /// <c>JOINTDIFF_DATA</c> environment variable, else <c>./data</c> under the current directory.
    /// </summary>
    /// <param name="dataOption">The <c>--data</c> value, or null / empty when not given.</param>
    /// <returns>The locator.</returns>
    public static DataLocator Resolve(string? dataOption) =>
        Resolve(dataOption, Environment.GetEnvironmentVariable(EnvironmentVariable), Directory.GetCurrentDirectory());

    /// <summary>As <see cref="Resolve(string?)"/>, with the environment value and the current directory given.</summary>
    /// <param name="dataOption">The <c>--data</c> value, or null / empty when not given.</param>
    /// <param name="environmentValue">The value of <c>JOINTDIFF_DATA</c>, or null / empty when unset.</param>
    /// <param name="currentDirectory">The folder that relative paths and the default <c>data</c> folder are taken against.</param>
    /// <returns>The locator.</returns>
    public static DataLocator Resolve(string? dataOption, string? environmentValue, string currentDirectory)
    {
        ArgumentNullException.ThrowIfNull(currentDirectory);
        string chosen = !string.IsNullOrWhiteSpace(dataOption) ? dataOption
            : !string.IsNullOrWhiteSpace(environmentValue) ? environmentValue
            : DefaultFolderName;
        return new DataLocator(Path.GetFullPath(chosen, Path.GetFullPath(currentDirectory)));
    }

    /// <summary>The MNIST image file of <paramref name="split"/>: <c>mnist/{train,t10k}-images-idx3-ubyte</c>, or the same with <c>.gz</c>.</summary>
    /// <param name="split">Train (60 000 images) or test (10 000).</param>
    /// <returns>The file's full path.</returns>
    /// <exception cref="DataNotFoundException">When neither file exists.</exception>
    public string MnistImages(DataSplit split) => IdxImages("MNIST", MnistFolder, split);

    /// <summary>The Fashion-MNIST image file of <paramref name="split"/>: <c>fashion-mnist/{train,t10k}-images-idx3-ubyte</c>, or the same with <c>.gz</c> (as fetched).</summary>
    /// <param name="split">Train (60 000 images) or test (10 000).</param>
    /// <returns>The file's full path.</returns>
    /// <exception cref="DataNotFoundException">When neither file exists.</exception>
    public string FashionMnistImages(DataSplit split) => IdxImages("Fashion-MNIST", FashionMnistFolder, split);

    /// <summary>Every image file under <c>photos/</c>, as <see cref="ImageFolderDataset.FindImageFiles"/> finds and orders them.</summary>
    /// <returns>Full paths; never empty.</returns>
    /// <exception cref="DataNotFoundException">When the folder does not exist or holds no image file.</exception>
    public IReadOnlyList<string> PhotoFiles()
    {
        var files = Directory.Exists(PhotosFolder) ? ImageFolderDataset.FindImageFiles(PhotosFolder) : [];
        return files.Count > 0 ? files : throw new DataNotFoundException("Natural photos", Root, PhotosFolder);
    }

    /// <summary>The <c>.ttf</c> and <c>.otf</c> files (any case) directly in <c>fonts/</c>, sorted by name (ordinal).</summary>
    /// <returns>Full paths; never empty.</returns>
    /// <exception cref="DataNotFoundException">When the folder does not exist or holds no font file.</exception>
    public IReadOnlyList<string> FontFiles()
    {
        string[] files = Directory.Exists(FontsFolder)
            ? [.. Directory.EnumerateFiles(FontsFolder)
                .Where(f => Path.GetExtension(f).ToUpperInvariant() is ".TTF" or ".OTF")
                .Order(StringComparer.Ordinal)]
            : [];
        return files.Length > 0 ? files : throw new DataNotFoundException("Fonts", Root, FontsFolder);
    }

    private string IdxImages(string dataset, string folder, DataSplit split)
    {
        string file = Path.Combine(folder, $"{(split == DataSplit.Train ? "train" : "t10k")}-images-idx3-ubyte");
        return File.Exists(file) ? file
            : File.Exists(file + ".gz") ? file + ".gz"
            : throw new DataNotFoundException(dataset, Root, file);
    }
}
