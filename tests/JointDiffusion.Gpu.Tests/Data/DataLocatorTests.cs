using JointDiffusion.Gpu.Data;

namespace JointDiffusion.Gpu.Tests.Data;

/// <summary>The data folder: where it is, the fetched layout, and the messages when something is missing.</summary>
public sealed class DataLocatorTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("locator-tests-");

    public void Dispose() => _directory.Delete(recursive: true);

    private string Root => _directory.FullName;

    private static string Advice(string dataset, string root) =>
        $"{dataset} not found in {root}: run `jointdiff data fetch --data {root}` (or bash tools/fetch-data.sh {root})";

    [Fact]
    public void Resolve_PrefersTheOption_ThenTheEnvironment_ThenDataUnderTheCurrentDirectory()
    {
        string cwd = Path.Combine(Root, "work");

        Assert.Equal(Path.Combine(Root, "opt"), DataLocator.Resolve("../opt", "/env/data", cwd).Root);
        Assert.Equal("/env/data", DataLocator.Resolve(null, "/env/data", cwd).Root);
        Assert.Equal(Path.Combine(cwd, "rel"), DataLocator.Resolve("", "rel", cwd).Root);
        Assert.Equal(Path.Combine(cwd, "data"), DataLocator.Resolve(null, null, cwd).Root);
        Assert.Equal(Path.Combine(cwd, "data"), DataLocator.Resolve(" ", "", cwd).Root);
    }

    [Fact]
    public void MissingMnist_SaysHowToFetchIt_WithTheExactMessage()
    {
        var data = new DataLocator(Root);

        var e = Assert.Throws<DataNotFoundException>(() => data.MnistImages(DataSplit.Train));

        Assert.Equal(Advice("MNIST", Root), e.Message);
        Assert.Equal(Path.Combine(Root, "mnist", "train-images-idx3-ubyte"), e.FileName);
        Assert.Equal(("MNIST", Root), (e.Dataset, e.DataRoot));
    }

    [Fact]
    public void EveryMissingPart_NamesItselfAndTheFolder()
    {
        var data = new DataLocator(Root);

        Assert.Equal(Advice("MNIST", Root), Assert.Throws<DataNotFoundException>(() => data.MnistImages(DataSplit.Test)).Message);
        Assert.Equal(Advice("Fashion-MNIST", Root), Assert.Throws<DataNotFoundException>(() => data.FashionMnistImages(DataSplit.Train)).Message);
        Assert.Equal(Advice("Natural photos", Root), Assert.Throws<DataNotFoundException>(() => data.PhotoFiles()).Message);
        Assert.Equal(Advice("Fonts", Root), Assert.Throws<DataNotFoundException>(() => data.FontFiles()).Message);

        // An empty folder is as missing as an absent one.
        Directory.CreateDirectory(data.PhotosFolder);
        Directory.CreateDirectory(data.FontsFolder);
        File.WriteAllText(Path.Combine(data.FontsFolder, "README"), "fonts go here");
        Assert.Throws<DataNotFoundException>(() => data.PhotoFiles());
        Assert.Throws<DataNotFoundException>(() => data.FontFiles());
    }

    [Fact]
    public void AFolderWithSpaces_IsQuotedInTheCommands()
    {
        Assert.Equal(
            "MNIST not found in /my data/it's: run `jointdiff data fetch --data '/my data/it'\\''s'` (or bash tools/fetch-data.sh '/my data/it'\\''s')",
            DataNotFoundException.MessageFor("MNIST", "/my data/it's"));
    }

    [Fact]
    public void TheFetchedLayout_IsFound_RawOrGzipped()
    {
        var data = new DataLocator(Root);
        Directory.CreateDirectory(data.MnistFolder);
        Directory.CreateDirectory(data.FashionMnistFolder);
        File.WriteAllBytes(Path.Combine(data.MnistFolder, "train-images-idx3-ubyte"), []);
        File.WriteAllBytes(Path.Combine(data.MnistFolder, "t10k-images-idx3-ubyte.gz"), []);
        File.WriteAllBytes(Path.Combine(data.FashionMnistFolder, "train-images-idx3-ubyte.gz"), []);

        Assert.Equal(Path.Combine(Root, "mnist", "train-images-idx3-ubyte"), data.MnistImages(DataSplit.Train));
        Assert.Equal(Path.Combine(Root, "mnist", "t10k-images-idx3-ubyte.gz"), data.MnistImages(DataSplit.Test));
        Assert.Equal(Path.Combine(Root, "fashion-mnist", "train-images-idx3-ubyte.gz"), data.FashionMnistImages(DataSplit.Train));
        Assert.Throws<DataNotFoundException>(() => data.FashionMnistImages(DataSplit.Test));
    }

    [Fact]
    public void Photos_AreEveryImageUnderPhotos_AndFonts_TheTrueTypeAndOpenTypeFiles()
    {
        var data = new DataLocator(Root);
        ImageFolderDatasetTests.WritePng(Path.Combine(data.PhotosFolder, "skimage", "b.png"), 1, 4, 4, (_, _, _) => 0f);
        ImageFolderDatasetTests.WritePng(Path.Combine(data.PhotosFolder, "opencv", "a.png"), 1, 4, 4, (_, _, _) => 0f);
        Directory.CreateDirectory(data.FontsFolder);
        foreach (string name in new[] { "Z.otf", "a.TTF", "b.ttf", "c.pfb", "d.afm" })
        {
            File.WriteAllBytes(Path.Combine(data.FontsFolder, name), []);
        }

        Assert.Equal([Path.Combine(data.PhotosFolder, "opencv", "a.png"), Path.Combine(data.PhotosFolder, "skimage", "b.png")], data.PhotoFiles());
        Assert.Equal(new[] { "Z.otf", "a.TTF", "b.ttf" }.Select(n => Path.Combine(data.FontsFolder, n)), data.FontFiles());
    }
}
