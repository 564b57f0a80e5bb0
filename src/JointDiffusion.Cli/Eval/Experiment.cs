using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Data;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Sampling.Operators;
using JointDiffusion.Kernels;

namespace JointDiffusion.Cli.Eval;

/// <summary>Which images an experiment draws: the test images of <c>eval</c> or the disjoint validation images of <c>tune</c>.</summary>
internal enum ExperimentSplit
{
    /// <summary>Positions 0, 1, … of the seeded permutation of the test set (and noise seed 1001).</summary>
    Test,

    /// <summary>Positions from the end of the same permutation (and noise seed 2002): never an eval image.</summary>
    Validation,
}

/// <summary>
/// One of the paper's experiments at this project's scale (32x32 grey images, the shipped ngf-16 priors):
/// the signal and noise test images, the measurement y = A x + b n, and the two priors.
/// </summary>
internal sealed class Experiment : IDisposable
{
    /// <summary>The experiment names with a one-line description each.</summary>
    public static readonly IReadOnlyDictionary<string, string> Catalog = new Dictionary<string, string>
    {
        ["mnist-on-fashion"] = "y = 0.5x + 0.5n, x Fashion-MNIST test, n MNIST test digits (paper 6.1)",
        ["ood-signal"] = "as mnist-on-fashion but x are grey 32x32 crops of natural photos the signal prior never saw (paper 6.2)",
        ["ood-noise-letters"] = "as mnist-on-fashion but n are rendered capital letters the MNIST noise prior never saw (paper 6.2)",
        ["ood-noise-translated"] = "as mnist-on-fashion but the digits are shifted by up to ±8 px (paper 6.2)",
        ["cs-sine"] = "compressed sensing y = A x + n, A Gaussian 512x1024 (d/m = 2), n Gaussian with sinusoidal std per element, rms 0.2 (paper 6.3)",
        ["sine-2d"] = "y = x + n, n Gaussian with a std that varies sinusoidally over the rows, rms 0.2 (paper 6.3, A = I)",
        ["rain"] = "y = x + n, n procedural rain streaks, x Fashion-MNIST test (paper 6.4 at toy scale)",
    };

    private const int Side = 32;
    private const string SignalWeights = "fmnist32_ngf16.safetensors", DigitWeights = "mnist32_ngf16.safetensors", RainWeights = "rain32_ngf16.safetensors";

    private Experiment(string name) => Name = name;

    /// <summary>The experiment name.</summary>
    public string Name { get; }

    /// <summary>What it measures, in one line.</summary>
    public string Description => Catalog[Name];

    /// <summary>Number of test images.</summary>
    public int Count { get; private init; }

    /// <summary>Signal shape [C, H, W].</summary>
    public int[] SignalShape { get; } = [1, Side, Side];

    /// <summary>Values per signal image.</summary>
    public int D => Side * Side;

    /// <summary>Values per measurement.</summary>
    public int M { get; private init; }

    /// <summary>Ground-truth signals (Count × D).</summary>
    public required float[] X { get; init; }

    /// <summary>Ground-truth noise (Count × M).</summary>
    public required float[] N { get; init; }

    /// <summary>Observations (Count × M).</summary>
    public required float[] Y { get; init; }

    /// <summary>The scalar gain a of A = a·I, or null for compressed sensing.</summary>
    public float? SignalGain { get; private init; }

    /// <summary>The noise gain b.</summary>
    public float NoiseGain { get; private init; }

    /// <summary>The dense measurement matrix (M × D, row-major) for compressed sensing, else null.</summary>
    public float[]? Matrix { get; private init; }

    /// <summary>σ_y of the single-prior baselines: b times the root-mean-square of the noise (its white stand-in).</summary>
    public float SingleSigmaY { get; private init; }

    /// <summary>The measurement operator.</summary>
    public required IMeasurementOperator Operator { get; init; }

    /// <summary>The signal prior.</summary>
    public required IScoreModel Signal { get; init; }

