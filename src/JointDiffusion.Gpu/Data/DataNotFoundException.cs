namespace JointDiffusion.Gpu.Data;

/// <summary>
/// Thrown when a data set is missing from the data folder. The message names the data set and the folder and
/// says how to fetch it, e.g. <c>MNIST not found in /home/me/data: run `jointdiff data fetch --data /home/me/data`
/// (or bash tools/fetch-data.sh /home/me/data)</c>.
/// </summary>
public sealed class DataNotFoundException : FileNotFoundException
{
    /// <summary>Creates the exception for <paramref name="dataset"/> missing from <paramref name="dataRoot"/>.</summary>
    /// <param name="dataset">The data set's name as users know it, e.g. "MNIST".</param>
    /// <param name="dataRoot">The data folder that was searched.</param>
    /// <param name="expectedPath">The file or folder that was looked for.</param>
    public DataNotFoundException(string dataset, string dataRoot, string expectedPath)
        : base(MessageFor(dataset, dataRoot), expectedPath)
    {
        Dataset = dataset;
        DataRoot = dataRoot;
    }

    /// <summary>The data set's name, e.g. "MNIST".</summary>
    public string Dataset { get; }

    /// <summary>The data folder that was searched.</summary>
    public string DataRoot { get; }

    /// <summary>The message for <paramref name="dataset"/> missing from <paramref name="dataRoot"/>.</summary>
    /// <param name="dataset">The data set's name, e.g. "MNIST".</param>
    /// <param name="dataRoot">The data folder.</param>
    /// <returns><c>&lt;dataset&gt; not found in &lt;dir&gt;: run `jointdiff data fetch --data &lt;dir&gt;` (or bash tools/fetch-data.sh &lt;dir&gt;)</c>,
    /// with the folder single-quoted in the two commands when it contains a character the shell would split or expand.</returns>
    public static string MessageFor(string dataset, string dataRoot)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(dataRoot);
        string argument = dataRoot.All(c => char.IsAsciiLetterOrDigit(c) || "/._-+:,@%=".Contains(c))
            ? dataRoot
            : $"'{dataRoot.Replace("'", "'\\''", StringComparison.Ordinal)}'";
        return $"{dataset} not found in {dataRoot}: run `jointdiff data fetch --data {argument}` (or bash tools/fetch-data.sh {argument})";
    }
}
