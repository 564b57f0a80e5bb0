using JointDiffusion.Gpu.Backends.Simd;
using JointDiffusion.Gpu.Data;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Training;

namespace JointDiffusion.Gpu.Tests.Training;

/// <summary>The trainer on a tiny configuration (ngf 4, 8×8 images): learning, exact resume, and its files.</summary>
public sealed class DsmTrainerTests : IDisposable
{
    private readonly SimdBackend _backend = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("jointdiff-train-").FullName;

    public void Dispose()
    {
        _backend.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>64 images of one bright square on black at a varying place: a distribution with clear structure.</summary>
    private sealed class Squares : IImageDataset
    {
        public int Count => 64;

        public int Channels => 1;

        public int Height => 8;

        public int Width => 8;

        public string Description => "test squares";

        public void CopyTo(int index, Span<float> destination)
        {
            destination.Clear();
            int r = index % 5, c = index / 5 % 5;
            for (int i = 0; i < 3; i++)
            {
                for (int j = 0; j < 3; j++)
                {
                    destination[(r + i) * 8 + c + j] = 1f;
                }
            }
        }
    }

    private static readonly TrainerOptions Options = new() { Batch = 8, LearningRate = 2e-3f, Seed = 5 };

    [Fact]
    public void Loss_FallsOverAFewHundredSteps()
    {
        using var net = Ncsnv2.CreateRandom(_backend, 4, 1, seed: 1);
        using var trainer = new DsmTrainer(net, new Squares(), Options);
        var losses = Enumerable.Range(0, 300).Select(_ => trainer.TrainStep()).ToArray();
        double first = losses.Take(50).Average(), last = losses.TakeLast(50).Average();
        // The loss of a zero score is ½·E‖z‖² = 32 per image; an untrained net starts near or above it. A model
        // that learned the data's structure gets well below: require a fall of at least a third.
        Assert.True(last < first * 2 / 3, $"loss {first:F2} over the first 50 steps, {last:F2} over the last 50");
    }

    /// <summary>
    /// Clipping: without it the gradients' global norm (summed here in double) is the reported norm; with a bound
    /// below the norm they are scaled to exactly that norm. Float sums of ~150 squared norms: 1e-5 relative.
    /// </summary>
    [Fact]
    public void GradientClipping_ReportsTheNormAndScalesToTheBound()
    {
        double GlobalNorm(DsmTrainer t) => Math.Sqrt(t.Gradients.Values.Sum(g => g.ToArray().Sum(v => (double)v * v)));

        using var net = Ncsnv2.CreateRandom(_backend, 4, 1, seed: 1);
        using (var free = new DsmTrainer(net, new Squares(), Options with { GradientClip = 0f }))
        {
            free.TrainStep();
            Assert.Equal(GlobalNorm(free), free.LastGradientNorm, 1e-5 * free.LastGradientNorm);
        }

        using var clipped = new DsmTrainer(net, new Squares(), Options with { GradientClip = 1e-3f });
        clipped.TrainStep();
        Assert.True(clipped.LastGradientNorm > 1e-2f, $"norm {clipped.LastGradientNorm} should be far above the bound");
        Assert.Equal(1e-3, GlobalNorm(clipped), 1e-8);
    }

    [Fact]
    public void ResumedRun_ReproducesTheUninterruptedOneExactly()
    {
        float[] Weights(DsmTrainer t) => [.. t.Network.Parameters.Parameters.SelectMany(p => p.Value.ToArray())];
        string ckpt = Path.Combine(_dir, "run.ckpt.safetensors");
        string weights = Path.Combine(_dir, "run.safetensors");
        string log = Path.Combine(_dir, "run.log.csv");
        var card = new Dictionary<string, string>();

        float[] straight, straightEma;
        using (var net = Ncsnv2.CreateRandom(_backend, 4, 1, seed: 2))
        using (var trainer = new DsmTrainer(net, new Squares(), Options))
        {
            for (int i = 0; i < 20; i++)
            {
                trainer.TrainStep();
            }

            straight = Weights(trainer);
            trainer.SaveEmaWeights(weights, card);
            straightEma = [.. SafetensorsReader.Read(weights).Tensors.OrderBy(t => t.Name, StringComparer.Ordinal).SelectMany(t => t.Data)];
        }

        using (var net = Ncsnv2.CreateRandom(_backend, 4, 1, seed: 2))
        using (var trainer = new DsmTrainer(net, new Squares(), Options))
        {
            trainer.Run(12, ckpt, weights, log, checkpointEvery: 5, card);
        }

        var resumed = DsmTrainer.Resume(_backend, ckpt, new Squares(), Options);
        using var _ = resumed.Network;
        using (resumed)
        {
            Assert.Equal(12, resumed.Step);
            resumed.Run(20, ckpt, weights, log, checkpointEvery: 5, card);
            Assert.Equal(straight, Weights(resumed));
        }

        var ema = SafetensorsReader.Read(weights).Tensors.OrderBy(t => t.Name, StringComparer.Ordinal).SelectMany(t => t.Data).ToArray();
        Assert.Equal(straightEma, ema);
        var lines = File.ReadAllLines(log);
        Assert.Equal("step,loss,grad_norm,elapsed_s", lines[0]);
        Assert.Equal(Enumerable.Range(1, 20).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), lines.Skip(1).Select(l => l.Split(',')[0]));
    }

    [Fact]
    public void Resume_RefusesAChangedBatchOrSeed()
    {
        string ckpt = Path.Combine(_dir, "c.safetensors");
        using (var net = Ncsnv2.CreateRandom(_backend, 4, 1, seed: 2))
        using (var trainer = new DsmTrainer(net, new Squares(), Options))
        {
            trainer.TrainStep();
            trainer.SaveCheckpoint(ckpt);
        }

        var e = Assert.Throws<InvalidDataException>(() => DsmTrainer.Resume(_backend, ckpt, new Squares(), Options with { Batch = 4 }));
        Assert.Contains("batch 8, not 4", e.Message);
        e = Assert.Throws<InvalidDataException>(() => DsmTrainer.Resume(_backend, ckpt, new Squares(), Options with { Seed = 9 }));
        Assert.Contains("seed 5, not 9", e.Message);
    }
}