    /// <summary>The noise prior.</summary>
    public required IScoreModel Noise { get; init; }

    /// <summary>Where each prior came from, for the report.</summary>
    public required string PriorsText { get; init; }

    /// <summary>The signal and noise data, for the report.</summary>
    public required string DataText { get; init; }

    /// <summary>Whether <paramref name="name"/> is an experiment.</summary>
    public static bool Exists(string name) => Catalog.ContainsKey(name);

    /// <summary>
    /// Builds the experiment's <paramref name="count"/> images (seeded, so every run and backend sees the same
    /// ones) and loads its priors.
    /// </summary>
    /// <exception cref="DataNotFoundException">A data set is missing (with the command that fetches it).</exception>
    /// <exception cref="FileNotFoundException">A prior's weights are missing.</exception>
    public static Experiment Open(string name, ExperimentSplit split, int count, ComputeBackend backend, DataLocator data, string weightsDir)
    {
        if (!Exists(name))
        {
            throw new ArgumentException($"Unknown experiment '{name}'; the experiments are {string.Join(", ", Catalog.Keys)}.");
        }

        ulong noiseSeed = split == ExperimentSplit.Test ? 1001UL : 2002UL;
        var options = new DatasetOptions { Size = Side, Channels = 1, Seed = noiseSeed };

        // ---- the signal images
        IImageDataset signalSet = name == "ood-signal"
            ? DatasetCatalog.Open("photos", data, options with { PhotoCrops = 4096 })
            : DatasetCatalog.Open("fashion-mnist-test", data, options);
        var x = Draw(signalSet, count, split, 11);

        // ---- the noise images and the measurement
        int d = Side * Side;
        IImageDataset noiseSet;
        string noisePrior;
        float? a = 0.5f;
        float b = 0.5f;
        switch (name)
        {
            case "mnist-on-fashion" or "ood-signal":
                noiseSet = DatasetCatalog.Open("mnist-test", data, options);
                noisePrior = DigitWeights;
                break;
            case "ood-noise-letters":
                noiseSet = new LetterNoiseGenerator(data.FontsFolder, Side, Side);
                noisePrior = DigitWeights;
                break;
            case "ood-noise-translated":
                noiseSet = new TranslatedDigitNoiseGenerator(DatasetCatalog.Open("mnist-test", data, options), 8, noiseSeed);
                noisePrior = DigitWeights;
                break;
            case "cs-sine":
                noiseSet = SinusoidalNoiseGenerator.PerElement(1, 1, d / 2, noiseSeed).WithRmsStd(0.2);
                noisePrior = "exact";
                (a, b) = (null, 1f);
                break;
            case "sine-2d":
                noiseSet = SinusoidalNoiseGenerator.PerRow(1, Side, Side, noiseSeed).WithRmsStd(0.2);
                noisePrior = "exact";
                (a, b) = (1f, 1f);
                break;
            default: // rain
                noiseSet = new RainNoiseGenerator(1, Side, Side, noiseSeed);
                noisePrior = RainWeights;
                (a, b) = (1f, 1f);
                break;
        }

        var n = Draw(noiseSet, count, split, 12);
        int m = n.Length / count;

        // ---- models (checked for presence before anything is loaded)
        foreach (var file in new[] { SignalWeights, noisePrior }.Where(f => f != "exact"))
        {
            string path = Path.Combine(weightsDir, file);
            if (!File.Exists(path))
            {
                string hint = file == RainWeights
                    ? " Train it with: jointdiff train --data rain --ngf 16 --steps 3000 --batch 32 --seed 3 --out weights/rain32_ngf16.safetensors"
                    : string.Empty;
                throw new FileNotFoundException($"The prior {path} is missing (give the folder with --weights-dir).{hint}");
            }
        }

        IMeasurementOperator op = a is float gain
            ? DiagonalOperator.Scalar(backend, [1, Side, Side], gain)
            : DenseOperator.CompressedSensing(backend, [1, Side, Side], 2, seed: 7);
        IScoreModel? signal = null, noise = null;
        try
        {
            signal = Ncsnv2.Load(backend, Path.Combine(weightsDir, SignalWeights));
            if (noisePrior == "exact")
            {
                var sine = (SinusoidalNoiseGenerator)noiseSet;
                int[] shape = [.. op.MeasurementShape];
                noise = GaussianPrior.Diagonal(backend, shape, new float[m], sine.StdMap());
            }
            else
            {
                noise = Ncsnv2.Load(backend, Path.Combine(weightsDir, noisePrior));
            }

            signal.CheckInput(new([1, 1, Side, Side]));
            var y = new float[count * m];
            float[]? matrix = op is DenseOperator dense ? dense.Matrix.ToArray() : null;
            for (int i = 0; i < count; i++)
            {
                for (int j = 0; j < m; j++)
                {
                    float ax = 0;
                    if (matrix is null)
                    {
                        ax = a!.Value * x[i * d + j];
                    }
                    else
                    {
                        for (int k = 0; k < d; k++)
                        {
                            ax += matrix[j * d + k] * x[i * d + k];
                        }
                    }

                    y[i * m + j] = ax + b * n[i * m + j];
                }
            }

            double rms = Math.Sqrt(n.Average(v => (double)v * v));
            return new Experiment(name)
            {
                Count = count,
                M = m,
                X = x,
                N = n,
                Y = y,
                SignalGain = a,
                NoiseGain = b,
                Matrix = matrix,
                SingleSigmaY = (float)(b * rms),
                Operator = op,
                Signal = signal,
                Noise = noise,
                PriorsText = $"signal prior {SignalWeights}; noise prior {(noisePrior == "exact" ? "the exact diagonal Gaussian of the sinusoidal noise" : noisePrior)}",
                DataText = $"signal: {signalSet.Description}; noise: {noiseSet.Description}",
            };
        }
        catch
        {
            signal?.Dispose();
            noise?.Dispose();
            op.Dispose();
            throw;
        }
    }

