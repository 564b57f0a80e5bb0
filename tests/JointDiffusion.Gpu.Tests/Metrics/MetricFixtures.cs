using System.Text.Json;
using JointDiffusion.Gpu.IO;

namespace JointDiffusion.Gpu.Tests.Metrics;

/// <summary>
/// The images and scikit-image / NumPy reference values written by <c>tools/make_metric_fixtures.py</c>
/// (Fixtures/metrics/: <c>metric_images.safetensors</c> and <c>metric_expected.json</c>).
/// </summary>
internal static class MetricFixtures
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "Fixtures", "metrics");
    private static readonly Lazy<SafetensorsFile> Images =
        new(() => SafetensorsReader.Read(Path.Combine(Folder, "metric_images.safetensors")));

    private static readonly Lazy<JsonElement> Expected = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "metric_expected.json"))).RootElement.Clone());

    public static IEnumerable<string> PairNames => Names("pairs");

    public static IEnumerable<string> GcnrNames => Names("gcnr");

    public static string ScikitImageVersion => Expected.Value.GetProperty("versions").GetProperty("scikit-image").GetString()!;

    public static (PlanarImage Estimate, PlanarImage Truth, double DataRange, double Psnr, double Ssim) Pair(string name)
    {
        JsonElement e = Entry("pairs", name);
        int c = e.GetProperty("channels").GetInt32(), h = e.GetProperty("height").GetInt32(), w = e.GetProperty("width").GetInt32();
        return (
            new PlanarImage(Tensor($"{name}/estimate", c, h, w), c, h, w),
            new PlanarImage(Tensor($"{name}/truth", c, h, w), c, h, w),
            e.GetProperty("data_range").GetDouble(),
            e.GetProperty("psnr").GetDouble(),
            e.GetProperty("ssim").GetDouble());
    }

    public static (float[] Image, bool[] RegionA, bool[] RegionB, int Bins, double Gcnr) GcnrCase(string name)
    {
        JsonElement e = Entry("gcnr", name);
        int h = e.GetProperty("height").GetInt32(), w = e.GetProperty("width").GetInt32();
        bool[] a = [.. Tensor($"{name}/region_a", h, w).Select(v => v != 0f)];
        bool[] b = [.. Tensor($"{name}/region_b", h, w).Select(v => v != 0f)];
        // Guard against a misread mask: the script records the region sizes.
        Assert.Equal(e.GetProperty("pixels_a").GetInt32(), a.Count(m => m));
        Assert.Equal(e.GetProperty("pixels_b").GetInt32(), b.Count(m => m));
        return (Tensor($"{name}/image", h, w), a, b, e.GetProperty("bins").GetInt32(), e.GetProperty("gcnr").GetDouble());
    }

    private static IEnumerable<string> Names(string section) =>
        Expected.Value.GetProperty(section).EnumerateArray().Select(e => e.GetProperty("name").GetString()!);

    private static JsonElement Entry(string section, string name) =>
        Expected.Value.GetProperty(section).EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);

    private static float[] Tensor(string name, params int[] shape)
    {
        SafetensorsTensor t = Images.Value.GetTensor(name);
        Assert.Equal(shape, t.Shape);
        return t.Data;
    }
}
