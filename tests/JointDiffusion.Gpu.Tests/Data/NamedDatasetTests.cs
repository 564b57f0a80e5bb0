using JointDiffusion.Gpu.Data;

namespace JointDiffusion.Gpu.Tests.Data;

/// <summary>DatasetCatalog: the trainer's <c>--data</c> names opened on a temporary data folder of synthetic files.</summary>
public sealed class NamedDatasetTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("catalog-tests-");

    public NamedDatasetTests()
    {
        Data = new DataLocator(_directory.FullName);
    }

    public void Dispose() => _directory.Delete(recursive: true);

    private DataLocator Data { get; }

    private void WriteMnist(string folder, string file, int count, bool gzip)
    {
        byte[] bytes = IdxDatasetTests.Idx(count, 28, 28, IdxDatasetTests.PatternPixels(count, 28, 28));
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, file), gzip ? IdxDatasetTests.Gzip(bytes) : bytes);
    }

    [Theory]
    [InlineData("mnist", "MNIST train (5, 28x28 padded to 32x32)", 5)]
    [InlineData("MNIST-test", "MNIST test (3, 28x28 padded to 32x32)", 3)]
    [InlineData("fashion-mnist", "Fashion-MNIST train (4, 28x28 padded to 32x32)", 4)]
    [InlineData("fashion-mnist-test", "Fashion-MNIST test (2, 28x28 padded to 32x32)", 2)]
    public void IdxNames_OpenTheFetchedFiles_PaddedToTheSize(string name, string description, int count)
    {
        WriteMnist(Data.MnistFolder, "train-images-idx3-ubyte", 5, gzip: false);
        WriteMnist(Data.MnistFolder, "t10k-images-idx3-ubyte", 3, gzip: false);
        WriteMnist(Data.FashionMnistFolder, "train-images-idx3-ubyte.gz", 4, gzip: true);
        WriteMnist(Data.FashionMnistFolder, "t10k-images-idx3-ubyte.gz", 2, gzip: true);

        var dataset = DatasetCatalog.Open(name, Data, new DatasetOptions { Size = 32 });

        Assert.Equal(description, dataset.Description);
        Assert.Equal((count, 1, 32, 32), (dataset.Count, dataset.Channels, dataset.Height, dataset.Width));
    }

    [Fact]
    public void Mnist_InRgbAt28_IsUnpaddedAndReplicated()
    {
        WriteMnist(Data.MnistFolder, "train-images-idx3-ubyte", 2, gzip: false);

        var dataset = DatasetCatalog.Open("mnist", Data, new DatasetOptions { Size = 28, Channels = 3 });

        Assert.Equal("MNIST train (2, 28x28, grey replicated to RGB)", dataset.Description);
    }

    [Fact]
    public void Mnist_BelowItsSize_IsRefused()
    {
        WriteMnist(Data.MnistFolder, "train-images-idx3-ubyte", 2, gzip: false);

        var e = Assert.Throws<ArgumentException>(() => DatasetCatalog.Open("mnist", Data, new DatasetOptions { Size = 16 }));

        Assert.Contains("at least 28", e.Message);
    }

    [Fact]
    public void MissingMnist_GivesTheFetchAdvice()
    {
        var e = Assert.Throws<DataNotFoundException>(() => DatasetCatalog.Open("mnist", Data, new DatasetOptions { Size = 32 }));

        Assert.StartsWith($"MNIST not found in {Data.Root}: run `jointdiff data fetch --data {Data.Root}`", e.Message);
    }

    [Fact]
    public void Photos_AreRandomCropsOfThePhotosFolder()
    {
        ImageFolderDatasetTests.WritePng(Path.Combine(Data.PhotosFolder, "skimage", "a.png"), 3, 50, 70, (c, y, x) => (c + y + x) % 7 / 7f);

        var dataset = DatasetCatalog.Open("photos", Data, new DatasetOptions { Size = 16, Channels = 3, Seed = 5, PhotoCrops = 100 });

        var crops = Assert.IsType<RandomCropDataset>(dataset);
        Assert.Equal((100, 3, 16, 16), (crops.Count, crops.Channels, crops.Height, crops.Width));
        Assert.Equal("natural photos (100 random 16x16 RGB crops of 1 images, scale 1-4, seed 5)", crops.Description);

        var empty = new DataLocator(Path.Combine(_directory.FullName, "empty"));
        var e = Assert.Throws<DataNotFoundException>(() => DatasetCatalog.Open("photos", empty, new DatasetOptions { Size = 16 }));
        Assert.StartsWith($"Natural photos not found in {empty.Root}: ", e.Message);
    }

    [Fact]
    public void FolderName_OpensThatFolder()
    {
        string folder = Path.Combine(_directory.FullName, "mine");
        ImageFolderDatasetTests.WritePng(Path.Combine(folder, "x.png"), 1, 10, 10, (_, _, _) => 1f);

        var dataset = DatasetCatalog.Open($"folder:{folder}", Data, new DatasetOptions { Size = 8 });

        Assert.IsType<ImageFolderDataset>(dataset);
        Assert.Equal((1, 1, 8, 8), (dataset.Count, dataset.Channels, dataset.Height, dataset.Width));
        Assert.Throws<ArgumentException>(() => DatasetCatalog.Open("folder:", Data, new DatasetOptions { Size = 8 }));
    }

    [Theory]
    [InlineData("letters")]
    [InlineData("sine")]
    [InlineData("cifar10")]
    public void NamesOutsideTheCatalog_AreNotDatasets_SoGeneratorsCanBeTriedNext(string name)
    {
        Assert.False(DatasetCatalog.IsDatasetName(name));
        Assert.False(DatasetCatalog.TryOpen(name, Data, new DatasetOptions { Size = 32 }, out var dataset));
        Assert.Null(dataset);
        var e = Assert.Throws<ArgumentException>(() => DatasetCatalog.Open(name, Data, new DatasetOptions { Size = 32 }));
        Assert.Contains($"'{name}' is not a data set; the data sets are mnist, mnist-test, fashion-mnist, fashion-mnist-test, photos, folder:PATH.", e.Message);
    }
}