    /// <summary>What the observation looks like as a picture: clip(y / a), or clip(Aᵀ y) for compressed sensing.</summary>
    public float[] ObservationImage(int index)
    {
        var image = new float[D];
        if (Matrix is null)
        {
            for (int p = 0; p < D; p++)
            {
                image[p] = Math.Clamp(Y[index * M + p] / SignalGain!.Value, 0f, 1f);
            }

            return image;
        }

        for (int j = 0; j < M; j++)
        {
            float yj = Y[index * M + j];
            for (int p = 0; p < D; p++)
            {
                image[p] += Matrix[j * D + p] * yj;
            }
        }

        for (int p = 0; p < D; p++)
        {
            image[p] = Math.Clamp(image[p], 0f, 1f);
        }

        return image;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Signal.Dispose();
        Noise.Dispose();
        Operator.Dispose();
    }

    /// <summary>
    /// The images at positions 0…count−1 (test) or Count−count…Count−1 (validation) of a seeded permutation of the
    /// data set, so test and validation images never overlap.
    /// </summary>
    private static float[] Draw(IImageDataset set, int count, ExperimentSplit split, ulong stream)
    {
        int total = set.Count == int.MaxValue ? 1 << 16 : set.Count;
        if (count > total / 2)
        {
            throw new ArgumentException($"{set.Description} has {total} images; at most {total / 2} can be drawn for one split.");
        }

        var keys = new float[total];
        var order = new int[total];
        for (int i = 0; i < total; i++)
        {
            keys[i] = Philox.Uniform(0x5EED_0000UL + stream, (ulong)i);
            order[i] = i;
        }

        Array.Sort(keys, order);
        int per = set.Channels * set.Height * set.Width;
        var values = new float[count * per];
        for (int i = 0; i < count; i++)
        {
            int position = split == ExperimentSplit.Test ? i : total - 1 - i;
            set.CopyTo(order[position], values.AsSpan(i * per, per));
        }

        return values;
    }
}
